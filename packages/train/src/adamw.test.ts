// AdamW against values worked out by hand (see the comments), and its state round trip, on
// every test backend (cpu and wasm: the same numbers within the stated tolerance).
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, testBackends, useBackend } from "@mixdepth/vitest-config/tf";
import { AdamW, decayRule, type AdamWOptions } from "./adamw.js";

const opts = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.5, decay: decayRule({ decayEmbeddings: false, decayNormsAndBiases: false }) };

function setup() {
  const params = new Map<string, tf.Variable>([
    ["blocks.0.w", tf.variable(tf.tensor2d([[1], [-2]]))], // matrix: decayed
    ["blocks.0.b", tf.variable(tf.tensor1d([3]))], // bias: not decayed
    ["tok_emb", tf.variable(tf.tensor2d([[1]]))], // embedding: not decayed
  ]);
  return params;
}

describe.each(testBackends())("AdamW on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it("matches two hand-computed steps (decoupled decay on matrices only)", async () => {
    const params = setup();
    await expectNoLeaks(() => {
      const opt = new AdamW(params, opts);
      expect(opt.decayedNames()).toEqual(["blocks.0.w"]);
      const g1 = new Map<string, tf.Tensor>([["blocks.0.w", tf.tensor2d([[0.5], [-1]])], ["blocks.0.b", tf.tensor1d([2])], ["tok_emb", tf.tensor2d([[0]])]]);
      // Step 1: mhat = g, vhat = g^2, so the Adam update is sign(g) (up to eps):
      // w = w * (1 - lr * wd) - lr * sign(g) = [1 * 0.95 - 0.1, -2 * 0.95 + 0.1] = [0.85, -1.8]; b = 3 - 0.1 = 2.9.
      opt.apply(g1, 0.1);
      expect(Array.from(params.get("blocks.0.w")!.dataSync())).toEqual([expect.closeTo(0.85, 6), expect.closeTo(-1.8, 6)]);
      expect(params.get("blocks.0.b")!.dataSync()[0]).toBeCloseTo(2.9, 6);
      expect(params.get("tok_emb")!.dataSync()[0]).toBeCloseTo(1, 6); // zero gradient, no decay
      // Step 2 with g = [1, 0]: m = [0.145, -0.09], v = [0.00124975, 0.000999], bias corrections
      // 1 - 0.9^2 = 0.19 and 1 - 0.999^2 = 0.001999; update = [0.96518201, -0.67005824];
      // w = 0.95 * [0.85, -1.8] - 0.1 * update = [0.71098180, -1.64299418].
      const g2 = new Map<string, tf.Tensor>([["blocks.0.w", tf.tensor2d([[1], [0]])], ["blocks.0.b", tf.tensor1d([0])], ["tok_emb", tf.tensor2d([[0]])]]);
      opt.apply(g2, 0.1);
      const w = params.get("blocks.0.w")!.dataSync();
      expect(w[0]).toBeCloseTo(0.7109818, 5);
      expect(w[1]).toBeCloseTo(-1.6429942, 5);
      expect(opt.step).toBe(2);
      tf.dispose([...g1.values(), ...g2.values()]);
      opt.dispose();
    });
    params.forEach((p) => p.dispose());
  });

  it("state round-trips exactly: a restored optimizer takes the same next step", async () => {
    const a = setup();
    const b = setup();
    await expectNoLeaks(() => {
      const g = () => new Map<string, tf.Tensor>([["blocks.0.w", tf.tensor2d([[0.3], [-0.7]])], ["blocks.0.b", tf.tensor1d([0.2])], ["tok_emb", tf.tensor2d([[0.1]])]]);
      const optA = new AdamW(a, opts);
      const g1 = g();
      optA.apply(g1, 0.01);
      const optB = new AdamW(b, opts);
      for (const [k, v] of a) b.get(k)!.assign(v);
      optB.setState(optA.getState());
      const g2 = g();
      optA.apply(g2, 0.01);
      optB.apply(g2, 0.01);
      for (const [k, v] of a) expect(Array.from(b.get(k)!.dataSync())).toEqual(Array.from(v.dataSync()));
      expect(() => optB.setState({ step: 1, m: new Map(), v: new Map() })).toThrow(/missing m for "blocks.0.w"/);
      tf.dispose([...g1.values(), ...g2.values()]);
      optA.dispose();
      optB.dispose();
    });
    [...a.values(), ...b.values()].forEach((p) => p.dispose());
  });
});

describe("AdamW options", () => {
  it("refuses unusable options, naming the option and quoting the value, before allocating", () => {
    const before = tf.memory().numTensors;
    const params = new Map<string, tf.Variable>();
    expect(() => new AdamW(params, { ...opts, beta1: 1 })).toThrow(/AdamW: beta1 must be a number in \[0, 1\) \(got 1\)/);
    expect(() => new AdamW(params, { ...opts, beta2: -0.1 })).toThrow(/AdamW: beta2 must be a number in \[0, 1\) \(got -0\.1\)/);
    expect(() => new AdamW(params, { ...opts, eps: 0 })).toThrow(/AdamW: eps must be a finite number > 0 \(got 0\)/);
    expect(() => new AdamW(params, { ...opts, weightDecay: Number.NaN })).toThrow(/AdamW: weightDecay must be a finite number >= 0 \(got NaN\)/);
    expect(() => new AdamW(params, { ...opts, beta1: "0.9" as unknown as number })).toThrow(/beta1 must be a number in \[0, 1\) \(got "0\.9"\)/);
    expect(() => new AdamW(params, { ...opts, decay: undefined as unknown as AdamWOptions["decay"] })).toThrow(/AdamW: decay must be a function/);
    expect(tf.memory().numTensors).toBe(before);
    new AdamW(params, opts).dispose(); // the defaults used above are valid
  });
});
