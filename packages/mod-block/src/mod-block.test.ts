import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveModelConfig, type ModelConfig } from "@mixdepth/core";
import { mulberry32 } from "@mixdepth/core";
import { registerRouter, unregisterRouter, type Router } from "@mixdepth/router";
import { expectNoLeaks, gradCheck, maxAbsDiff, testBackends, useBackend, variableGradCheck } from "@mixdepth/vitest-config/tf";
import { ModBlock } from "./mod-block.js";
import { TransformerBlock, type KeyValues } from "./transformer-block.js";
import { gatherTokens, scatterAddTokens } from "./token-gather.js";

const base = (over: Partial<ModelConfig> = {}): ModelConfig => ({
  vocabSize: 11, dModel: 8, nHeads: 2, nLayers: 2, contextLength: 8, mlpHidden: 12, ...over,
});
const positionsFor = (b: number, s: number) => Int32Array.from({ length: b * s }, (_, i) => i % s);
/** A dense block's output x + f(x), the reference MoD must match. */
const denseForward = (block: TransformerBlock, x: tf.Tensor3D, pos: Int32Array) =>
  tf.tidy(() => {
    const r = block.branch(x, pos);
    return tf.add(x, r.out) as tf.Tensor3D;
  });

// A router whose scores are all 1 and which picks the first k positions: MoD at capacity 1
// must then equal the dense block exactly.
class OnesRouter implements Router {
  readonly kind = "ones";
  route(x: tf.Tensor3D, k: number) {
    const [b, s] = x.shape;
    return {
      scores: tf.ones([b, s]) as tf.Tensor2D,
      hostScores: new Float32Array(b * s).fill(1),
      positions: Int32Array.from({ length: b * k }, (_, i) => i % k),
      auxLosses: {},
    };
  }
  routeCausal(x: tf.Tensor3D) {
    const [b, s] = x.shape;
    const n = b * s;
    return { scores: tf.ones([b, s]) as tf.Tensor2D, hostScores: new Float32Array(n).fill(1), selected: new Uint8Array(n).fill(1), probability: new Float32Array(n).fill(1) };
  }
  weights() {
    return new Map<string, tf.Variable>();
  }
  toJSON() {
    return { kind: this.kind, options: {} };
  }
  dispose() {}
}

beforeAll(() => registerRouter("ones", () => new OnesRouter(), { override: true }));
afterAll(() => unregisterRouter("ones"));

describe.each(testBackends())("gather/scatter on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it("gathers and scatters per row, with gradients matching finite differences", async () => {
    const idx = tf.tensor2d([[0, 2], [1, 3]], [2, 2], "int32");
    const x = tf.tensor3d(Array.from({ length: 2 * 4 * 3 }, (_, i) => Math.sin(i)), [2, 4, 3]);
    const y = tf.tensor3d(Array.from({ length: 2 * 2 * 3 }, (_, i) => Math.cos(i)), [2, 2, 3]);
    const g = tf.tensor3d(Array.from({ length: 2 * 4 * 3 }, (_, i) => Math.cos(3 * i)), [2, 4, 3]);
    await expectNoLeaks(() => {
      const gathered = gatherTokens(x, idx);
      expect(gathered.arraySync()[1]![1]).toEqual((x.arraySync()[1]![3]));
      const scattered = scatterAddTokens(x, y, idx);
      const s = scattered.arraySync();
      expect(maxAbsDiff(s[0]![2]!, x.arraySync()[0]![2]!.map((v, j) => v + y.arraySync()[0]![1]![j]!))).toBeLessThan(1e-6);
      expect(s[0]![1]).toEqual(x.arraySync()[0]![1]); // not routed: unchanged
      tf.dispose([gathered, scattered]);
      const gy = tf.tidy(() => tf.slice(g, [0, 0, 0], [2, 2, 3]));
      expect(gradCheck((a) => tf.sum(tf.mul(gatherTokens(a as tf.Tensor3D, idx), gy)) as tf.Scalar, [x])).toBeLessThan(1e-2);
      expect(
        gradCheck((a, b) => tf.sum(tf.mul(tf.square(scatterAddTokens(a as tf.Tensor3D, b as tf.Tensor3D, idx)), g)) as tf.Scalar, [x, y]),
      ).toBeLessThan(1e-2);
      gy.dispose();
    });
    tf.dispose([idx, x, y, g]);
  });
});

describe.each(testBackends())("MoD block on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it("capacity 1 with all-ones router scores equals the dense block exactly", async () => {
    for (const family of ["gpt2", "llama"] as const) {
      const cfg = resolveModelConfig(base({ family, routing: { blocks: [1], capacity: 1, router: "ones", auxLoss: null, predictor: null, causal: "threshold" } }));
      const mod = new ModBlock(cfg, 1, mulberry32(5), 5);
      const dense = new TransformerBlock(cfg, 1, mulberry32(5)); // same seed -> same weights
      const x = tf.randomNormal([2, 8, 8], 0, 1, "float32", 2) as tf.Tensor3D;
      const pos = positionsFor(2, 8);
      await expectNoLeaks(() => {
        const b = denseForward(dense, x, pos);
        for (const mode of ["topk", "causal"] as const) {
          const a = mod.forward(x, { mode });
          expect(maxAbsDiff(a.x, b), mode).toBe(0);
          a.x.dispose();
        }
        b.dispose();
      });
      x.dispose();
      mod.dispose();
      dense.dispose();
    }
  });

  it("processes exactly k tokens per sequence, in order, at their original positions", async () => {
    const cfg = resolveModelConfig(base({ family: "llama", routing: { blocks: [1], capacity: 0.375, predictor: null } }));
    const mod = new ModBlock(cfg, 1, mulberry32(3), 3);
    const block = new TransformerBlock(cfg, 1, mulberry32(3)); // the same weights as mod's
    // Large attention weights so that the attention pattern (and so rotary positions) matters.
    for (const qkv of [mod.weights().get("attn.qkv.w")!, block.weights().get("attn.qkv.w")!]) tf.tidy(() => qkv.assign(tf.mul(qkv, 50)));
    const x = tf.randomNormal([3, 8, 8], 0, 1, "float32", 4) as tf.Tensor3D;
    const branch = (rows: number[][][], pos: Int32Array) => {
      const r = block.branch(tf.tensor3d(rows), pos);
      tf.dispose([r.kv.k, r.kv.v]);
      return r.out;
    };
    await expectNoLeaks(() => {
      const out = mod.forward(x, { trace: true });
      const k = 3; // round(0.375 * 8)
      const trace = out.trace!;
      expect(trace.processed.map((r) => r.length)).toEqual([k, k, k]);
      for (const row of trace.processed) expect([...row].sort((a, b) => a - b)).toEqual(row);
      // Reference: gather by hand, run the branch at the ORIGINAL positions, add r * f back.
      const xs = x.arraySync();
      const expected = tf.tidy(() => {
        const rows = trace.processed.map((row, b) => row.map((i) => xs[b]![i]!));
        const f = branch(rows, Int32Array.from(trace.processed.flat())).arraySync();
        return tf.tensor3d(xs.map((seq, b) => seq.map((tok, i) => {
          const j = trace.processed[b]!.indexOf(i);
          return j < 0 ? tok : tok.map((v, c) => v + trace.scores[b]![i]! * f[b]![j]![c]!);
        })));
      });
      expect(maxAbsDiff(out.x, expected)).toBeLessThan(1e-5);
      // Not vacuous: positions 0..k-1 would give a different branch output under rotary.
      const wrong = tf.tidy(() => {
        const rows = trace.processed.map((row, b) => row.map((i) => xs[b]![i]!));
        const f0 = branch(rows, positionsFor(3, k));
        const f1 = branch(rows, Int32Array.from(trace.processed.flat()));
        return maxAbsDiff(f0, f1);
      });
      expect(wrong).toBeGreaterThan(1e-4);
      tf.dispose([out.x, expected, ...Object.values(out.auxLosses)]);
    });
    x.dispose();
    mod.dispose();
    block.dispose();
  });

  it("routes exactly k with tied router scores (all equal)", async () => {
    const cfg = resolveModelConfig(base({ routing: { blocks: [1], capacity: 0.5, predictor: null } }));
    const mod = new ModBlock(cfg, 1, mulberry32(3), 3);
    mod.weights().get("router.w")!.assign(tf.zeros([8, 1]));
    const x = tf.randomNormal([2, 8, 8], 0, 1, "float32", 4) as tf.Tensor3D;
    await expectNoLeaks(() => {
      const out = mod.forward(x, { trace: true });
      expect(out.trace!.processed).toEqual([[0, 1, 2, 3], [0, 1, 2, 3]]);
      // r = 0 for every token: the block changes nothing, yet its gradient reaches w
      expect(maxAbsDiff(out.x, x)).toBe(0);
      tf.dispose([out.x, ...Object.values(out.auxLosses)]);
    });
    x.dispose();
    mod.dispose();
  });

  it("gradients of router and block weights match finite differences", async () => {
    for (const family of ["gpt2", "llama"] as const) {
      const cfg = resolveModelConfig(base({ family, routing: { blocks: [1], capacity: 0.5, predictor: { hidden: 4 } } }));
      const mod = new ModBlock(cfg, 1, mulberry32(11), 11);
      // Spread the router scores so a finite-difference step never flips the top-k choice.
      const rw = mod.weights().get("router.w")!;
      tf.tidy(() => rw.assign(tf.mul(rw, 10)));
      const x = tf.randomNormal([2, 8, 8], 0, 1, "float32", 6) as tf.Tensor3D;
      const g = tf.randomNormal([2, 8, 8], 0, 1, "float32", 7);
      const loss = () =>
        tf.tidy(() => {
          const out = mod.forward(x);
          const aux = Object.values(out.auxLosses);
          return tf.addN([tf.sum(tf.mul(out.x, g)), ...aux]) as tf.Scalar;
        });
      await expectNoLeaks(() => {
        const w = mod.weights();
        for (const name of ["router.w", "attn.qkv.w", "mlp." + (family === "gpt2" ? "fc.w" : "gate.w"), "norm1.g", "router.predictor.w1"]) {
          expect(variableGradCheck(loss, w.get(name)!, { eps: 1e-2, maxCoords: 6 }), `${family} ${name}`).toBeLessThan(3e-2);
        }
      });
      tf.dispose([x, g]);
      mod.dispose();
    }
  });

  it("causal mode (threshold and predictor) has gradients, matching finite differences", async () => {
    // The causal decision is a comparison (no gradient); it must not sit on the tape between the
    // weights and the loss, or tfjs refuses to differentiate (LogicalAnd/Greater have no gradient).
    for (const causal of ["threshold", "predictor"] as const) {
      const cfg = resolveModelConfig(base({ family: "gpt2", routing: { blocks: [1], capacity: 0.5, predictor: { hidden: 4 }, causal } }));
      const mod = new ModBlock(cfg, 1, mulberry32(13), 13);
      const rw = mod.weights().get("router.w")!;
      tf.tidy(() => rw.assign(tf.mul(rw, 10)));
      const x = tf.randomNormal([2, 8, 8], 0, 1, "float32", 8) as tf.Tensor3D;
      const g = tf.randomNormal([2, 8, 8], 0, 1, "float32", 9);
      const loss = () => tf.tidy(() => tf.sum(tf.mul(mod.forward(x, { mode: "causal" }).x, g)) as tf.Scalar);
      await expectNoLeaks(() => {
        const w = mod.weights();
        for (const name of ["router.w", "attn.qkv.w", "mlp.fc.w"]) {
          expect(variableGradCheck(loss, w.get(name)!, { eps: 1e-2, maxCoords: 6 }), `${causal} ${name}`).toBeLessThan(3e-2);
        }
      });
      tf.dispose([x, g]);
      mod.dispose();
    }
  });

  it("the branch with a KV cache equals the branch over the whole sequence", async () => {
    for (const family of ["gpt2", "llama"] as const) {
      const cfg = resolveModelConfig(base({ family }));
      const block = new TransformerBlock(cfg, 0, mulberry32(9));
      const x = tf.randomNormal([1, 6, 8], 0, 1, "float32", 8) as tf.Tensor3D;
      // Non-contiguous original positions, as in a routed block's cache.
      const pos = Int32Array.from([0, 2, 3, 5, 6, 7]);
      await expectNoLeaks(() => {
        const full = block.branch(x, pos);
        let past: KeyValues | null = null;
        const steps: tf.Tensor[] = [];
        for (let t = 0; t < 6; t++) {
          const xt = tf.slice(x, [0, t, 0], [1, 1, 8]) as tf.Tensor3D;
          const r = block.branch(xt, pos.subarray(t, t + 1), { past });
          if (past) tf.dispose([past.k, past.v]);
          past = r.kv;
          steps.push(r.out);
          xt.dispose();
        }
        expect(Array.from(past!.positions)).toEqual(Array.from(pos));
        const stepped = tf.concat(steps, 1);
        expect(maxAbsDiff(stepped, full.out)).toBeLessThan(1e-4);
        tf.dispose([stepped, ...steps, full.out, full.kv.k, full.kv.v, past!.k, past!.v]);
      });
      x.dispose();
      block.dispose();
    }
  });

  it("causal mode: a batch with rows routing different numbers of tokens equals each row alone", async () => {
    // Rows of one batch choose different counts, so the shorter rows are padded (masked, gated 0).
    for (const family of ["gpt2", "llama"] as const) {
      const cfg = resolveModelConfig(base({ family, routing: { blocks: [1], capacity: 0.5, predictor: null, causal: "threshold" } }));
      const mod = new ModBlock(cfg, 1, mulberry32(17), 17);
      const x = tf.randomNormal([3, 8, 8], 0, 1, "float32", 12) as tf.Tensor3D;
      await expectNoLeaks(() => {
        const all = mod.forward(x, { mode: "causal", trace: true });
        const counts = all.trace!.processed.map((r) => r.length);
        expect(new Set(counts).size, `counts ${counts.join(",")}`).toBeGreaterThan(1); // not vacuous: padding happens
        for (let b = 0; b < 3; b++) {
          const row = tf.slice(x, [b, 0, 0], [1, 8, 8]) as tf.Tensor3D;
          const one = mod.forward(row, { mode: "causal" });
          const want = tf.slice(all.x, [b, 0, 0], [1, 8, 8]);
          expect(maxAbsDiff(one.x, want)).toBeLessThan(1e-5);
          tf.dispose([row, one.x, want]);
        }
        all.x.dispose();
      });
      x.dispose();
      mod.dispose();
    }
  });

  it("a KV cache needs causal routing", () => {
    const cfg = resolveModelConfig(base({ routing: { blocks: [1], capacity: 0.5 } }));
    const mod = new ModBlock(cfg, 1, mulberry32(1), 1);
    const x = tf.zeros([1, 2, 8]) as tf.Tensor3D;
    expect(() => mod.forward(x, { mode: "topk", cache: { past: null } })).toThrow(/KV cache needs routing "causal"/);
    x.dispose();
    mod.dispose();
  });
});

describe("cpu and wasm agree", () => {
  it("on a routed llama block's output", async () => {
    const outs: Float32Array[] = [];
    for (const b of testBackends()) {
      await useBackend(b);
      const cfg = resolveModelConfig(base({ family: "llama", routing: { blocks: [1], capacity: 0.5 } }));
      const mod = new ModBlock(cfg, 1, mulberry32(21), 21);
      const x = tf.tensor3d(Array.from({ length: 2 * 8 * 8 }, (_, i) => Math.sin(0.37 * i)), [2, 8, 8]);
      const out = mod.forward(x);
      outs.push(out.x.dataSync() as Float32Array);
      tf.dispose([x, out.x, ...Object.values(out.auxLosses)]);
      mod.dispose();
    }
    for (const o of outs.slice(1)) expect(maxAbsDiff(o, outs[0]!)).toBeLessThan(1e-4);
  });
});
