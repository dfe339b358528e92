// What a run records of the routing options: the model line names MoE and MoDE, a capacity
// warm-up's FLOPs are each step's own (summed), threshold routing's are measured, and
// training.routingStats adds per-block predictor accuracy and top-k recall to each train record.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { flopsPerStep, forwardFlops, runFlops } from "@mixdepth/flops-accounting";
import { loadConfig } from "./config.js";
import { readMetrics, type TrainRecord } from "./metrics.js";
import { modelDescription, train } from "./train.js";

const shape = { vocabSize: 256, dModel: 16, nHeads: 2, nLayers: 2, contextLength: 16 };

function setup(model: Record<string, unknown>, training: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "mixdepth-rr-"));
  writeFileSync(join(dir, "t.txt"), Array.from({ length: 2000 }, (_, i) => `sentence number ${i} of the routing test.`).join("\n"));
  const valid = loadConfig({
    overrides: [
      {
        model: { ...shape, ...model },
        training: { steps: 4, batchSize: 2, seqLen: 16, warmupSteps: 1, evalEvery: 0, evalBatches: 1, checkpointEvery: 0, workers: 1, ...training },
        data: { source: join(dir, "t.txt"), cacheDir: join(dir, "cache") },
      },
    ],
  });
  return { valid, runDir: join(dir, "run") };
}

const records = (runDir: string) => readMetrics(join(runDir, "metrics.jsonl"));
const trainRecords = (runDir: string) => records(runDir).filter((r): r is TrainRecord => r.type === "train");

describe("the run header's model line", () => {
  it("names MoE, integrated and staged MoDE and the routing options instead of 'dense'", () => {
    expect(modelDescription(setup({ routing: { blocks: "none" }, experts: { count: 4 } }).valid)).toMatch(/; MoE 4 experts \(expert-choice, 25% capacity each\) on blocks \[0, 1\]$/);
    expect(modelDescription(setup({ routing: { blocks: "none" }, experts: { count: 2, noop: 2, blocks: [1] } }).valid)).toMatch(/; integrated MoDE 2 experts \+ 2 no-op .* on blocks \[1\]$/);
    expect(modelDescription(setup({ routing: { blocks: [1], capacity: 0.5 }, experts: { blocks: [1], count: 2 } }).valid)).toMatch(/; MoD 50% capacity on blocks \[1\].*; staged MoDE 2 experts/);
    expect(modelDescription(setup({ routing: { blocks: [1], capacity: 0.25, capacityWarmup: { steps: 10 } } }).valid)).toMatch(/MoD 25% capacity \(warm-up from 100% over 10 steps\)/);
    expect(modelDescription(setup({ routing: { blocks: [1], train: "threshold", threshold: 0.7 } }).valid)).toMatch(/MoD threshold p > 0.7 \(training\)/);
    expect(modelDescription(setup({ routing: { blocks: "none" } }).valid)).toMatch(/; dense$/);
  });
});

describe("routing records in metrics.jsonl", () => {
  it("a capacity warm-up: flops sum each step's own; routingStats logs accuracy and recall per routed block", async () => {
    const { valid, runDir } = setup({ routing: { blocks: [1], capacity: 0.25, capacityWarmup: { steps: 3 } } }, { routingStats: true });
    await train({ valid, runDir, resume: false, backendLine: "b", out: { write: () => true }, report: false });
    const t = valid.config.training;
    const setting = { batchSize: t.batchSize, seqLen: t.seqLen, gradAccum: t.gradAccum, routerCost: valid.routerCost };
    const rs = trainRecords(runDir);
    expect(rs.map((r) => r.step)).toEqual([1, 2, 3, 4]);
    let sum = 0;
    rs.forEach((r, i) => {
      sum += flopsPerStep(valid.model, setting, i); // independent: step by step
      expect(r.flops).toBe(sum);
      expect(r.flops).toBe(runFlops(valid.model, setting, r.step));
      expect(r.routing?.map((a) => a.layer)).toEqual([1]);
      const a = r.routing?.[0] as { accuracy: number; recall: number };
      expect(a.accuracy).toBeGreaterThanOrEqual(0);
      expect(a.accuracy).toBeLessThanOrEqual(1);
      expect(a.recall).toBeGreaterThanOrEqual(0);
      expect(a.recall).toBeLessThanOrEqual(1);
    });
    expect(rs[0]!.flops).toBeGreaterThan(flopsPerStep(valid.model, setting)); // step 0 at capacity 1
    const ck = JSON.parse(readFileSync(join(runDir, "checkpoints", "step-000004", "trainer-state.json"), "utf8")) as { trainingFlops: number };
    expect(ck.trainingFlops).toBe(sum);
    expect(rs[0]).not.toHaveProperty("stepFlops");
  }, 60_000);

  it("threshold routing: each step's FLOPs measured (stepFlops), summed in flops; no routing field without routingStats", async () => {
    const { valid, runDir } = setup({ routing: { blocks: [1], train: "threshold" } });
    await train({ valid, runDir, resume: false, backendLine: "b", out: { write: () => true }, report: false });
    const t = valid.config.training;
    // Bounds: the routed block (1) took every token, or none (3 = forward + backward, 2 rows).
    const bound = (tokens: number) => 3 * t.batchSize * forwardFlops(valid.model, { seqLen: t.seqLen, blockTokens: [16, tokens], routerCost: valid.routerCost }).total;
    const rs = trainRecords(runDir);
    let sum = 0;
    for (const r of rs) {
      expect(typeof r.stepFlops).toBe("number");
      sum += r.stepFlops as number;
      expect(r.flops).toBe(sum);
      expect(r.stepFlops).toBeLessThanOrEqual(bound(16));
      expect(r.stepFlops).toBeGreaterThanOrEqual(bound(0));
      expect(r).not.toHaveProperty("routing");
    }
    const ev = records(runDir).filter((r) => r.type === "eval");
    expect((ev.at(-1) as { flops: number }).flops).toBe(sum);
  }, 60_000);
});
