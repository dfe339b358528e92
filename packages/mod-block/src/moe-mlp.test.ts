// The mixture-of-experts MLP (docs/method.md section 6): exact expert capacity per expert and
// sequence, exactly the chosen tokens through each expert, a skip for tokens no expert took,
// the dense MLP when one expert has full capacity, gradients against finite differences.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { mulberry32, resolveModelConfig, routedTokens, type ExpertsConfig, type ModelConfig, type ResolvedModelConfig } from "@mixdepth/core";
import { expectNoLeaks, maxAbsDiff, testBackends, useBackend, variableGradCheck } from "@mixdepth/vitest-config/tf";
import { familyMlp, moeMlp, type ExpertMode, type ExpertRouting } from "./moe-mlp.js";
import { ModBlock } from "./mod-block.js";
import { TransformerBlock, transformerBlockWeightShapes } from "./transformer-block.js";

const base = (over: Partial<ModelConfig> = {}): ModelConfig => ({
  vocabSize: 11, dModel: 8, nHeads: 2, nLayers: 2, contextLength: 8, mlpHidden: 12, ...over,
});
const withExperts = (family: "gpt2" | "llama", experts: ExpertsConfig, over: Partial<ModelConfig> = {}) =>
  resolveModelConfig(base({ family, experts: { blocks: [1], ...experts }, ...over }));
const FAMILIES = ["gpt2", "llama"] as const;

/** moeMlp in its own tidy; the routing is host data. */
function runMoe(h: tf.Tensor3D, family: "gpt2" | "llama", cfg: ResolvedModelConfig, get: (n: string) => tf.Tensor, mode: ExpertMode) {
  let routing: ExpertRouting | undefined;
  const t = tf.tidy(() => {
    const r = moeMlp(h, family, cfg.experts!, get, { mode });
    routing = r.routing;
    return { out: r.out, aux: r.auxLosses };
  });
  return { ...t, routing: routing! };
}

describe.each(testBackends())("MoE MLP on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it("weights: a router over E + N experts and one family MLP per real expert, in place of the dense MLP", () => {
    const g = transformerBlockWeightShapes(withExperts("gpt2", { count: 2, noop: 1 }), 1).filter(([n]) => n.startsWith("mlp"));
    expect(g).toEqual([
      ["mlp.router.w", [8, 3]],
      ["mlp.experts.0.fc.w", [8, 12]], ["mlp.experts.0.fc.b", [12]], ["mlp.experts.0.proj.w", [12, 8]], ["mlp.experts.0.proj.b", [8]],
      ["mlp.experts.1.fc.w", [8, 12]], ["mlp.experts.1.fc.b", [12]], ["mlp.experts.1.proj.w", [12, 8]], ["mlp.experts.1.proj.b", [8]],
    ]);
    const l = transformerBlockWeightShapes(withExperts("llama", { count: 1, hidden: 4 }), 1).filter(([n]) => n.startsWith("mlp"));
    expect(l).toEqual([["mlp.router.w", [8, 1]], ["mlp.experts.0.gate.w", [8, 4]], ["mlp.experts.0.up.w", [8, 4]], ["mlp.experts.0.down.w", [4, 8]]]);
    // Block 0 is not listed: its MLP stays dense.
    expect(transformerBlockWeightShapes(withExperts("gpt2", { count: 2 }), 0).some(([n]) => n === "mlp.fc.w")).toBe(true);
  });

  it("each expert takes exactly k tokens of each sequence, and m is exactly the chosen tokens' gated expert outputs", async () => {
    for (const family of FAMILIES) {
      const cfg = withExperts(family, { count: 3, noop: 1, capacity: 0.375 });
      const block = new TransformerBlock(cfg, 1, mulberry32(4));
      const w = block.weights();
      const h = tf.randomNormal([2, 8, 8], 0, 1, "float32", 5) as tf.Tensor3D;
      await expectNoLeaks(() => {
        const get = (n: string) => w.get(n)!;
        const r = runMoe(h, family, cfg, get, "topk");
        const k = routedTokens(0.375, 8); // 3
        expect(r.routing.processed.map((rows) => rows.map((row) => row.length))).toEqual([[k, k], [k, k], [k, k]]);
        // Each expert's choice is the top-k of ITS probability column (ties toward the earlier position).
        const p = r.routing.probability;
        r.routing.processed.forEach((rows, e) =>
          rows.forEach((row, b) => {
            const col = Array.from({ length: 8 }, (_, i) => p[(b * 8 + i) * 4 + e]!);
            const want = col.map((v, i) => [v, i] as const).sort((a, c) => c[0] - a[0] || a[1] - c[1]).slice(0, k).map(([, i]) => i).sort((a, c) => a - c);
            expect(row).toEqual(want);
          }),
        );
        // Reference, token by token: m_i = sum over experts e that took i of p_e(i) * MLP_e(h_i).
        const hs = h.arraySync();
        const expected = tf.tidy(() =>
          tf.stack(hs.map((seq, b) => tf.stack(seq.map((tok, i) => {
            let acc = tf.zeros([8]);
            r.routing.processed.forEach((rows, e) => {
              if (!rows[b]!.includes(i)) return;
              const y = tf.reshape(familyMlp(tf.tensor2d([tok]), family, get, `mlp.experts.${e}`), [8]);
              acc = tf.add(acc, tf.mul(y, p[(b * 8 + i) * 4 + e]!));
            });
            return acc;
          })))),
        );
        expect(maxAbsDiff(r.out, expected), family).toBeLessThan(1e-5);
        // Tokens no real expert took get exactly 0 (a skip), and there are some.
        const out = r.out.arraySync();
        let skipped = 0;
        for (let b = 0; b < 2; b++) for (let i = 0; i < 8; i++) {
          if (r.routing.processed.some((rows) => rows[b]!.includes(i))) continue;
          skipped++;
          expect(out[b]![i]!.every((v) => v === 0)).toBe(true);
        }
        expect(skipped).toBeGreaterThan(0);
        expect(r.aux["experts_bce"]!.dataSync()[0]).toBeGreaterThan(0);
        tf.dispose([r.out, ...Object.values(r.aux), expected]);
      });
      h.dispose();
      block.dispose();
    }
  });

  it("tied router probabilities (zero router): still exactly k per expert, the earliest positions", async () => {
    const cfg = withExperts("gpt2", { count: 2, capacity: 0.5 });
    const block = new TransformerBlock(cfg, 1, mulberry32(4));
    block.weights().get("mlp.router.w")!.assign(tf.zeros([8, 2]));
    const h = tf.randomNormal([2, 8, 8], 0, 1, "float32", 5) as tf.Tensor3D;
    await expectNoLeaks(() => {
      const r = runMoe(h, "gpt2", cfg, (n) => block.weights().get(n)!, "topk");
      tf.dispose([r.out, ...Object.values(r.aux)]);
      expect(r.routing.processed).toEqual([[[0, 1, 2, 3], [0, 1, 2, 3]], [[0, 1, 2, 3], [0, 1, 2, 3]]]);
    });
    h.dispose();
    block.dispose();
  });

  it("one expert at full capacity is the dense block, bit for bit", async () => {
    for (const family of FAMILIES) {
      const denseCfg = resolveModelConfig(base({ family }));
      const moeCfg = withExperts(family, { count: 1, capacity: 1, auxLoss: null });
      const dense = new ModBlock(denseCfg, 1, mulberry32(7), 7);
      const moe = new ModBlock(moeCfg, 1, mulberry32(7), 7);
      const dw = dense.weights();
      for (const [name, v] of moe.weights()) {
        const src = dw.get(name.replace("mlp.experts.0.", "mlp."));
        if (src) v.assign(src);
      }
      const x = tf.randomNormal([2, 8, 8], 0, 1, "float32", 8) as tf.Tensor3D;
      await expectNoLeaks(() => {
        for (const mode of ["topk"] as const) {
          const a = dense.forward(x, { mode });
          const b = moe.forward(x, { mode, trace: true });
          expect(maxAbsDiff(a.x, b.x), `${family} ${mode}`).toBe(0);
          expect(b.experts!.processed).toEqual([[[0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3, 4, 5, 6, 7]]]);
          tf.dispose([a.x, b.x]);
        }
      });
      x.dispose();
      dense.dispose();
      moe.dispose();
    }
  });

  it("causal mode decides per token from its own input: expert e iff its logit > 0", async () => {
    const cfg = withExperts("llama", { count: 2, noop: 1 });
    const block = new TransformerBlock(cfg, 1, mulberry32(4));
    const get = (n: string) => block.weights().get(n)!;
    const h = tf.randomNormal([2, 8, 8], 0, 1, "float32", 9) as tf.Tensor3D;
    await expectNoLeaks(() => {
      const r = runMoe(h, "llama", cfg, get, "causal");
      const routing = r.routing;
      r.out.dispose();
      expect(r.aux).toEqual({}); // no aux loss in causal mode
      const logits = tf.tidy(() => tf.matMul(tf.reshape(h, [16, 8]), get("mlp.router.w") as tf.Tensor2D).arraySync() as number[][]);
      for (let e = 0; e < 2; e++) {
        for (let b = 0; b < 2; b++) {
          const want = Array.from({ length: 8 }, (_, i) => i).filter((i) => logits[b * 8 + i]![e]! > 0);
          expect(routing.processed[e]![b]).toEqual(want);
        }
      }
      // The prefix's decisions do not change when later tokens are removed (causal).
      const h5 = tf.slice(h, [0, 0, 0], [2, 5, 8]) as tf.Tensor3D;
      const short = runMoe(h5, "llama", cfg, get, "causal");
      const prefix = short.routing;
      tf.dispose([h5, short.out]);
      expect(prefix.processed).toEqual(routing.processed.map((rows) => rows.map((row) => row.filter((i) => i < 5))));
    });
    h.dispose();
    block.dispose();
  });

  it("gradients of the expert router, the experts and attention match finite differences", async () => {
    for (const family of FAMILIES) {
      const cfg = withExperts(family, { count: 2, noop: 1, capacity: 0.5 });
      const mod = new ModBlock(cfg, 1, mulberry32(12), 12);
      const w = mod.weights();
      // Spread the router so that a finite-difference step rarely flips an expert's choice;
      // a flip is detected by the routing key and that coordinate skipped.
      tf.tidy(() => w.get("mlp.router.w")!.assign(tf.mul(w.get("mlp.router.w")!, 4)));
      const x = tf.randomNormal([2, 8, 8], 0, 1, "float32", 13) as tf.Tensor3D;
      const g = tf.randomNormal([2, 8, 8], 0, 1, "float32", 14);
      const loss = () =>
        tf.tidy(() => {
          const out = mod.forward(x, { trace: true });
          // The block's update only (out - x): the residual's constant sum would drown it in float32 rounding.
          return { value: tf.addN([tf.sum(tf.mul(tf.sub(out.x, x), g)), ...Object.values(out.auxLosses)]) as tf.Scalar, key: JSON.stringify(out.experts!.processed) };
        });
      await expectNoLeaks(() => {
        const mlp = family === "gpt2" ? ["fc.w", "proj.b"] : ["gate.w", "down.w"];
        for (const name of ["mlp.router.w", `mlp.experts.0.${mlp[0]}`, `mlp.experts.1.${mlp[1]}`, "attn.qkv.w", "norm2.g"]) {
          expect(variableGradCheck(loss, w.get(name)!, { eps: 1e-2, maxCoords: 6, coords: "largest" }), `${family} ${name}`).toBeLessThan(3e-2);
        }
      });
      tf.dispose([x, g]);
      mod.dispose();
    }
  });

  it("no tensor growth over repeated forward and backward passes", async () => {
    const cfg = withExperts("gpt2", { count: 2, noop: 2, capacity: 0.25 }, { routing: { blocks: [1], capacity: 0.5, predictor: null } });
    const mod = new ModBlock(cfg, 1, mulberry32(2), 2);
    const x = tf.randomNormal([2, 8, 8], 0, 1, "float32", 3) as tf.Tensor3D;
    const vars = [...mod.weights().values()];
    const step = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const out = mod.forward(x);
          return tf.addN([tf.sum(tf.square(out.x)), ...Object.values(out.auxLosses)]) as tf.Scalar;
        }, vars);
        value.dispose();
        tf.dispose(Object.values(grads));
      });
    step();
    await expectNoLeaks(() => {
      for (let i = 0; i < 3; i++) step();
      for (const mode of ["topk", "causal"] as const) {
        const out = mod.forward(x, { mode, trace: true });
        tf.dispose([out.x, ...Object.values(out.auxLosses)]);
      }
    });
    x.dispose();
    mod.dispose();
  });

  it("token choice: each token at most in its top-1 expert, at most k per expert (the most probable kept), exact m; balance loss by hand", async () => {
    for (const family of FAMILIES) {
      const cfg = withExperts(family, { routing: "token-choice", count: 2, noop: 1, capacity: 0.25, balanceLoss: { weight: 0.5 } });
      const block = new TransformerBlock(cfg, 1, mulberry32(31));
      const get = (n: string) => block.weights().get(n)!;
      const h = tf.randomNormal([2, 8, 8], 0, 1, "float32", 32) as tf.Tensor3D;
      await expectNoLeaks(() => {
        const r = runMoe(h, family, cfg, get, "topk");
        const p = r.routing.probability;
        const prob = (b: number, i: number, e: number) => p[(b * 8 + i) * 3 + e]!;
        const top1 = (b: number, i: number) => [0, 1, 2].reduce((best, j) => (prob(b, i, j) > prob(b, i, best) ? j : best), 0);
        const k = routedTokens(0.25, 8); // 2
        let dropped = 0;
        let noop = 0;
        for (let b = 0; b < 2; b++) {
          for (let e = 0; e < 2; e++) {
            const picked = Array.from({ length: 8 }, (_, i) => i).filter((i) => top1(b, i) === e);
            const kept = picked.map((i) => [prob(b, i, e), i] as const).sort((x, y) => y[0] - x[0] || x[1] - y[1]).slice(0, k).map(([, i]) => i).sort((x, y) => x - y);
            expect(r.routing.processed[e]![b], `${family} expert ${e} row ${b}`).toEqual(kept);
            dropped += picked.length - kept.length;
          }
          noop += Array.from({ length: 8 }, (_, i) => i).filter((i) => top1(b, i) === 2).length;
        }
        expect(dropped + noop).toBeGreaterThan(0); // some tokens pass: dropped or sent to the no-op expert
        const out = r.out.arraySync();
        const hs = h.arraySync();
        for (let b = 0; b < 2; b++) {
          for (let i = 0; i < 8; i++) {
            const e = r.routing.processed.findIndex((rows) => rows[b]!.includes(i));
            if (e < 0) {
              expect(out[b]![i]!.every((v) => v === 0)).toBe(true);
              continue;
            }
            const y = tf.tidy(() => tf.mul(familyMlp(tf.tensor2d([hs[b]![i]!]), family, get, `mlp.experts.${e}`), prob(b, i, e)).dataSync());
            expect(maxAbsDiff(out[b]![i]!, y)).toBeLessThan(1e-5);
          }
        }
        // 0.5 * E * sum_e f_e * mean p_e, over the 16 tokens of the batch.
        let want = 0;
        for (let e = 0; e < 2; e++) {
          let f = 0;
          let mean = 0;
          for (let b = 0; b < 2; b++) for (let i = 0; i < 8; i++) {
            if (top1(b, i) === e) f += 1 / 16;
            mean += prob(b, i, e) / 16;
          }
          want += f * mean;
        }
        expect(r.aux["experts_balance"]!.dataSync()[0]).toBeCloseTo(0.5 * 2 * want, 5);
        expect(r.aux["experts_bce"]).toBeUndefined();
        tf.dispose([r.out, ...Object.values(r.aux)]);
        // Causal: no capacity; every token goes to its top-1 expert.
        const c = runMoe(h, family, cfg, get, "causal");
        for (let e = 0; e < 2; e++) for (let b = 0; b < 2; b++) expect(c.routing.processed[e]![b]).toEqual(Array.from({ length: 8 }, (_, i) => i).filter((i) => top1(b, i) === e));
        c.out.dispose();
      });
      h.dispose();
      block.dispose();
    }
  });

  it("token choice: gradients (router through the gates and the balance loss, experts) match finite differences", async () => {
    for (const family of FAMILIES) {
      const cfg = withExperts(family, { routing: "token-choice", count: 2, noop: 1, capacity: 0.375, balanceLoss: { weight: 0.5 } });
      const mod = new ModBlock(cfg, 1, mulberry32(33), 33);
      const w = mod.weights();
      tf.tidy(() => w.get("mlp.router.w")!.assign(tf.mul(w.get("mlp.router.w")!, 4)));
      const x = tf.randomNormal([2, 8, 8], 0, 1, "float32", 34) as tf.Tensor3D;
      const g = tf.randomNormal([2, 8, 8], 0, 1, "float32", 35);
      const loss = () =>
        tf.tidy(() => {
          const out = mod.forward(x, { trace: true });
          return { value: tf.addN([tf.sum(tf.mul(tf.sub(out.x, x), g)), ...Object.values(out.auxLosses)]) as tf.Scalar, key: JSON.stringify(out.experts!.processed) };
        });
      await expectNoLeaks(() => {
        const up = family === "gpt2" ? "fc.w" : "up.w";
        for (const name of ["mlp.router.w", `mlp.experts.0.${up}`, `mlp.experts.1.${up}`]) {
          expect(variableGradCheck(loss, w.get(name)!, { eps: 1e-2, maxCoords: 6, coords: "largest" }), `${family} ${name}`).toBeLessThan(3e-2);
        }
      });
      tf.dispose([x, g]);
      mod.dispose();
    }
  });

  it("the experts' causal predictor: its BCE reaches only its own weights (stop-gradient), has correct gradients, and decides causal routing", async () => {
    for (const family of FAMILIES) {
      const cfg = withExperts(family, { count: 2, noop: 1, capacity: 0.5, predictor: { hidden: 4 }, auxLoss: null });
      const mod = new ModBlock(cfg, 1, mulberry32(41), 41);
      const w = mod.weights();
      expect([...w.keys()].filter((n) => n.startsWith("mlp.predictor"))).toEqual(["mlp.predictor.w1", "mlp.predictor.b1", "mlp.predictor.w2", "mlp.predictor.b2"]);
      expect(w.get("mlp.predictor.w2")!.shape).toEqual([4, 2]);
      const x = tf.randomNormal([2, 8, 8], 0, 1, "float32", 42) as tf.Tensor3D;
      tf.tidy(() => w.get("mlp.router.w")!.assign(tf.mul(w.get("mlp.router.w")!, 4)));
      await expectNoLeaks(() => {
        const predictorLoss = () => tf.tidy(() => {
          const out = mod.forward(x, { trace: true });
          return { value: out.auxLosses["experts_predictor_bce"]! as tf.Scalar, key: JSON.stringify(out.experts!.processed) };
        });
        // Stop-gradient: nothing outside the predictor gets a gradient from its loss.
        const outside = ["mlp.router.w", "attn.qkv.w", "norm2.g"].map((n) => w.get(n)!);
        const { value, grads } = tf.variableGrads(() => predictorLoss().value, outside);
        for (const v of outside) expect(tf.tidy(() => (grads[v.name] ? tf.max(tf.abs(grads[v.name]!)).dataSync()[0] : 0)), v.name).toBe(0);
        const xGrad = tf.tidy(() => tf.grad((xi: tf.Tensor) => mod.forward(xi as tf.Tensor3D).auxLosses["experts_predictor_bce"]!)(x));
        expect(tf.tidy(() => tf.max(tf.abs(xGrad)).dataSync()[0])).toBe(0);
        tf.dispose([value, xGrad, ...Object.values(grads)]);
        for (const name of ["mlp.predictor.w1", "mlp.predictor.b2"]) {
          // A small step: the BCE is smooth and small, but ReLU kinks sit closer than 1e-2.
          expect(variableGradCheck(predictorLoss, w.get(name)!, { eps: 2e-3, maxCoords: 6, coords: "largest" }), `${family} ${name}`).toBeLessThan(3e-2);
        }
        // Causal mode: expert e takes token i iff its predictor logit is > 0 (not the router's).
        const h = tf.randomNormal([2, 8, 8], 0, 1, "float32", 43) as tf.Tensor3D;
        const get = (n: string) => w.get(n)!;
        const c = runMoe(h, family, cfg, get, "causal");
        expect(c.aux).toEqual({});
        const q = tf.tidy(() => {
          const hidden = tf.relu(tf.add(tf.matMul(tf.reshape(h, [16, 8]), get("mlp.predictor.w1") as tf.Tensor2D), get("mlp.predictor.b1")));
          return tf.add(tf.matMul(hidden, get("mlp.predictor.w2") as tf.Tensor2D), get("mlp.predictor.b2")).arraySync() as number[][];
        });
        const r = tf.tidy(() => tf.matMul(tf.reshape(h, [16, 8]), get("mlp.router.w") as tf.Tensor2D).arraySync() as number[][]);
        let differs = false;
        for (let e = 0; e < 2; e++) for (let b = 0; b < 2; b++) {
          const byPredictor = Array.from({ length: 8 }, (_, i) => i).filter((i) => q[b * 8 + i]![e]! > 0);
          expect(c.routing.processed[e]![b]).toEqual(byPredictor);
          differs ||= JSON.stringify(byPredictor) !== JSON.stringify(Array.from({ length: 8 }, (_, i) => i).filter((i) => r[b * 8 + i]![e]! > 0));
        }
        expect(differs).toBe(true); // the predictor, not the router threshold, decided
        tf.dispose([h, c.out]);
      });
      x.dispose();
      mod.dispose();
    }
  });

  it("router z-loss: weight * mean logsumexp(logits)^2 over all E + N columns, with correct gradients", async () => {
    const cfg = withExperts("gpt2", { count: 2, noop: 1, capacity: 0.5, auxLoss: null, zLoss: { weight: 0.1 } });
    const block = new TransformerBlock(cfg, 1, mulberry32(51));
    const get = (n: string) => block.weights().get(n)!;
    const h = tf.randomNormal([2, 8, 8], 0, 1, "float32", 52) as tf.Tensor3D;
    await expectNoLeaks(() => {
      const r = runMoe(h, "gpt2", cfg, get, "topk");
      const logits = tf.tidy(() => tf.matMul(tf.reshape(h, [16, 8]), get("mlp.router.w") as tf.Tensor2D).arraySync() as number[][]);
      const want = (0.1 * logits.reduce((a, row) => a + Math.log(row.reduce((s2, v) => s2 + Math.exp(v), 0)) ** 2, 0)) / 16;
      expect(r.aux["experts_z"]!.dataSync()[0]).toBeCloseTo(want, 5);
      expect(Object.keys(r.aux)).toEqual(["experts_z"]);
      tf.dispose([r.out, ...Object.values(r.aux)]);
      const zLoss = () => tf.tidy(() => moeMlp(h, "gpt2", cfg.experts!, get, { mode: "topk" }).auxLosses["experts_z"]!);
      expect(variableGradCheck(zLoss, block.weights().get("mlp.router.w")!, { eps: 1e-2, maxCoords: 8 })).toBeLessThan(1e-2);
      expect(tf.tidy(() => moeMlp(h, "gpt2", cfg.experts!, get, { mode: "causal" }).auxLosses)).toEqual({});
    });
    h.dispose();
    block.dispose();
  });
});
