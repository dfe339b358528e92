// Data parallelism (data-parallel.ts) through train(): 2 ranks give the losses and gradient
// norms of 1 rank (MoD, dense, an odd batch, a custom router plugin), no worker thread
// outlives train() whether it resolves or throws, and a failing worker is a clear error with
// no checkpoint written after it. The worker script is the built one: `pnpm build` first.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { useBackend } from "@mixdepth/vitest-config/tf";
import { loadConfig } from "./config.js";
import { liveWorkers, loadPlugins, resolveRanks, splitRows, type WorkersSetting } from "@mixdepth/train/node";
import { NonFiniteError, train, type TrainFaults } from "./train.js";

const text = Array.from({ length: 2000 }, (_, i) => `sentence number ${i} of the data-parallel test.`).join("\n");

interface Run {
  loss: number[];
  aux: number[];
  gradNorm: number[];
  log: string;
  runDir: string;
  error: Error | null;
}

async function run(opts: { workers: WorkersSetting; batchSize?: number; gradAccum?: number; routing?: Record<string, unknown>; plugins?: string[]; faults?: TrainFaults; steps?: number; stopAfter?: number }): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), "mixdepth-dp-"));
  writeFileSync(join(dir, "t.txt"), text);
  const valid = loadConfig({
    overrides: [
      {
        model: { vocabSize: 256, dModel: 16, nHeads: 2, nLayers: 2, contextLength: 16, ...(opts.routing ? { routing: opts.routing } : {}) },
        training: { steps: opts.steps ?? 3, batchSize: opts.batchSize ?? 4, seqLen: 16, warmupSteps: 1, evalEvery: 0, evalBatches: 1, checkpointEvery: 1, workers: opts.workers, gradAccum: opts.gradAccum ?? 1 },
        data: { source: join(dir, "t.txt"), cacheDir: join(dir, "cache") },
        ...(opts.plugins ? { plugins: opts.plugins } : {}),
      },
    ],
  });
  const runDir = join(dir, "run");
  let log = "";
  const tensors = tf.memory().numTensors;
  const stop = { requested: false };
  const onStep = (step: number) => void (stop.requested ||= step === opts.stopAfter);
  const error = await train({ valid, runDir, resume: false, backendLine: "backend: test", out: { write: (s: string) => ((log += s), true) }, report: false, stop, onStep, ...(opts.faults ? { faults: opts.faults } : {}) }).then(
    () => null,
    (e: unknown) => e as Error,
  );
  // Whatever happened: no worker left, no tensor left.
  expect(liveWorkers()).toBe(0);
  expect(tf.memory().numTensors).toBe(tensors);
  if (error && !opts.faults) throw error;
  const recs = readFileSync(join(runDir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { type: string; loss: number; aux: number; gradNorm: number });
  const train_ = recs.filter((r) => r.type === "train");
  return { loss: train_.map((r) => r.loss), aux: train_.map((r) => r.aux), gradNorm: train_.map((r) => r.gradNorm), log, runDir, error };
}

/** Same numbers within `tol` relative, and not vacuously: three steps of them. */
function expectClose(a: number[], b: number[], tol = 1e-5) {
  expect(a).toHaveLength(3);
  expect(b).toHaveLength(3);
  a.forEach((x, i) => expect(Math.abs(x - (b[i] as number)) / Math.max(Math.abs(x), 1e-12)).toBeLessThan(tol));
}

const MOD = { blocks: "every-other", capacity: 0.25 };

// A router kind only a plugin knows: routes the k positions with the largest
// (t + 5 * calls) mod S, its state the number of calls, scores 1 + 0.1 * mean(x) so that
// gradients flow through it. A worker without the plugin could not build the model.
const ROTATING_PLUGIN = `
import * as tf from "@tensorflow/tfjs-core";
import { topkPositions } from "@mixdepth/router";
class Rotating {
  kind = "rotating";
  calls = 0;
  scoresOf(x, b, s) {
    return tf.tidy(() => tf.add(1, tf.mul(0.1, tf.mean(x, 2))));
  }
  order(b, s) {
    const h = new Float32Array(b * s);
    for (let r = 0; r < b; r++) for (let t = 0; t < s; t++) h[r * s + t] = (t + 5 * this.calls) % s;
    return h;
  }
  route(x, k) {
    const [b, s] = x.shape;
    const positions = topkPositions(this.order(b, s), b, s, k);
    this.calls += 1;
    const scores = this.scoresOf(x, b, s);
    return { scores, hostScores: scores.dataSync().slice(), positions, auxLosses: {} };
  }
  routeCausal(x) {
    const [b, s] = x.shape;
    const scores = this.scoresOf(x, b, s);
    return { scores, hostScores: scores.dataSync().slice(), selected: new Uint8Array(b * s).fill(1), probability: new Float32Array(b * s).fill(1) };
  }
  weights() { return new Map(); }
  toJSON() { return { kind: this.kind, options: {} }; }
  getState() { return { calls: this.calls }; }
  setState(st) { this.calls = st.calls; }
  dispose() {}
}
export function register(registry) {
  registry.registerRouter("rotating", () => new Rotating(), { cost: () => ({ params: 0, flopsPerToken: 0 }) });
}
`;

describe("ranks", () => {
  it("auto is the cores (at most 4), any setting at most batchSize, 1 on the native backend", () => {
    expect(resolveRanks(3, { batchSize: 8, backend: "wasm" }).ranks).toBe(3);
    expect(resolveRanks(3, { batchSize: 2, backend: "cpu" })).toEqual({ ranks: 2, why: "training.workers 3, capped at training.batchSize 2" });
    expect(resolveRanks(4, { batchSize: 8, backend: "tensorflow" }).ranks).toBe(1);
    expect(resolveRanks("auto", { batchSize: 64, backend: "wasm" }).ranks).toBeLessThanOrEqual(4);
    expect(resolveRanks("auto", { batchSize: 1, backend: "wasm" }).ranks).toBe(1);
  });

  it("splits rows in contiguous blocks, the first ones larger", () => {
    expect(splitRows(8, 2)).toEqual([4, 4]);
    expect(splitRows(3, 2)).toEqual([2, 1]);
    expect(splitRows(7, 3)).toEqual([3, 2, 2]);
  });
});

describe("2 ranks equal 1 rank (cpu)", () => {
  it("MoD: loss, aux and gradient norm of the first 3 steps within 1e-5, the same bits twice; the log says how many ranks ran", async () => {
    const one = await run({ workers: 1, routing: MOD });
    const two = await run({ workers: 2, routing: MOD });
    const again = await run({ workers: 2, routing: MOD });
    // Combined in rank order: the same bits from run to run.
    expect(again.loss).toEqual(two.loss);
    expect(again.gradNorm).toEqual(two.gradNorm);
    expect(one.log).toContain("ranks: 1 (training.workers 1; this thread only)");
    expect(two.log).toContain("ranks: 2 (training.workers 2; data parallel: 2 + 2 rows per micro-batch, this thread and 1 worker thread)");
    expectClose(two.loss, one.loss);
    expectClose(two.aux, one.aux);
    expectClose(two.gradNorm, one.gradNorm);
    // Not vacuous: the model trains, and the losses are not all the same number.
    expect(one.loss[2]).toBeLessThan(one.loss[0] as number);
    expect(one.aux[0]).toBeGreaterThan(0);
  }, 60_000);

  it("dense, and an odd batch (3 rows: 2 + 1)", async () => {
    const one = await run({ workers: 1, batchSize: 3 });
    const two = await run({ workers: 2, batchSize: 3 });
    expect(two.log).toContain("2 + 1 rows per micro-batch");
    expectClose(two.loss, one.loss);
    expectClose(two.gradNorm, one.gradNorm);
  }, 60_000);

  it("gradient accumulation: the weights go to the workers once per step, not once per micro-batch; still equal to 1 rank", async () => {
    const one = await run({ workers: 1, gradAccum: 2, routing: { blocks: [1], capacity: 0.5 } });
    const two = await run({ workers: 2, gradAccum: 2, routing: { blocks: [1], capacity: 0.5 } });
    expectClose(two.loss, one.loss);
    expectClose(two.gradNorm, one.gradNorm);
    // 3 steps x 2 micro-batches: the second micro-batch of a step reuses the replica's weights.
    expect(two.log).toContain("(3 copies in 6 micro-batches)");
  }, 60_000);

  it("a custom router plugin (with router state) is loaded in the workers too", async () => {
    // Written under this package's node_modules so that its imports resolve from here.
    const pluginDir = mkdtempSync(join(fileURLToPath(new URL("../node_modules/", import.meta.url)), ".dp-plugin-"));
    const plugin = join(pluginDir, "rotating-router.mjs");
    writeFileSync(plugin, ROTATING_PLUGIN);
    try {
      await loadPlugins([plugin]);
      const routing = { ...MOD, router: "rotating", auxLoss: null, predictor: null };
      const one = await run({ workers: 1, routing, plugins: [plugin] });
      const two = await run({ workers: 2, routing, plugins: [plugin] });
      expect(two.log).toContain("ranks: 2");
      expectClose(two.loss, one.loss);
      expectClose(two.gradNorm, one.gradNorm);
    } finally {
      rmSync(pluginDir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("2 ranks equal 1 rank (wasm: the workers load the backend rank 0 runs on)", () => {
  afterAll(() => useBackend("cpu"));
  it("MoD: loss and gradient norm of the first 3 steps within 1e-5", async () => {
    await useBackend("wasm");
    const one = await run({ workers: 1, routing: MOD });
    const two = await run({ workers: 2, routing: MOD });
    expectClose(two.loss, one.loss);
    expectClose(two.gradNorm, one.gradNorm);
  }, 60_000);
});

describe("failures", () => {
  it("a worker that throws stops the run with a clear error; workers terminated, no checkpoint after it", async () => {
    const r = await run({ workers: 2, routing: MOD, faults: { workerThrowAtCall: 2 } });
    expect(r.error?.message).toBe("data parallel: rank 1 (worker thread) failed: step: injected fault at call 2 (--workers 1 trains without worker threads)");
    // run() checked that no worker and no tensor is left; step 1 was checkpointed, step 2 not.
    expect(r.loss).toHaveLength(1);
    expect(readdirSync(join(r.runDir, "checkpoints")).filter((f) => f.startsWith("step-"))).toEqual(["step-000001"]);
    expect(JSON.parse(readFileSync(join(r.runDir, "checkpoints", "latest.json"), "utf8"))).toEqual({ checkpoint: "step-000001", step: 1 });
    expect(existsSync(join(r.runDir, ".lock"))).toBe(false);
  }, 60_000);

  it("a non-finite stop and a stop request (Ctrl-C) also end with every worker gone", async () => {
    const nan = await run({ workers: 2, faults: { nanLossAtStep: 2 } });
    expect(nan.error).toBeInstanceOf(NonFiniteError);
    const stopped = await run({ workers: 2, steps: 6, stopAfter: 2 });
    expect(stopped.log).toContain("interrupted: stopping after step 2");
    expect(stopped.loss).toHaveLength(2);
    // (run() asserted liveWorkers() === 0 and no tensor left after each.)
  }, 60_000);
});
