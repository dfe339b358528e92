// The l2-norm router on its own: it routes the largest-norm tokens, calibrates its causal
// threshold, keeps it as state, frees its tensors, and the cost it declares equals the matmul
// FLOPs a model with it executes (cpu kernel trace).
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, useBackend } from "@mixdepth/vitest-config/tf";
import { resolveModelConfig, type ModelConfig } from "@mixdepth/core";
import { forwardFlops } from "@mixdepth/flops-accounting";
import { checkRouterConfig, createRouter, routerCost, routerRegistry, unregisterRouter, type RouterContext, type RouterPlugin } from "@mixdepth/router";
import { createTransformer, kernelMatmulFlops } from "@mixdepth/transformer";
import * as plugin from "./index.js";
import type { L2NormRouter } from "./index.js";

// The module is a RouterPlugin as the CLI and @mixdepth/train/node load it (a type error otherwise).
const asPlugin: RouterPlugin = plugin;

const ctx = (options: Record<string, unknown> = {}): RouterContext => ({ dModel: 2, layerIndex: 1, auxLoss: null, predictor: null, options, seed: 0 });

describe("l2-norm router", () => {
  beforeAll(() => {
    useBackend("cpu");
    void asPlugin.register(routerRegistry());
  });
  afterAll(() => unregisterRouter("l2-norm"));

  it("routes the k largest-norm tokens, scores r = g * ||x|| / sqrt(d), and calibrates tau towards the k-th largest", async () => {
    const x = tf.tensor3d([[[3, 4], [0, 0], [1, 1], [6, 8]]]); // ||x|| = 5, 0, sqrt2, 10
    const r = createRouter("l2-norm", ctx({ momentum: 0.5, initThreshold: 0 }));
    await expectNoLeaks(() => {
      const out = r.route(x, 2);
      expect(Array.from(out.positions)).toEqual([0, 3]);
      const s = Math.SQRT2;
      expect(Array.from(out.scores.dataSync()).map((v) => +v.toFixed(5))).toEqual([5 / s, 0, 1, 10 / s].map((v) => +v.toFixed(5)));
      out.scores.dispose();
    });
    const router = r as L2NormRouter;
    // k-th (2nd) largest score 5/sqrt2; tau = 0.5 * 0 + 0.5 * 5/sqrt2
    expect(router.causalThreshold).toBeCloseTo(0.5 * (5 / Math.SQRT2), 5);
    await expectNoLeaks(() => {
      const c = r.routeCausal(x, "threshold");
      expect(Array.from(c.selected)).toEqual([1, 0, 0, 1]); // 3.54 and 7.07 > 1.77
      c.scores.dispose();
    });
    expect(router.getState()).toEqual({ threshold: router.causalThreshold });
    const b = createRouter("l2-norm", ctx());
    b.setState!(router.getState());
    expect((b as L2NormRouter).causalThreshold).toBe(router.causalThreshold);
    expect(() => b.setState!({ threshold: "x" })).toThrow(/expected \{ threshold: <number> \}/);
    r.dispose();
    b.dispose();
    x.dispose();
  });

  it("checks its options before any tensor exists, naming the field", () => {
    const cfg = (routerOptions: Record<string, unknown>) => resolveModelConfig({ vocabSize: 8, dModel: 4, nHeads: 2, nLayers: 2, contextLength: 4, routing: { router: "l2-norm", routerOptions, predictor: null } });
    expect(() => checkRouterConfig(cfg({ momentum: 1 }))).toThrow("routing.routerOptions.momentum: must be a number in [0, 1) (got 1)");
    expect(() => checkRouterConfig(cfg({ momentun: 0.5 }))).toThrow(/routing\.routerOptions\.momentun: unknown option of the l2-norm router/);
    expect(() => checkRouterConfig(cfg({ momentum: 0.5 }))).not.toThrow();
  });

  it("its declared cost is what a model with it executes", async () => {
    const config: ModelConfig = { vocabSize: 13, dModel: 16, nHeads: 4, nLayers: 4, contextLength: 16, routing: { blocks: "every-other", capacity: 0.25, router: "l2-norm", auxLoss: null, predictor: null } };
    const resolved = resolveModelConfig(config);
    const cost = routerCost(resolved);
    expect(cost(1)).toEqual({ params: 1, flopsPerToken: 32 });
    const model = createTransformer(config, { seed: 1 });
    const x = tf.tensor2d(Array.from({ length: 32 }, (_, i) => (i * 5) % 13), [2, 16], "int32");
    await expectNoLeaks(async () => {
      const profile = await tf.profile(() => {
        const out = model.forward(x, { trace: false });
        tf.dispose([out.logits, ...Object.values(out.auxLosses)]);
      });
      const f = forwardFlops(resolved, { routerCost: cost });
      expect(f.blocks[1]!.router).toBe(16 * 32);
      expect(kernelMatmulFlops(profile.kernels).total).toBe(2 * f.total);
    });
    x.dispose();
    model.dispose();
  });
});
