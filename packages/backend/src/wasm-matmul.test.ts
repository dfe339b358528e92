// The wasm matmul wrapper computes what the cpu backend computes (all transpose flags,
// batched, and through gradients), frees its temporaries, and uninstalls cleanly.
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { setupBackend } from "./setup-backend.js";
import { installWasmMatMulFix, uninstallWasmMatMulFix, wasmMatMulFixInstalled } from "./wasm-matmul.js";

const maxAbsDiff = (a: number[], b: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] as number))), 0);

describe("installWasmMatMulFix", () => {
  it("matches cpu within 1e-4 for every transpose combination, batched, and in gradients", async () => {
    const shapes: [number[], number[], boolean, boolean][] = [
      [[3, 5], [5, 4], false, false],
      [[5, 3], [5, 4], true, false],
      [[3, 5], [4, 5], false, true],
      [[2, 5, 3], [2, 4, 5], true, true],
      [[2, 3, 12, 5], [2, 3, 10, 5], false, true], // attention scores: [B, H, S, dh] x [B, H, S, dh]^T
      [[1, 6], [11, 6], false, true], // a decode step's head: one row keeps the flag
      [[10, 9], [10, 12], true, false], // pre-transposed A (N > SMALL_SIDE)
      [[12, 9], [10, 12], true, true], // both pre-transposed
      [[12, 4], [10, 12], true, true], // A pre-transposed (N = 10), B keeps its flag (M = 4)
      [[3, 9, 10], [3, 9, 11], true, false], // batched, sliced into 2-D products after the transpose
      [[2, 2, 16, 6], [2, 2, 6, 9], false, false], // batched, small: tfjs' batched loop (below SLICE_MIN_WORK)
      [[2, 2, 32, 24], [2, 2, 24, 32], false, false], // batched, sliced, no flags
      [[2, 24, 32], [2, 32, 24], true, true], // batched, both pre-transposed, then sliced
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
    await setupBackend({ backend: "cpu" });
    const want = compute();
    await setupBackend({ backend: "wasm" });
    expect(wasmMatMulFixInstalled()).toBe(true);
    const before = tf.memory().numTensors;
    const got = compute();
    expect(tf.memory().numTensors).toBe(before);
    got.forEach((g, i) => g.forEach((v, j) => expect(maxAbsDiff(v, want[i]![j]!)).toBeLessThan(1e-4)));
  });

  it("replaces the registered wasm kernel and restores it on uninstall", async () => {
    await setupBackend({ backend: "wasm", wasmFixes: false });
    const tfjsKernel = tf.getKernel("BatchMatMul", "wasm")!.kernelFunc;
    expect(installWasmMatMulFix()).toBe(true);
    expect(tf.getKernel("BatchMatMul", "wasm")!.kernelFunc).not.toBe(tfjsKernel);
    const t0 = tf.tensor2d([[1, 2, 3]]);
    const t1 = tf.tensor2d([[4, 5, 6], [7, 8, 9]]);
    const y = tf.matMul(t0, t1, false, true);
    expect(Array.from(y.dataSync())).toEqual([32, 50]);
    uninstallWasmMatMulFix();
    expect(wasmMatMulFixInstalled()).toBe(false);
    expect(tf.getKernel("BatchMatMul", "wasm")!.kernelFunc).toBe(tfjsKernel);
    tf.dispose([t0, t1, y]);
  });
});
