// The wasm sum wrapper computes what the cpu backend computes (leading axes, keepDims, the
// cases it leaves to tfjs, and inside gradients), frees its temporaries, and uninstalls cleanly.
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { setupBackend } from "./setup-backend.js";
import { uninstallWasmSumFix, wasmSumFixInstalled } from "./wasm-sum.js";

const maxAbsDiff = (a: number[], b: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] as number))), 0);

function compute(): number[][] {
  return tf.tidy(() => {
    const x = tf.tensor(Array.from({ length: 4 * 37 * 6 }, (_, i) => Math.sin(0.37 * i) * 3), [4, 37, 6]);
    const outs: tf.Tensor[] = [
      tf.sum(x, 0), // leading: one product [1, 4] x [4, 222]
      tf.sum(x, [0, 1]),
      tf.sum(x, [1, 0], true), // unsorted, keepDims
      tf.sum(x, -3),
      tf.sum(x, 2), // innermost: tfjs' kernel
      tf.sum(x, [0, 2]), // not leading: tfjs' kernel
      tf.sum(x), // everything: tfjs' kernel
      tf.sum(tf.tensor2d([[1, 2], [3, 4]], [2, 2], "int32"), 0), // int32: tfjs' kernel
      // A bias gradient: the broadcast add's gradient sums dy over the leading axes.
      tf.grad((b: tf.Tensor) => tf.sum(tf.square(tf.add(x, b))))(tf.tensor1d([0.5, -1, 2, 0, 1, 3])),
    ];
    return outs.map((t) => [...t.shape, -1, ...t.dataSync()]);
  }) as unknown as number[][];
}

describe("installWasmSumFix", () => {
  it("matches cpu within 1e-4 (leading axes, keepDims, fallbacks, gradients), leaks nothing, uninstalls", async () => {
    await setupBackend({ backend: "cpu" });
    const want = compute();
    await setupBackend({ backend: "wasm" });
    expect(wasmSumFixInstalled()).toBe(true);
    const before = tf.memory().numTensors;
    const got = compute();
    expect(tf.memory().numTensors).toBe(before);
    got.forEach((g, i) => {
      const w = want[i]!;
      expect(g.slice(0, g.indexOf(-1)), `case ${i} shape`).toEqual(w.slice(0, w.indexOf(-1)));
      expect(g.length, `case ${i}`).toBe(w.length);
      expect(maxAbsDiff(g, w), `case ${i}`).toBeLessThan(1e-4);
    });
    uninstallWasmSumFix();
    expect(wasmSumFixInstalled()).toBe(false);
    compute().forEach((g, i) => expect(maxAbsDiff(g, want[i]!), `case ${i} without the fix`).toBeLessThan(1e-4));
    await setupBackend({ backend: "cpu" });
  });
});
