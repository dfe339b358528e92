// The memory check counts every data-parallel rank (each holds the weights, their gradients
// and a worker thread), and eval's batches are checked before any is built.
import { describe, expect, it } from "vitest";
import { loadConfig, parseSet } from "./config.js";
import { checkEvalMemory, checkMemory, MemoryLimitError, RANK_OVERHEAD_BYTES } from "./memory-check.js";

const tiny = (workers: number) =>
  loadConfig({
    overrides: [
      { model: { vocabSize: 256, dModel: 16, nHeads: 2, nLayers: 2, contextLength: 16 }, training: { batchSize: 16, seqLen: 16, warmupSteps: 1, steps: 2, evalBatches: 1 } },
      parseSet(`training.workers=${workers}`),
    ],
  });

describe("checkMemory", () => {
  it("counts every rank: 16 ranks of an 11k-parameter model need about 15 x 64 MiB more than one", () => {
    const one = tiny(1);
    // A limit that one rank fits with room for 5 more threads: 16 ranks do not fit.
    const limit = 200 * 1024 ** 2 + 5 * RANK_OVERHEAD_BYTES;
    expect(() => checkMemory(one, limit)).not.toThrow();
    expect(() => checkMemory(tiny(16), limit)).toThrow(MemoryLimitError);
    expect(() => checkMemory(tiny(16), limit)).toThrow(/this config needs about \d+\.\d MiB .*, 15 more data-parallel ranks \d+\.\d MiB\), more than the limit .*or training\.workers/);
    expect(() => checkMemory(tiny(16), limit, "compare variant mod")).toThrow(/^compare variant mod needs about/);
  });

  it("training.workers is capped at 16 (documented), not only by the batch size", () => {
    expect(() => tiny(17)).toThrow(/training\.workers: must be an integer from 1 to 16, or "auto" \(got 17\)/);
  });

  it("eval: --batch-size 1e8 is refused before any batch is built", () => {
    const { model: m, routerCost } = tiny(1);
    expect(() => checkEvalMemory(m, { batchSize: 1e8, seqLen: 16, batches: 8, routerCost }, 16 * 1024 ** 3)).toThrow(/--batch-size 100000000 x --seq-len 16 \(8 batches\) needs about [\d.]+ GiB to evaluate/);
    expect(() => checkEvalMemory(m, { batchSize: 8, seqLen: 16, batches: 8, routerCost }, 16 * 1024 ** 3)).not.toThrow();
  });
});
