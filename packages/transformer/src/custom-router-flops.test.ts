// A router kind the accounting has never heard of declares its cost when it is registered;
// forwardFlops with routerCost(config) counts exactly what the model executes (kernel trace,
// as in flops.test.ts), and without the declaration the count would be wrong.
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, useBackend } from "@mixdepth/vitest-config/tf";
import { gaussian, mulberry32, resolveModelConfig, type CausalRouting, type ModelConfig } from "@mixdepth/core";
import { forwardFlops, linearRouterCost, paramCounts } from "@mixdepth/flops-accounting";
import {
  registerRouter,
  routerCost,
  thresholdRoute,
  topkRoute,
  unregisterRouter,
  type CausalRouteResult,
  type Router,
  type RouteResult,
  type RouterContext,
  type RouterJSON,
} from "@mixdepth/router";
import { createTransformer, kernelMatmulFlops } from "./index.js";

// r = relu(x @ v) @ u with v [d, h], u [h, 1]: two matmuls, 2dh + 2h FLOPs per token.
class TwoLayerRouter implements Router {
  readonly kind = "two-layer";
  private readonly v: tf.Variable; // [d, h]
  private readonly u: tf.Variable; // [h, 1]

  constructor(private readonly context: RouterContext) {
    const d = context.dModel;
    const h = context.options.hidden as number;
    const rand = mulberry32(context.seed);
    this.v = tf.tidy(() => tf.variable(tf.tensor2d(gaussian(rand, d * h, 1 / Math.sqrt(d)), [d, h])));
    this.u = tf.tidy(() => tf.variable(tf.tensor2d(gaussian(rand, h, 1 / Math.sqrt(h)), [h, 1])));
  }

  private scores(x: tf.Tensor3D): tf.Tensor2D {
    const [b, s, d] = x.shape;
    return tf.tidy(() => tf.reshape(tf.matMul(tf.relu(tf.matMul(tf.reshape(x, [b * s, d]), this.v)), this.u), [b, s]));
  }

  route(x: tf.Tensor3D, k: number): RouteResult {
    return topkRoute(this.scores(x), k); // [B, S] scores, top-k positions on the host
  }

  routeCausal(x: tf.Tensor3D, _mode: CausalRouting): CausalRouteResult {
    return thresholdRoute(this.scores(x));
  }

  weights(): Map<string, tf.Variable> {
    return new Map([["v", this.v], ["u", this.u]]);
  }

  toJSON(): RouterJSON {
    return { kind: this.kind, options: { ...this.context.options } };
  }

  dispose(): void {
    this.v.dispose();
    this.u.dispose();
  }
}

const config: ModelConfig = {
  vocabSize: 13, dModel: 16, nHeads: 4, nLayers: 4, contextLength: 16, family: "llama",
  routing: { blocks: "every-other", capacity: 0.25, router: "two-layer", routerOptions: { hidden: 5 }, auxLoss: null, predictor: null },
};

describe("a custom router's declared cost (cpu kernel trace)", () => {
  beforeAll(() => {
    useBackend("cpu");
    registerRouter("two-layer", (c) => new TwoLayerRouter(c), {
      cost: (c) => {
        const d = c.dModel;
        const h = c.options.hidden as number;
        return { params: d * h + h, flopsPerToken: 2 * d * h + 2 * h };
      },
    });
  });
  afterAll(() => unregisterRouter("two-layer"));

  it("forwardFlops with routerCost(config) includes it and equals the executed matmuls", async () => {
    const resolved = resolveModelConfig(config);
    const cost = routerCost(resolved);
    expect(cost(1)).toEqual({ params: 16 * 5 + 5, flopsPerToken: 2 * 16 * 5 + 2 * 5 });
    const model = createTransformer(config, { seed: 1 });
    // The declared parameters are the ones the model holds.
    const routerParams = [...model.getWeights()].filter(([n]) => /router\./.test(n)).reduce((a, [, v]) => a + v.size, 0);
    expect(paramCounts(resolved, { routerCost: cost }).blocks.reduce((a, b) => a + b.routing, 0)).toBe(routerParams);
    for (const [batch, seqLen] of [
      [2, 16],
      [1, 11],
    ] as const) {
      const x = tf.tensor2d(Array.from({ length: batch * seqLen }, (_, i) => (i * 7) % 13), [batch, seqLen], "int32");
      await expectNoLeaks(async () => {
        const profile = await tf.profile(() => {
          const out = model.forward(x, { trace: false });
          tf.dispose([out.logits, ...Object.values(out.auxLosses)]);
        });
        const executed = kernelMatmulFlops(profile.kernels);
        const declared = forwardFlops(resolved, { seqLen, routerCost: cost });
        expect(declared.blocks[1]!.router).toBe(seqLen * (2 * 16 * 5 + 2 * 5));
        expect(executed.total).toBe(batch * declared.total);
        // Guessing (a linear router) would miss the difference: the test can fail.
        expect(executed.total).not.toBe(batch * forwardFlops(resolved, { seqLen, routerCost: linearRouterCost(16, null) }).total);
      });
      x.dispose();
    }
    model.dispose();
  });
});
