// The wasm matmul wrapper computes what the cpu backend computes (all transpose flags, batched,
// and through gradients) and frees its temporaries.
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { expectNoLeaks, maxAbsDiff, useBackend } from "@mixdepth/vitest-config/tf";
import { installWasmMatMulFix } from "./wasm-matmul.js";

describe("installWasmMatMulFix", () => {
  it("matches cpu for every transpose combination and in gradients", async () => {
    const shapes: [number[], number[], boolean, boolean][] = [
      [[3, 5], [5, 4], false, false],
      [[5, 3], [5, 4], true, false],
      [[3, 5], [4, 5], false, true],
      [[2, 5, 3], [2, 4, 5], true, true],
    ];
    const data = shapes.map(([sa, sb]) => [Array.from({ length: sa.reduce((x, y) => x * y) }, (_, i) => Math.sin(i + 1)), Array.from({ length: sb.reduce((x, y) => x * y) }, (_, i) => Math.cos(i * 0.7))]);
    const compute = () =>
      shapes.map(([sa, sb, ta, tb], i) =>
        tf.tidy(() => {
          const a = tf.tensor(data[i]![0]!, sa);
          const b = tf.tensor(data[i]![1]!, sb);
          const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, y, ta, tb)));
          const [ga, gb] = tf.grads(f)([a, b]);
          return [tf.matMul(a, b, ta, tb), ga!, gb!].map((t) => Array.from(t.dataSync()));
        }),
      );
    await useBackend("cpu");
    const want = compute();
    await useBackend("wasm");
    expect(installWasmMatMulFix()).toBe(true);
    const got = await expectNoLeaks(() => compute());
    got.forEach((g, i) => g.forEach((v, j) => expect(maxAbsDiff(v, want[i]![j]!)).toBeLessThan(1e-4)));
    await useBackend("cpu");
  });
});
