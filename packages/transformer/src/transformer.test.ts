import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, maxAbsDiff, testBackends, useBackend, variableGradCheck } from "@mixdepth/vitest-config/tf";
import { routedTokens, type ModelConfig, type RoutingConfig } from "@mixdepth/core";
import { topkPositions } from "@mixdepth/router";
import { rmsNorm } from "@mixdepth/mod-block";
import { createTransformer, crossEntropy, fromWeights, type Transformer } from "./index.js";
import { registerTestRouters } from "../test/helpers.js";

const tiny = (family: "gpt2" | "llama", routing?: RoutingConfig, extra: Partial<ModelConfig> = {}): ModelConfig => ({
  vocabSize: 11,
  dModel: 8,
  nHeads: 2,
  nLayers: 2,
  contextLength: 8,
  family,
  ...(routing ? { routing } : {}),
  ...extra,
});

function tokens(b: number, s: number, seed: number, v = 11): tf.Tensor2D {
  let a = seed >>> 0;
  const data = Array.from({ length: b * s }, () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a % v;
  });
  return tf.tensor2d(data, [b, s], "int32");
}

/** Loss plus a key naming the routing decision (for finite differences across top-k). */
function lossWithKey(model: Transformer, x: tf.Tensor2D, y: tf.Tensor2D) {
  return () => {
    const out = model.forward(x, { trace: true });
    const value = tf.tidy(() => {
      const aux = Object.values(out.auxLosses);
      return tf.add(crossEntropy(out.logits, y), aux.length ? tf.addN(aux) : 0) as tf.Scalar;
    });
    tf.dispose([out.logits, ...Object.values(out.auxLosses)]);
    return { value, key: JSON.stringify(out.traces.map((t) => t.processed)) };
  };
}

beforeAll(() => registerTestRouters());

describe.each(testBackends())("transformer on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it.each(["gpt2", "llama"] as const)("%s: forward shapes, traces, aux losses, no leaks", async (family) => {
    await expectNoLeaks(() => {
      const model = createTransformer(tiny(family, { blocks: "every-other", capacity: 0.25 }), { seed: 1 });
      const x = tokens(2, 8, 3);
      const out = model.forward(x, { trace: true });
      expect(out.logits.shape).toEqual([2, 8, 11]);
      expect(out.traces).toHaveLength(1);
      expect(out.traces[0]?.layer).toBe(1);
      expect(Object.keys(out.auxLosses).sort()).toEqual(["aux_bce", "predictor_bce"]);
      // Shorter sequences: k follows S.
      const x5 = tokens(2, 5, 4);
      const out5 = model.forward(x5, { trace: true });
      expect(out5.traces[0]?.processed.map((r) => r.length)).toEqual([routedTokens(0.25, 5), routedTokens(0.25, 5)]);
      tf.dispose([x, x5, out.logits, out5.logits, ...Object.values(out.auxLosses), ...Object.values(out5.auxLosses)]);
      model.dispose();
    });
  });

  it("rejects sequences longer than contextLength", async () => {
    await expectNoLeaks(() => {
      const model = createTransformer(tiny("gpt2"), { seed: 1 });
      const x = tokens(1, 9, 1);
      expect(() => model.forward(x, { trace: true })).toThrow(/exceeds contextLength 8/);
      x.dispose();
      model.dispose();
    });
  });

  it.each(["gpt2", "llama"] as const)("%s: loss and variableGrads reach every trainable weight", async (family) => {
    await expectNoLeaks(() => {
      const model = createTransformer(tiny(family, { blocks: "every-other", capacity: 0.5 }), { seed: 2 });
      const x = tokens(2, 8, 5);
      const y = tokens(2, 8, 6);
      const parts = model.loss(x, y);
      expect(parts.lm.dataSync()[0]).toBeGreaterThan(1.5); // about ln 11 at init
      expect(Math.abs((parts.total.dataSync()[0] as number) - (parts.lm.dataSync()[0] as number) - (parts.aux.dataSync()[0] as number))).toBeLessThan(1e-5);
      tf.dispose([parts.total, parts.lm, parts.aux]);
      const vars = model.trainableVariables();
      const { value, grads } = tf.variableGrads(() => model.loss(x, y).total, vars);
      for (const [name, v] of model.getWeights()) {
        const g = grads[v.name];
        expect(g, name).toBeDefined();
        expect(g?.shape, name).toEqual(v.shape);
        expect(tf.tidy(() => tf.any(tf.notEqual(g as tf.Tensor, 0)).dataSync()[0]), `${name} has a zero gradient`).toBe(1);
      }
      tf.dispose([value, ...Object.values(grads), x, y]);
      model.dispose();
    });
  });

  it.each(["gpt2", "llama"] as const)("%s: full-model gradients match finite differences (router path through r)", async (family) => {
    await expectNoLeaks(() => {
      // No aux losses: the router weight learns only through r_i * f_i.
      const model = createTransformer(tiny(family, { blocks: "every-other", capacity: 0.5, auxLoss: null, predictor: null, causal: "threshold" }), { seed: 3 });
      // Larger weights so gradients stand well above float32 noise.
      for (const v of model.trainableVariables()) if (v.shape.length === 2) tf.tidy(() => v.assign(tf.mul(v, 10)));
      const x = tokens(2, 8, 7);
      const y = tokens(2, 8, 8);
      const names = ["tok_emb", "blocks.0.attn.qkv.w", "blocks.1.attn.qkv.w", "blocks.1.router.w", "final_norm.g", family === "gpt2" ? "blocks.1.mlp.fc.w" : "blocks.1.mlp.gate.w"];
      if (family === "gpt2") names.push("pos_emb");
      const w = model.getWeights();
      // Coordinates whose +-eps evaluations route differently are skipped (top-k is
      // piecewise constant); a variable where all were skipped gives NaN and fails.
      for (const name of names) {
        expect(variableGradCheck(lossWithKey(model, x, y), w.get(name)!, { eps: 1e-2, maxCoords: 3, coords: "largest" }), name).toBeLessThan(2e-2);
      }
      tf.dispose([x, y]);
      model.dispose();
    });
  });

  it.each(["gpt2", "llama"] as const)("%s: capacity 1 with an all-ones router equals the dense model exactly", async (family) => {
    await expectNoLeaks(() => {
      const mod = createTransformer(tiny(family, { blocks: "all", capacity: 1, router: "ones", auxLoss: null, predictor: null, causal: "threshold" }), { seed: 4 });
      const dense = fromWeights(tiny(family), mod.getWeights());
      const x = tokens(2, 8, 9);
      const a = mod.forward(x, { trace: true });
      const b = dense.forward(x, { trace: true });
      expect(maxAbsDiff(a.logits, b.logits)).toBe(0);
      expect(a.traces.every((t) => t.processed.every((row) => row.length === 8))).toBe(true);
      tf.dispose([x, a.logits, b.logits]);
      mod.dispose();
      dense.dispose();
    });
  });

  it("exactly k tokens per sequence and block, with tied scores, in position order", async () => {
    await expectNoLeaks(() => {
      const model = createTransformer(tiny("gpt2", { blocks: "all", capacity: 0.5, router: "ones", auxLoss: null, predictor: null, causal: "threshold" }), { seed: 5 });
      const x = tokens(3, 8, 10);
      const out = model.forward(x, { trace: true });
      expect(out.traces).toHaveLength(2);
      for (const t of out.traces) expect(t.processed).toEqual([[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3]]);
      tf.dispose([x, out.logits]);
      model.dispose();
      const learned = createTransformer(tiny("llama", { blocks: "all", capacity: 0.375 }), { seed: 6 });
      const x2 = tokens(4, 8, 11);
      const out2 = learned.forward(x2, { trace: true });
      for (const t of out2.traces) {
        for (const row of t.processed) {
          expect(row).toHaveLength(3);
          expect([...row].sort((p, q) => p - q)).toEqual(row);
        }
      }
      tf.dispose([x2, out2.logits, ...Object.values(out2.auxLosses)]);
      learned.dispose();
    });
  });

  it("llama: routed tokens are gathered in order at their ORIGINAL positions (hand-built reference)", async () => {
    await expectNoLeaks(() => {
      const S = 8;
      const model = createTransformer(tiny("llama", { blocks: [1], capacity: 0.5, router: "scrambled", auxLoss: null, predictor: null, causal: "threshold" }, { nLayers: 2 }), { seed: 7 });
      // Larger weights, so attention is far from uniform and positions matter visibly.
      for (const v of model.trainableVariables()) if (v.shape.length === 2) tf.tidy(() => v.assign(tf.mul(v, 20)));
      const x = tokens(1, S, 12);
      const out = model.forward(x, { trace: true });
      const score = (i: number) => 1 + ((5 * i) % S) / S;
      const idx = Array.from(topkPositions(Array.from({ length: S }, (_, i) => score(i)), 1, S, 4));
      expect(out.traces[0]?.processed).toEqual([idx]);
      expect(idx).toEqual([1, 3, 4, 6]); // uneven gaps: rotary by 0..k-1 would differ
      const w = model.getWeights();
      // The blocks' internals, reached past `private` for this hand-built reference only.
      type Branch = (x: tf.Tensor3D, p: Int32Array) => { out: tf.Tensor3D; kv: { k: tf.Tensor; v: tf.Tensor } };
      const blocks = (model as unknown as { blocks: { block: { branch: Branch } }[] }).blocks;
      const branch = (i: number, xs: tf.Tensor3D, p: number[]) => {
        const r = blocks[i]!.block.branch(xs, Int32Array.from(p));
        tf.dispose([r.kv.k, r.kv.v]);
        return r.out;
      };
      const reference = (positionsOf: (idx: number[]) => number[], pick: (idx: number[]) => number[]) =>
        tf.tidy(() => {
          let h = tf.gather(w.get("tok_emb") as tf.Tensor2D, x.reshape([S])).reshape([1, S, 8]) as tf.Tensor3D;
          h = tf.add(h, branch(0, h, Array.from({ length: S }, (_, i) => i)));
          const rows = pick(idx);
          const xs = tf.gather(h, rows, 1) as tf.Tensor3D;
          const f = branch(1, xs, positionsOf(rows));
          const hv = h.arraySync() as number[][][];
          const fv = f.arraySync() as number[][][];
          rows.forEach((p, j) => {
            hv[0]![p] = hv[0]![p]!.map((v, c) => v + score(p) * fv[0]![j]![c]!);
          });
          const hn = rmsNorm(tf.tensor3d(hv), w.get("final_norm.g") as tf.Tensor1D, 1e-5);
          return tf.matMul(hn.reshape([S, 8]), w.get("tok_emb") as tf.Tensor2D, false, true).reshape([1, S, 11]);
        });
      const good = reference((r) => r, (r) => r);
      const zeroBased = reference((r) => r.map((_, j) => j), (r) => r);
      const argsorted = reference((r) => r, (r) => r.map((_, j) => j));
      expect(maxAbsDiff(out.logits, good)).toBeLessThan(1e-5);
      expect(maxAbsDiff(out.logits, zeroBased)).toBeGreaterThan(1e-4);
      expect(maxAbsDiff(out.logits, argsorted)).toBeGreaterThan(1e-4);
      tf.dispose([x, out.logits, good, zeroBased, argsorted]);
      model.dispose();
    });
  });

  it.each(["threshold", "predictor"] as const)("causal routing (%s): logits at t ignore tokens after t; top-k routing does not", async (causal) => {
    await expectNoLeaks(() => {
      const model = createTransformer(tiny("gpt2", { blocks: "every-other", capacity: 0.25, causal }, { nLayers: 4 }), { seed: 8 });
      for (const v of model.trainableVariables()) if (v.shape.length === 2) tf.tidy(() => v.assign(tf.mul(v, 10)));
      const t = 3;
      const a = tokens(1, 8, 13);
      const av = a.dataSync();
      let topkChanged = 0;
      for (let trial = 0; trial < 6; trial++) {
        const bv = Array.from(av);
        for (let i = t + 1; i < 8; i++) bv[i] = (bv[i]! + 1 + trial + i) % 11;
        const b = tf.tensor2d(bv, [1, 8], "int32");
        const ca = model.forward(a, { routing: "causal" });
        const cb = model.forward(b, { routing: "causal" });
        const prefix = (l: tf.Tensor3D) => tf.slice(l, [0, 0, 0], [1, t + 1, 11]);
        const [pa, pb] = [prefix(ca.logits), prefix(cb.logits)];
        expect(maxAbsDiff(pa, pb)).toBeLessThan(1e-6);
        const ta = model.forward(a);
        const tb = model.forward(b);
        const [qa, qb] = [prefix(ta.logits), prefix(tb.logits)];
        if (maxAbsDiff(qa, qb) > 1e-4) topkChanged++;
        tf.dispose([b, ca.logits, cb.logits, pa, pb, qa, qb, ta.logits, tb.logits, ...Object.values(ta.auxLosses), ...Object.values(tb.auxLosses)]);
      }
      expect(topkChanged).toBeGreaterThan(0); // the causal check is not vacuous
      a.dispose();
      model.dispose();
    });
  });

  it("weights: names, determinism, setWeights errors, fromWeights round trip", async () => {
    await expectNoLeaks(() => {
      const config = tiny("gpt2", { blocks: "every-other", capacity: 0.5 }, { tieEmbeddings: false });
      const a = createTransformer(config, { seed: 11 });
      const b = createTransformer(config, { seed: 11 });
      const names = [...a.getWeights().keys()];
      expect(names.slice(0, 2)).toEqual(["tok_emb", "pos_emb"]);
      expect(names).toContain("blocks.1.router.w");
      expect(names).toContain("blocks.1.router.predictor.w1");
      expect(names).toContain("head.w");
      expect(names).not.toContain("blocks.0.router.w");
      expect(a.weightShapes().get("blocks.0.attn.qkv.w")).toEqual([8, 24]);
      for (const [n, v] of a.getWeights()) expect(maxAbsDiff(v, b.getWeights().get(n) as tf.Tensor), n).toBe(0);
      const bad = new Map<string, tf.Tensor>(a.getWeights());
      const wrong = tf.zeros([3, 3]);
      bad.set("blocks.0.attn.qkv.w", wrong);
      expect(() => b.setWeights(bad)).toThrow(/"blocks\.0\.attn\.qkv\.w" has shape \[3, 3\], the model expects \[8, 24\]/);
      expect(() => b.setWeights(new Map([["nope", wrong]]))).toThrow(/unknown weight "nope"/);
      expect(() => b.setWeights(new Map([["tok_emb", a.getWeights().get("tok_emb") as tf.Tensor]]))).toThrow(/missing weights/);
      const c = fromWeights(a.toJSON(), a.getWeights(), { seed: 99 });
      const x = tokens(1, 8, 1);
      const la = a.forward(x, { trace: true });
      const lc = c.forward(x, { trace: true });
      expect(maxAbsDiff(la.logits, lc.logits)).toBe(0);
      expect(c.toJSON()).toEqual(config);
      tf.dispose([wrong, x, la.logits, lc.logits, ...Object.values(la.auxLosses), ...Object.values(lc.auxLosses)]);
      [a, b, c].forEach((m) => m.dispose());
    });
  });

  it("router states: a stochastic model restored from weights and router states continues identically", async () => {
    await expectNoLeaks(() => {
      const config = tiny("gpt2", { blocks: "every-other", capacity: 0.5, router: "stochastic" });
      const a = createTransformer(config, { seed: 5 });
      const x = tokens(2, 8, 3);
      const run = (m: Transformer) => {
        const out = m.forward(x, { trace: true });
        tf.dispose([out.logits, ...Object.values(out.auxLosses)]);
        return JSON.stringify(out.traces.map((t) => t.processed));
      };
      run(a);
      const states = JSON.parse(JSON.stringify(a.getRouterStates())) as Record<string, unknown>;
      expect(Object.keys(states)).toEqual(["blocks.1"]);
      const expected = [run(a), run(a)];
      const b = fromWeights(config, a.getWeights(), { seed: 5 });
      b.setRouterStates(states);
      expect([run(b), run(b)]).toEqual(expected);
      expect(() => b.setRouterStates({ "blocks.0": { rng: 1 } })).toThrow(/setRouterStates: blocks\.0 has no router with state \(routers with state: blocks\.1\)/);
      const learned = createTransformer(tiny("gpt2", { blocks: "every-other", capacity: 0.5 }), { seed: 5 });
      expect(learned.getRouterStates()).toEqual({});
      tf.dispose(x);
      [a, b, learned].forEach((m) => m.dispose());
    });
  });
});

afterAll(() => undefined);
