// No tensor growth: 200 training steps (with evaluations and checkpoints) of a tiny model keep
// tf.memory().numTensors flat, and everything is freed at the end; on 1 rank and on 2 (the
// data-parallel path, with gradient accumulation), whose worker threads are all gone after.
import * as tf from "@tensorflow/tfjs";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";
import { liveWorkers } from "@mixdepth/train/node";
import { train } from "./train.js";

describe.each([1, 2])("train, %i rank(s)", (workers) => {
  it("does not grow the tensor count across 200 steps", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-leak-"));
    writeFileSync(join(dir, "t.txt"), Array.from({ length: 500 }, (_, i) => `sentence number ${i} of the leak test.`).join("\n"));
    const valid = loadConfig({
      overrides: [
        {
          model: { vocabSize: 256, dModel: 16, nHeads: 2, nLayers: 2, contextLength: 16, routing: { blocks: "every-other", capacity: 0.25 } },
          training: { steps: 200, batchSize: 2, seqLen: 16, warmupSteps: 5, evalEvery: 50, evalBatches: 1, checkpointEvery: 50, gradAccum: 2, workers },
          data: { source: join(dir, "t.txt"), cacheDir: join(dir, "cache") },
        },
      ],
    });
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    const r = await train({ valid, runDir: join(dir, "run"), resume: false, backendLine: "backend: test", out: { write: () => true }, onStep: () => counts.push(tf.memory().numTensors) });
    expect(r.status).toBe("done");
    expect(counts).toHaveLength(200);
    expect(counts[199]).toBe(counts[9]);
    expect(Math.max(...counts)).toBe(counts[9]);
    expect(tf.memory().numTensors).toBe(before);
    expect(liveWorkers()).toBe(0);
  }, 600_000);
});
