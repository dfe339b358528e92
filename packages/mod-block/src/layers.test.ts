import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, gradCheck, maxAbsDiff, testBackends, useBackend } from "@mixdepth/vitest-config/tf";
import { gelu, rotary, rotaryAngles } from "./layers.js";

/** The documented formula in plain double arithmetic: [x1 cos - x2 sin, x2 cos + x1 sin], angle p * base^(-2i/hd). */
function rotaryByHand(x: Float32Array, shape: [number, number, number, number], positions: Int32Array, base: number): Float64Array {
  const [b, h, t, hd] = shape;
  const half = hd / 2;
  const out = new Float64Array(x.length);
  for (let bi = 0; bi < b; bi++)
    for (let hi = 0; hi < h; hi++)
      for (let ti = 0; ti < t; ti++) {
        const o = ((bi * h + hi) * t + ti) * hd;
        const p = positions[bi * t + ti] as number;
        for (let i = 0; i < half; i++) {
          const a = p * Math.pow(base, (-2 * i) / hd);
          const x1 = x[o + i] as number;
          const x2 = x[o + half + i] as number;
          out[o + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
          out[o + half + i] = x2 * Math.cos(a) + x1 * Math.sin(a);
        }
      }
  return out;
}

describe("rotaryAngles", () => {
  it("gives each position's cos/sin row, whatever order positions come in", () => {
    // Uneven positions (routed tokens keep their original ones), asked after a smaller table exists.
    rotaryAngles(Int32Array.from([0, 1]), 4, 10000);
    const { cos, sin } = rotaryAngles(Int32Array.from([300, 2, 0]), 4, 10000);
    expect(cos.length).toBe(6);
    const inv1 = Math.pow(10000, -2 / 4);
    for (const [r, p] of [[0, 300], [1, 2], [2, 0]] as const) {
      for (const [i, f] of [[0, 1], [1, inv1]] as const) {
        expect(cos[r * 2 + i]).toBeCloseTo(Math.cos(p * f), 5);
        expect(sin[r * 2 + i]).toBeCloseTo(Math.sin(p * f), 5);
      }
    }
  });
});

describe.each(testBackends())("rotary on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it("matches the half-split formula at original positions, with a gradient matching finite differences", async () => {
    const shape: [number, number, number, number] = [2, 3, 4, 6];
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: n }, (_, i) => Math.sin(0.7 * i + 0.3));
    const positions = Int32Array.from([0, 3, 4, 9, 1, 2, 5, 40]); // [B * T], gapped as routed tokens are
    await expectNoLeaks(() => {
      const x = tf.tensor4d(data, shape);
      const { cos, sin } = rotaryAngles(positions, 6, 10000);
      const c = tf.tensor4d(cos, [2, 1, 4, 3]);
      const s = tf.tensor4d(sin, [2, 1, 4, 3]);
      const out = tf.tidy(() => rotary(x, c, s)); // it runs inside its caller's tidy // it runs inside its caller's tidy
      expect(maxAbsDiff(out, rotaryByHand(data, shape, positions, 10000))).toBeLessThan(1e-5);
      const w = tf.tensor4d(Float32Array.from({ length: n }, (_, i) => Math.cos(1.3 * i)), shape);
      expect(gradCheck((a) => tf.sum(tf.mul(tf.square(rotary(a as tf.Tensor4D, c, s)), w)) as tf.Scalar, [x])).toBeLessThan(1e-2);
      tf.dispose([x, c, s, out, w]);
    });
  });
});

describe.each(testBackends())("gelu on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it("is GPT-2's tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), with its gradient", async () => {
    const xs = Array.from({ length: 41 }, (_, i) => -6 + 0.3 * i); // both tails and the bend
    const byHand = xs.map((x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))));
    await expectNoLeaks(() => {
      const x = tf.tensor1d(xs);
      const y = tf.tidy(() => gelu(x));
      expect(maxAbsDiff(y, byHand)).toBeLessThan(2e-6);
      expect(gradCheck((a) => tf.sum(tf.mul(gelu(a), tf.linspace(-1, 1, 41))) as tf.Scalar, [x])).toBeLessThan(1e-2);
      tf.dispose([x, y]);
    });
  });
});
