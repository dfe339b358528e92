import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, testBackends, useBackend } from "@mixdepth/vitest-config/tf";
import { composeProcessors, greedy, processedProbabilities, repetitionPenalty, temperature, topK, topP, type LogitsProcessor } from "./processors.js";

const ctx = (rows: number) => ({ tokens: Array.from({ length: rows }, () => [] as number[]) });

/** Runs a processor on hand-made logits and reads the result back. */
function run(p: LogitsProcessor, rows: number[][], tokens: number[][] = rows.map(() => [])): number[][] {
  return tf.tidy(() => p(tf.tensor2d(rows), { tokens }).arraySync());
}

const NEG = Number.NEGATIVE_INFINITY;

describe.each(testBackends())("logits processors on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it("temperature divides; rejects 0 with a pointer to greedy()", async () => {
    await expectNoLeaks(() => {
      expect(run(temperature(2), [[2, -4, 0]])).toEqual([[1, -2, 0]]);
      expect(run(temperature(1), [[2, -4, 0]])).toEqual([[2, -4, 0]]);
      expect(() => temperature(0)).toThrow(/greedy/);
    });
  });

  it("greedy keeps the argmax of each row (first on ties)", async () => {
    await expectNoLeaks(() => {
      expect(run(greedy(), [[1, 3, 2], [5, 5, 0]])).toEqual([[NEG, 3, NEG], [5, NEG, NEG]]);
    });
  });

  it("topK keeps the k largest per row", async () => {
    await expectNoLeaks(() => {
      expect(run(topK(2), [[1, 4, 3, 2], [0, -1, 9, 8]])).toEqual([[NEG, 4, 3, NEG], [NEG, NEG, 9, 8]]);
      expect(run(topK(10), [[1, 2]])).toEqual([[1, 2]]);
      expect(() => topK(0)).toThrow(/k must be an integer >= 1/);
    });
  });

  it("topP keeps the smallest most-likely set reaching p; always the top token", async () => {
    await expectNoLeaks(() => {
      // probabilities 0.5, 0.25, 0.125, 0.125
      const l = [Math.log(0.125), Math.log(0.5), Math.log(0.25), Math.log(0.125)];
      const out = (p: number) => run(topP(p), [l])[0]!.map((x) => x !== NEG);
      expect(out(0.5)).toEqual([false, true, false, false]);
      expect(out(0.6)).toEqual([false, true, true, false]);
      expect(out(0.75)).toEqual([false, true, true, false]);
      expect(out(0.8)).toEqual([true, true, true, true]); // the two 0.125 tokens tie
      expect(out(0.01)).toEqual([false, true, false, false]);
      expect(() => topP(0)).toThrow(/\(0, 1\]/);
    });
  });

  it("repetitionPenalty divides positive and multiplies negative logits of seen tokens, per row", async () => {
    await expectNoLeaks(() => {
      const got = run(repetitionPenalty(2), [[4, -4, 4, -4], [4, -4, 4, -4]], [[0, 1, 1], [3]]);
      expect(got).toEqual([[2, -8, 4, -4], [4, -4, 4, -8]]);
    });
  });

  it("compose applies left to right; probabilities sum to 1 with zeros where removed", async () => {
    await expectNoLeaks(() => {
      const p = composeProcessors(temperature(0.5), topK(2));
      expect(run(p, [[1, 2, 3]])).toEqual([[NEG, 4, 6]]);
      const probs = tf.tidy(() => processedProbabilities(tf.tensor2d([[1, 2, 3]]), [topK(2)], ctx(1)).arraySync()[0]!);
      expect(probs[0]).toBe(0);
      expect(probs[1]! + probs[2]!).toBeCloseTo(1, 6);
      expect(probs[2]! / probs[1]!).toBeCloseTo(Math.E, 4);
    });
  });
});
