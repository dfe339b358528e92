// processorsFor: what the settings do to hand-made logits, worked out by hand in the comments
// (not by counting processors), and which values are rejected.
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { expectNoLeaks } from "@mixdepth/vitest-config/tf";
import { processorsFor, type SamplingSettings } from "./processors-for.js";
import { composeProcessors } from "./processors.js";

const NEG = Number.NEGATIVE_INFINITY;

function apply(settings: SamplingSettings, row: number[], seen: number[]): number[] {
  return tf.tidy(() => composeProcessors(...processorsFor(settings))(tf.tensor2d([row]), { tokens: [seen] }).arraySync()[0] as number[]);
}

describe("processorsFor", () => {
  it("applies penalty, temperature, top-k, top-p in that order", async () => {
    await expectNoLeaks(() => {
      // [3, 1, 0, -1], token 1 seen, penalty 2 -> [3, 0.5, 0, -1]; temperature 0.5 -> [6, 1, 0, -2];
      // top-k 3 -> [6, 1, 0, -inf]; softmax of [6, 1, 0] is [0.99087, 0.00668, 0.00246]: the mass
      // ranked above token 2 is 0.99755 >= 0.995, above token 1 0.99087 < 0.995 -> [6, 1, -inf, -inf].
      const got = apply({ temperature: 0.5, topK: 3, topP: 0.995, repetitionPenalty: 2 }, [3, 1, 0, -1], [1]);
      expect(got[0]).toBeCloseTo(6, 5);
      expect(got[1]).toBeCloseTo(1, 5);
      expect(got.slice(2)).toEqual([NEG, NEG]);
    });
  });

  it("temperature 0 is greedy, after the penalty (top-k and top-p are moot)", async () => {
    await expectNoLeaks(() => {
      // Without a penalty token 1 (3.5) wins; seen and penalised by 2 it is 1.75, and token 0 (3) wins.
      expect(apply({ temperature: 0, topK: 2, topP: 0.5 }, [3, 3.5, 0], [1])).toEqual([NEG, 3.5, NEG]);
      expect(apply({ temperature: 0, repetitionPenalty: 2 }, [3, 3.5, 0], [1])).toEqual([3, NEG, NEG]);
    });
  });

  it("defaults and the off values (top-k 0, top-p 1, penalty 1) leave the logits alone", async () => {
    await expectNoLeaks(() => {
      expect(apply({}, [2, -4, 0], [0])).toEqual([2, -4, 0]);
      expect(apply({ temperature: 2, topK: 0, topP: 1, repetitionPenalty: 1 }, [2, -4, 0], [0])).toEqual([1, -2, 0]);
    });
  });

  it("rejects bad values, naming the field and quoting the value", () => {
    expect(() => processorsFor({ temperature: -1 })).toThrow(/^temperature: must be a finite number >= 0 \(0: greedy\) \(got -1\)$/);
    expect(() => processorsFor({ temperature: Number.NaN })).toThrow(/temperature: .*\(got null\)/);
    expect(() => processorsFor({ topK: 1.5 })).toThrow(/^topK: must be an integer >= 0 \(0: off\) \(got 1\.5\)$/);
    expect(() => processorsFor({ topP: 0 })).toThrow(/^topP: must be a number in \(0, 1\] \(1: off\) \(got 0\)$/);
    expect(() => processorsFor({ repetitionPenalty: 0 })).toThrow(/^repetitionPenalty: must be a finite number > 0 \(1: off\) \(got 0\)$/);
  });
});
