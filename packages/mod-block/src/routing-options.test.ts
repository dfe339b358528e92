// The routing options of the follow-ups at the block (docs/method.md section 6, routing options from the follow-ups): capacity
// warm-up (Mixture-of-Recursions) and threshold-p routing at training time (MoDification).
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { capacityAt, mulberry32, resolveModelConfig, routedTokens, type ModelConfig } from "@mixdepth/core";
import { expectNoLeaks, maxAbsDiff, testBackends, useBackend, variableGradCheck } from "@mixdepth/vitest-config/tf";
import { ModBlock } from "./mod-block.js";

const base = (routing: ModelConfig["routing"]): ModelConfig => ({ vocabSize: 11, dModel: 8, nHeads: 2, nLayers: 2, contextLength: 8, mlpHidden: 12, family: "gpt2", routing });

describe.each(testBackends())("routing options on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it("capacity warm-up: the step sets k by the cosine, and no step means the target", async () => {
    const cfg = resolveModelConfig(base({ blocks: [1], capacity: 0.25, capacityWarmup: { steps: 4 }, predictor: null }));
    const mod = new ModBlock(cfg, 1, mulberry32(3), 3);
    const x = tf.randomNormal([2, 8, 8], 0, 1, "float32", 4) as tf.Tensor3D;
    await expectNoLeaks(() => {
      // k by hand: round(8 * c(t)), c = 1, 0.8902, 0.625, 0.3598, then 0.25: 8, 7, 5, 3, 2.
      for (const [step, k] of [[0, 8], [1, 7], [2, 5], [3, 3], [4, 2], [50, 2], [undefined, 2]] as const) {
        expect(routedTokens(capacityAt(cfg.routing, step), 8)).toBe(k);
        const out = mod.forward(x, { trace: true, ...(step === undefined ? {} : { step }) });
        expect(out.tokens, `step ${step}`).toBe(k);
        expect(out.trace!.processed.map((r) => r.length), `step ${step}`).toEqual([k, k]);
        tf.dispose([out.x, ...Object.values(out.auxLosses)]);
      }
    });
    x.dispose();
    mod.dispose();
  });

  it("threshold training processes exactly the tokens whose router probability exceeds p, gated by r", async () => {
    const p = 0.6;
    const cfg = resolveModelConfig(base({ blocks: [1], capacity: 0.125, train: "threshold", threshold: p }));
    const causal = resolveModelConfig(base({ blocks: [1], capacity: 0.125, auxLoss: null, predictor: null, causal: "threshold" }));
    const mod = new ModBlock(cfg, 1, mulberry32(5), 5);
    const ref = new ModBlock(causal, 1, mulberry32(5), 5); // the same weights
    for (const m of [mod, ref]) {
      const w = m.weights().get("router.w")!;
      tf.tidy(() => w.assign(tf.mul(w, 3))); // spread the probabilities across 0.5 and p
    }
    const x = tf.randomNormal([2, 8, 8], 0, 1, "float32", 6) as tf.Tensor3D;
    await expectNoLeaks(() => {
      const out = mod.forward(x, { trace: true });
      const t = out.trace!;
      const want = t.probability!.map((row) => row.flatMap((q, i) => (q > p ? [i] : [])));
      expect(t.processed).toEqual(want);
      const counts = want.map((r) => r.length);
      expect(new Set(counts).size, "rows choose different numbers of tokens").toBeGreaterThan(1);
      expect(Math.min(...counts)).toBeGreaterThan(0);
      expect(out.tokens).toBe(Math.max(...counts));
      expect(Object.keys(out.auxLosses)).toEqual([]);
      // p = 0.5 is the causal threshold rule; at p = 0.6 fewer tokens pass and the outputs differ.
      const half = new ModBlock(resolveModelConfig(base({ blocks: [1], capacity: 0.125, train: "threshold" })), 1, mulberry32(5), 5);
      half.weights().get("router.w")!.assign(ref.weights().get("router.w")!);
      const a = half.forward(x);
      const b = ref.forward(x, { mode: "causal" });
      expect(maxAbsDiff(a.x, b.x)).toBe(0);
      expect(maxAbsDiff(out.x, b.x)).toBeGreaterThan(1e-4);
      // Untaken tokens pass unchanged.
      const xs = x.arraySync();
      const ys = out.x.arraySync();
      for (let r = 0; r < 2; r++) for (let i = 0; i < 8; i++) if (!want[r]!.includes(i)) expect(ys[r]![i]).toEqual(xs[r]![i]);
      tf.dispose([out.x, a.x, b.x]);
      half.dispose();
    });
    x.dispose();
    mod.dispose();
    ref.dispose();
  });

  it("threshold training: gradients of the router and the block match finite differences", async () => {
    const cfg = resolveModelConfig(base({ blocks: [1], capacity: 0.125, train: "threshold", threshold: 0.4 }));
    const mod = new ModBlock(cfg, 1, mulberry32(11), 11);
    const rw = mod.weights().get("router.w")!;
    tf.tidy(() => rw.assign(tf.mul(rw, 10))); // no probability within a finite-difference step of p
    const x = tf.randomNormal([2, 8, 8], 0, 1, "float32", 7) as tf.Tensor3D;
    const g = tf.randomNormal([2, 8, 8], 0, 1, "float32", 8);
    const loss = () => tf.tidy(() => tf.sum(tf.mul(mod.forward(x).x, g)) as tf.Scalar);
    await expectNoLeaks(() => {
      const w = mod.weights();
      for (const name of ["router.w", "attn.qkv.w", "mlp.fc.w"]) expect(variableGradCheck(loss, w.get(name)!, { eps: 1e-2, maxCoords: 6 }), name).toBeLessThan(3e-2);
    });
    tf.dispose([x, g]);
    mod.dispose();
  });
});
