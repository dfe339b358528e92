// A custom router written outside the package, against its public API only: a learned
// linear score plus a learned scalar bias, r = x . w + b. It plugs into a model through the
// registry and round-trips through its JSON config.
import * as tf from "@tensorflow/tfjs-core";
import { mulberry32, gaussian } from "@mixdepth/core";
import { thresholdRoute, topkRoute, type CausalRouteResult, type Router, type RouteResult, type RouterContext, type RouterJSON } from "@mixdepth/router";

export class BiasedRouter implements Router {
  readonly kind = "biased";
  readonly w: tf.Variable; // [d, 1]
  readonly b: tf.Variable; // [1]

  constructor(private readonly context: RouterContext) {
    const initBias = Number(context.options.initBias ?? 0);
    if (!Number.isFinite(initBias)) throw new Error(`routing.routerOptions.initBias: must be a number (got ${JSON.stringify(context.options.initBias)})`);
    const d = context.dModel;
    // Inside tf.tidy so the initial-value tensors are freed (the variables keep their data).
    this.w = tf.tidy(() => tf.variable(tf.tensor2d(gaussian(mulberry32(context.seed), d, 1 / Math.sqrt(d)), [d, 1])));
    this.b = tf.tidy(() => tf.variable(tf.tensor1d([initBias])));
  }

  private scores(x: tf.Tensor3D): tf.Tensor2D {
    const [bs, s, d] = x.shape;
    return tf.tidy(() => tf.reshape(tf.add(tf.matMul(tf.reshape(x, [bs * s, d]), this.w), this.b), [bs, s]));
  }

  route(x: tf.Tensor3D, k: number): RouteResult {
    // [B, S] scores; k positions per row, ascending. On a bad k, topkRoute frees the scores.
    return topkRoute(this.scores(x), k);
  }

  routeCausal(x: tf.Tensor3D): CausalRouteResult {
    return thresholdRoute(this.scores(x)); // routed where r > 0
  }

  weights(): Map<string, tf.Variable> {
    return new Map([["w", this.w], ["b", this.b]]);
  }

  toJSON(): RouterJSON {
    return { kind: this.kind, options: { ...this.context.options } };
  }

  dispose(): void {
    this.w.dispose();
    this.b.dispose();
  }
}
