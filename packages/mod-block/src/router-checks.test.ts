// Every router result is checked on the host before the block uses it: a custom router that
// breaks the contract (duplicate, descending or out-of-range positions, the wrong k, scores
// of the wrong shape, a causal decision of the wrong length or not 0/1, weights unlike its
// declared shapes) is refused with a RouterOutputError naming the kind and the block, and
// the result's tensors are freed.
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mulberry32, resolveModelConfig, type ModelConfig } from "@mixdepth/core";
import { registerRouter, unregisterRouter, type CausalRouteResult, type RouteResult, type Router } from "@mixdepth/router";
import { expectNoLeaks, testBackends, useBackend } from "@mixdepth/vitest-config/tf";
import { ModBlock } from "./mod-block.js";
import { RouterOutputError } from "./router-checks.js";

type Lie = { route?: (r: RouteResult, k: number) => RouteResult; causal?: (r: CausalRouteResult) => CausalRouteResult };
let lie: Lie = {};

// Scores 0.5 everywhere, the first k positions, every token in causal mode; `lie` bends it.
class Liar implements Router {
  readonly kind = "liar";
  route(x: tf.Tensor3D, k: number): RouteResult {
    const [b, s] = x.shape;
    const r = { scores: tf.fill([b, s], 0.5) as tf.Tensor2D, hostScores: new Float32Array(b * s).fill(0.5), positions: Int32Array.from({ length: b * k }, (_, i) => i % k), auxLosses: { aux: tf.scalar(0.1) } };
    return lie.route ? lie.route(r, k) : r;
  }
  routeCausal(x: tf.Tensor3D): CausalRouteResult {
    const [b, s] = x.shape;
    const r = { scores: tf.fill([b, s], 0.5) as tf.Tensor2D, hostScores: new Float32Array(b * s).fill(0.5), selected: new Uint8Array(b * s).fill(1), probability: new Float32Array(b * s).fill(0.6) };
    return lie.causal ? lie.causal(r) : r;
  }
  weights() {
    return new Map<string, tf.Variable>();
  }
  toJSON() {
    return { kind: this.kind, options: {} };
  }
  dispose() {}
}

beforeAll(() => registerRouter("liar", () => new Liar(), { override: true }));
afterAll(() => unregisterRouter("liar"));

const cfg = (router = "liar") =>
  resolveModelConfig({ vocabSize: 11, dModel: 8, nHeads: 2, nLayers: 2, contextLength: 8, mlpHidden: 12, routing: { blocks: [1], capacity: 0.5, router, auxLoss: null, predictor: null } } as ModelConfig);

const withPositions = (p: (k: number) => number[]) => (r: RouteResult, k: number) => ({ ...r, positions: Int32Array.from([...p(k), ...p(k)]) });

describe.each(testBackends())("router results on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  const cases: [string, Lie, "topk" | "causal", RegExp][] = [
    ["duplicate positions", { route: withPositions((k) => Array.from({ length: k }, () => 0)) }, "topk", /returned positions 0, 0 in sequence 0; each sequence's positions must be strictly ascending/],
    ["descending positions", { route: withPositions((k) => Array.from({ length: k }, (_, i) => k - 1 - i)) }, "topk", /returned positions 3, 2 in sequence 0; .*strictly ascending/],
    ["out-of-range positions", { route: withPositions((k) => Array.from({ length: k }, (_, i) => i + 5)) }, "topk", /returned position 8 in sequence 0; positions must be integers in \[0, 8\)/],
    ["the wrong k", { route: (r) => ({ ...r, positions: Int32Array.from([0, 1, 2, 0, 1, 2]) }) }, "topk", /returned 6 positions; expected 2 x 4 = 8/],
    ["scores of the wrong shape", { route: (r) => { const t = tf.concat([r.scores, r.scores], 1) as tf.Tensor2D; r.scores.dispose(); return { ...r, scores: t }; } }, "topk", /scores must be a float32 tensor \[2, 8\] \(got float32 \[2, 16\]\)/],
    ["a causal decision of the wrong length", { causal: (r) => ({ ...r, selected: r.selected.subarray(0, 15) }) }, "causal", /selected must hold 16 decisions .*got 15/],
    ["a causal decision that is not 0/1", { causal: (r) => ({ ...r, selected: Uint8Array.from(r.selected, (v, i) => (i === 3 ? 2 : v)) }) }, "causal", /selected\[3\] is 2; decisions must be 0 or 1/],
    ["a causal probability of the wrong length", { causal: (r) => ({ ...r, probability: new Float32Array(3) }) }, "causal", /probability must hold 16 numbers/],
  ];

  it.each(cases)("refuses %s, naming the kind and the block, without leaks", async (_name, l, mode, message) => {
    const block = new ModBlock(cfg(), 1, mulberry32(1), 1);
    const x = tf.randomNormal([2, 8, 8], 0, 1, "float32", 3) as tf.Tensor3D;
    lie = l;
    try {
      await expectNoLeaks(() => {
        expect(() => block.forward(x, { mode })).toThrow(RouterOutputError);
        expect(() => block.forward(x, { mode })).toThrow(new RegExp(`^block 1: the "liar" router's ${mode === "topk" ? "route\\(x, k = 4\\)" : "routeCausal\\(x\\)"} ${message.source}`));
      });
      // The observation path (top-k with the causal decision alongside) is checked too.
      if (mode === "causal") {
        await expectNoLeaks(() => {
          expect(() => block.forward(x, { mode: "topk", observe: () => {} })).toThrow(RouterOutputError);
        });
      }
    } finally {
      lie = {};
      x.dispose();
      block.dispose();
    }
  });

  it("a valid result passes", async () => {
    const block = new ModBlock(cfg(), 1, mulberry32(1), 1);
    const x = tf.randomNormal([2, 8, 8], 0, 1, "float32", 3) as tf.Tensor3D;
    await expectNoLeaks(() => {
      for (const mode of ["topk", "causal"] as const) {
        const out = block.forward(x, { mode });
        tf.dispose([out.x, ...Object.values(out.auxLosses)]);
      }
    });
    x.dispose();
    block.dispose();
  });

  it("a router whose weights are unlike its declared weightShapes is refused when the block is built", () => {
    registerRouter(
      "liar-shapes",
      () => {
        const w = tf.tidy(() => tf.variable(tf.zeros([4, 1])));
        return Object.assign(new Liar(), { kind: "liar-shapes", weights: () => new Map([["w", w]]), dispose: () => w.dispose() });
      },
      { override: true, weightShapes: () => new Map([["w", [8, 1]]]) },
    );
    try {
      const before = tf.memory().numTensors;
      expect(() => new ModBlock(cfg("liar-shapes"), 1, mulberry32(1), 1)).toThrow(RouterOutputError);
      expect(() => new ModBlock(cfg("liar-shapes"), 1, mulberry32(1), 1)).toThrow(/^block 1: the "liar-shapes" router could not be created: .*w \[4, 1\].*declare w \[8, 1\]/);
      expect(tf.memory().numTensors - before).toBeLessThanOrEqual(0);
    } finally {
      unregisterRouter("liar-shapes");
    }
  });
});
