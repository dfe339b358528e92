// The batcher: reproducible random windows from a saved RNG state, targets shifted by one,
// fixed evaluation windows, a DataError naming the size needed, tensors of the right shape.
import * as tf from "@tensorflow/tfjs";
import { Mulberry32 } from "@mixdepth/core";
import { describe, expect, it } from "vitest";
import { expectNoLeaks } from "@mixdepth/vitest-config/tf";
import { batchTensors, DataError, evalBatches, randomBatch } from "./batcher.js";

describe("batcher", () => {
  it("random windows are reproducible from a saved RNG state", () => {
    const tokens = Int32Array.from({ length: 1000 }, (_, i) => i % 256);
    const rng = new Mulberry32(3);
    randomBatch(tokens, 2, 8, rng);
    const saved = rng.state;
    const a = randomBatch(tokens, 2, 8, rng);
    rng.state = saved;
    const b = randomBatch(tokens, 2, 8, rng);
    expect(b).toEqual(a);
    // targets are the inputs shifted by one token
    expect(a.targets[0]).toBe(((a.inputs[0] as number) + 1) % 256);
    const ev = evalBatches(tokens, 2, 8, 3);
    expect(ev).toHaveLength(3);
    expect(evalBatches(tokens, 2, 8, 3)).toEqual(ev);
    expect(ev[0]!.inputs[0]).toBe(0); // first window at the start, last one ending at the end
    expect(ev[2]!.targets[15]).toBe(tokens[999]);
    expect(() => randomBatch(Int32Array.from([1, 2, 3]), 1, 8, rng)).toThrow(DataError);
    expect(() => randomBatch(Int32Array.from([1, 2, 3]), 1, 8, rng)).toThrow(/has 3 tokens, fewer than one window of seqLen \+ 1 = 9/);
    expect(randomBatch(Int32Array.from({ length: 9 }, (_, i) => i), 1, 8, rng).targets[7]).toBe(8); // exactly one window
  });

  it("batchTensors makes [B, S] int32 tensors and refuses a batch of another size", async () => {
    const b = randomBatch(Int32Array.from({ length: 100 }, (_, i) => i), 3, 4, new Mulberry32(1));
    await expectNoLeaks(() => {
      const { x, y } = batchTensors(b, 3, 4);
      expect(x.shape).toEqual([3, 4]);
      expect(x.dtype).toBe("int32");
      expect(Array.from(y.dataSync())).toEqual(Array.from(b.targets));
      tf.dispose([x, y]);
      expect(() => batchTensors(b, 3, 5)).toThrow(/the batch has 12 tokens, not batchSize \* seqLen = 3 \* 5/);
    });
  });
});
