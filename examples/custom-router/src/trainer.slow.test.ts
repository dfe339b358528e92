// The l2-norm router in the mixdepth trainer through --plugin (build first: `pnpm build`):
// train a tiny model, evaluate and sample the run, and check that the FLOPs the run counts
// come from the router's declared cost, that the causal threshold was calibrated and saved,
// and that --resume finds the plugin in run.json.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { resolveModelConfig, type ModelConfig } from "@mixdepth/core";
import { flopsPerStep, linearRouterCost, paramCounts } from "@mixdepth/flops-accounting";
import { l2NormRouterCost } from "./index.js";

const pkg = fileURLToPath(new URL("..", import.meta.url));
const cli = fileURLToPath(new URL("../../../apps/trainer/dist/cli.js", import.meta.url));

async function mixdepth(args: string[]) {
  try {
    const r = await promisify(execFile)("node", [cli, ...args], { cwd: pkg, env: { ...process.env, MIXDEPTH_BACKEND: "" }, maxBuffer: 1 << 24 });
    return { code: 0, ...r };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const model: ModelConfig = {
  vocabSize: 256, dModel: 16, nHeads: 2, nLayers: 2, contextLength: 16,
  routing: { blocks: "every-other", capacity: 0.25, router: "l2-norm", routerOptions: { momentum: 0.8 }, auxLoss: null, predictor: null },
};

describe("mixdepth train --plugin (l2-norm router)", () => {
  it("trains, evaluates and samples; FLOPs counted from the declared cost", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-plugin-"));
    writeFileSync(join(dir, "text.txt"), Array.from({ length: 2000 }, (_, i) => `The quick brown fox ${i} jumps over the lazy dog.`).join("\n"));
    writeFileSync(
      join(dir, "tiny.json"),
      JSON.stringify({
        model,
        training: { steps: 12, batchSize: 2, seqLen: 16, warmupSteps: 2, evalEvery: 6, evalBatches: 1, checkpointEvery: 6 },
        data: { source: join(dir, "text.txt"), cacheDir: join(dir, "cache") },
      }),
    );
    const run = join(dir, "run");
    const base = ["--config", join(dir, "tiny.json"), "--backend", "cpu", "--out", run];

    // Without the plugin the kind is unknown: exit 2 before any work.
    const missing = await mixdepth(["train", ...base]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/model\.routing\.router: unknown router kind; registered: learned, stochastic \(got "l2-norm"\)/);

    const trained = await mixdepth(["train", ...base, "--plugin", "./dist/index.js"]);
    expect(trained.code, trained.stderr).toBe(0);
    expect(trained.stdout).toMatch(/l2-norm router/);
    expect(trained.stdout).toMatch(/done: 12 steps/);

    // The run counts the declared cost: 2d FLOPs per token (x^2 @ 1) and 1 parameter per
    // router. Its FLOPs happen to equal the default linear router's (also one [d, 1] matmul per
    // token); the parameter count (1, not d) tells the declaration from the default.
    const resolved = resolveModelConfig(model);
    const setting = { batchSize: 2, seqLen: 16, gradAccum: 1 };
    const routerCost = l2NormRouterCost({ dModel: 16, layerIndex: 1, auxLoss: null, predictor: null, options: {}, seed: 0 });
    expect(routerCost).toEqual({ params: 1, flopsPerToken: 32 });
    const declared = flopsPerStep(resolved, { ...setting, routerCost });
    // Hand count (llama, d=16, h=48, S=16): dense block qkv 24,576 + scores 8,192 + values 8,192
    // + out 8,192 + mlp 73,728 = 122,880; routed block (k=4) 6,144 + 512 + 512 + 2,048 + 18,432
    // = 27,648; its router 16 tokens x 32 = 512; head 2*16*16*256 = 131,072. x3 (training) x2 (batch).
    expect(declared).toBe(3 * (122_880 + 27_648 + 512 + 131_072) * 2);
    const start = readFileSync(join(run, "metrics.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { type: string; flopsPerStep?: number; paramCount?: number }).find((r) => r.type === "start")!;
    expect(start.flopsPerStep).toBe(declared);
    expect(start.paramCount).toBe(paramCounts(resolved, { routerCost }).total);
    expect(start.paramCount).toBe(paramCounts(resolved, { routerCost: linearRouterCost(16, null) }).total - 15); // a linear router would count w [16, 1]
    const ckpts = readdirSync(join(run, "checkpoints")).filter((f) => f.startsWith("step-")).sort();
    const state = JSON.parse(readFileSync(join(run, "checkpoints", ckpts[ckpts.length - 1]!, "trainer-state.json"), "utf8")) as { trainingFlops: number; routerStates: Record<string, { threshold: number }> };
    expect(state.trainingFlops).toBe(12 * declared);
    // The causal threshold was calibrated while training (it starts at 1) and is saved.
    const thresholds = Object.values(state.routerStates).map((s) => s.threshold);
    expect(thresholds).toHaveLength(1);
    expect(thresholds[0]).not.toBe(1);
    // config.json carries it too, so eval and sample (which read only config.json and the
    // weights) route with the calibrated threshold, not the initial one.
    const modelConfig = JSON.parse(readFileSync(join(run, "checkpoints", ckpts[ckpts.length - 1]!, "config.json"), "utf8")) as { routerStates: unknown };
    expect(modelConfig.routerStates).toEqual(state.routerStates);

    // eval/sample of the run load the plugin run.json records: no --plugin needed.
    const recorded = await mixdepth(["eval", run, "--backend", "cpu", "--batches", "1", "--batch-size", "2"]);
    expect(recorded.code, recorded.stderr).toBe(0);
    expect(recorded.stdout).toMatch(/top-k routing: {2}loss \d+\.\d+ nats\/token/);

    const evaluated = await mixdepth(["eval", run, "--backend", "cpu", "--plugin", "./dist/index.js", "--batches", "1", "--batch-size", "2"]);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(evaluated.stdout).toMatch(/top-k routing: {2}loss \d+\.\d+ nats\/token/);
    expect(evaluated.stdout).toMatch(/causal routing: loss \d+\.\d+ nats\/token/);
    expect(evaluated.stdout).toMatch(new RegExp(`training FLOPs so far: ${(12 * declared).toExponential(3).replace("+", "\\+")}`));

    const sampled = await mixdepth(["sample", run, "--backend", "cpu", "--plugin", "./dist/index.js", "-n", "8", "--prompt", "The fox"]);
    expect(sampled.code, sampled.stderr).toBe(0);
    expect(sampled.stdout).toMatch(/^The fox/m);
    expect(sampled.stdout).toMatch(/block 1: routed .* of tokens \(nominal 0\.25\)/);

    // run.json records the plugin: --resume needs no --plugin, and may extend the run.
    const resumed = await mixdepth(["train", "--resume", run, "--backend", "cpu", "--steps", "14"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/done: 14 steps/);
  }, 600_000);
});
