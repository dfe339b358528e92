// The wasm copy kernels move exactly what tfjs' cpu kernels move (every rank, strided and
// contiguous slices, splits with -1, concat on every axis, int32 and bool, through
// gradients, shared identities and casts), free nothing they should keep, and uninstall cleanly.
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { setupBackend } from "./setup-backend.js";
import { installWasmCopyFix, uninstallWasmCopyFix, wasmCopyFixInstalled } from "./wasm-copy.js";

const seq = (shape: number[], f = (i: number) => Math.sin(i + 1)) => Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => f(i));

/** Every case returns plain arrays: computed once on cpu, once on wasm with the fix. */
function compute(): number[][] {
  return tf.tidy(() => {
    const out: tf.Tensor[] = [];
    const x4 = tf.tensor(seq([3, 4, 5, 6]), [3, 4, 5, 6]);
    out.push(tf.slice(x4, [1, 0, 2, 0], [2, 4, 3, 6])); // trailing axis whole: runs of 6 * 3
    out.push(tf.slice(x4, [0, 1, 0, 2], [3, 2, 5, 3])); // innermost partial: runs of 3
    out.push(tf.slice(x4, [1, 0, 0, 0], [1, 4, 5, 6])); // contiguous
    out.push(tf.slice(tf.tensor(seq([2, 3, 2, 3, 4]), [2, 3, 2, 3, 4]), [1, 1, 0, 1, 1], [1, 2, 2, 2, 3])); // rank 5
    out.push(tf.slice(tf.tensor1d(seq([70]), "float32"), [3], [66])); // rank 1, a long run (set)
    out.push(tf.slice(tf.tensor(seq([4, 130], (i) => i), [4, 130], "int32"), [1, 1], [2, 128])); // int32, long runs
    out.push(tf.slice(tf.tensor(seq([3, 5], (i) => i % 3), [3, 5], "bool"), [0, 1], [3, 3]));
    out.push(...tf.split(x4, 2, 3), ...tf.split(x4, [1, -1, 2], 2), ...tf.split(x4, [3], 0));
    out.push(tf.concat([x4, tf.tensor(seq([3, 4, 5, 2], Math.cos), [3, 4, 5, 2])], 3));
    out.push(tf.concat([x4, x4, x4], 1), tf.concat([x4, tf.zeros([0, 4, 5, 6])], 0), tf.concat([tf.zeros([3, 0, 5, 6]), x4, x4], 1));
    out.push(tf.concat([tf.tensor(seq([2, 3], (i) => i), [2, 3], "int32"), tf.tensor(seq([2, 100], (i) => -i), [2, 100], "int32")], 1));
    // Identity and same-dtype Cast share memory; a real conversion still converts.
    const scaled = tf.mul(x4, 3);
    out.push(tf.clone(scaled), tf.cast(scaled, "float32"), tf.cast(scaled, "int32"));
    // Through gradients: split's gradient is a concat, concat's and slice's are slices and pads.
    const g = tf.tensor(seq([3, 4, 5, 6], (i) => Math.cos(0.3 * i)), [3, 4, 5, 6]);
    const f = (x: tf.Tensor) => {
      const [a, b] = tf.split(x, 2, 3) as [tf.Tensor, tf.Tensor];
      return tf.sum(tf.mul(tf.concat([tf.mul(b, 2), a], 3), g));
    };
    out.push(tf.grad(f)(x4), tf.grad((x: tf.Tensor) => tf.sum(tf.square(tf.slice(x, [0, 1, 1, 2], [2, 2, 3, 3]))))(x4));
    return out.map((t) => t.dtype === "float32" ? t : tf.cast(t, "float32")).map((t) => [...t.shape, -1, ...t.dataSync()]);
  }) as unknown as number[][];
}

describe("installWasmCopyFix", () => {
  it("a shared tensor outlives its source and does not follow a variable's assign", async () => {
    await setupBackend({ backend: "wasm" });
    const before = tf.memory().numTensors;
    const a = tf.tensor1d([1, 2, 3]);
    const b = tf.clone(a);
    const c = tf.cast(b, "float32");
    a.dispose();
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3]);
    b.dispose();
    expect(Array.from(c.dataSync())).toEqual([1, 2, 3]);
    const v = tf.variable(c);
    const snapshot = tf.clone(v);
    const other = tf.tensor1d([7, 8, 9]);
    v.assign(other);
    expect(Array.from(snapshot.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from(v.dataSync())).toEqual([7, 8, 9]);
    tf.dispose([c, v, snapshot, other]);
    expect(tf.memory().numTensors).toBe(before);
    await setupBackend({ backend: "cpu" });
  });

  it("moves exactly what the cpu kernels move, frees its temporaries, and uninstalls cleanly", async () => {
    await setupBackend({ backend: "cpu" });
    expect(wasmCopyFixInstalled()).toBe(false);
    const want = compute();
    await setupBackend({ backend: "wasm" });
    expect(wasmCopyFixInstalled()).toBe(true);
    const before = tf.memory().numTensors;
    const got = compute();
    expect(tf.memory().numTensors).toBe(before);
    got.forEach((g, i) => expect(g, `case ${i}`).toEqual(want[i]));
    // The kernels registered now are the fix's, and uninstalling brings tfjs' back.
    const fixed = tf.getKernel("SplitV", "wasm")?.kernelFunc;
    uninstallWasmCopyFix();
    expect(wasmCopyFixInstalled()).toBe(false);
    expect(tf.getKernel("SplitV", "wasm")?.kernelFunc).not.toBe(fixed);
    expect(compute()).toEqual(want);
    expect(installWasmCopyFix()).toBe(true);
    expect(compute()).toEqual(want);
    await setupBackend({ backend: "cpu" });
    expect(wasmCopyFixInstalled()).toBe(false);
  });
});
