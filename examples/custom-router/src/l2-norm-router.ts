// A custom Mixture-of-Depths router written against the public @mixdepth/router API only:
// a block processes the tokens whose block input has the largest L2 norm.
//   score_i = ||x_i||_2 / sqrt(d)          the RMS of the token's residual stream
//   r_i     = g * score_i                  multiplies the block's branch; g [1] is learned
//   top-k   = the k largest scores per sequence (training, expert choice)
//   causal  = route token i iff score_i > tau (sampling: no look at future tokens)
// The squared norm is computed as a matmul x^2 @ 1 [d, 1] (2d FLOPs per token), so the cost
// it declares at registration is exactly what the kernels execute. tau is calibrated while
// the router runs top-k: after each call it moves towards the mean k-th largest score of
// the batch (an exponential moving average), the score above which top-k routed. It is
// router state (getState/setState), so checkpoints keep it and a resumed run is exact.
import * as tf from "@tensorflow/tfjs-core";
import { ConfigError, type CausalRouting } from "@mixdepth/core";
import { causalDecisions, topkPositions, type CausalRouteResult, type Router, type RouterContext, type RouterCost, type RouterJSON, type RouterPlugin, type RouteResult } from "@mixdepth/router";

export interface L2NormRouterOptions {
  /** Weight of the previous threshold in the moving average, in [0, 1). Default 0.9. */
  momentum?: number;
  /** Threshold before any calibration. Default 1 (the RMS of a unit-variance residual). */
  initThreshold?: number;
}

const KNOWN = ["momentum", "initThreshold"];

/** Checks routing.routerOptions, naming the field; the registry runs it before any tensor exists. */
export function validateL2NormOptions(options: Record<string, unknown>): Required<L2NormRouterOptions> {
  for (const [key, value] of Object.entries(options)) {
    if (!KNOWN.includes(key)) throw new ConfigError(`routing.routerOptions.${key}`, value, `unknown option of the l2-norm router (known: ${KNOWN.join(", ")})`);
  }
  const { momentum = 0.9, initThreshold = 1 } = options;
  if (typeof momentum !== "number" || !(momentum >= 0 && momentum < 1)) throw new ConfigError("routing.routerOptions.momentum", momentum, "must be a number in [0, 1)");
  if (typeof initThreshold !== "number" || !Number.isFinite(initThreshold)) throw new ConfigError("routing.routerOptions.initThreshold", initThreshold, "must be a finite number");
  return { momentum, initThreshold };
}

/** What one router costs: the gain g, and the x^2 @ 1 matmul on every token. */
export function l2NormRouterCost(context: RouterContext): RouterCost {
  return { params: 1, flopsPerToken: 2 * context.dModel };
}

export class L2NormRouter implements Router {
  readonly kind = "l2-norm";
  private readonly gain: tf.Variable; // [1]
  private readonly ones: tf.Tensor2D; // [d, 1], constant
  private readonly options: Required<L2NormRouterOptions>;
  private threshold: number;

  constructor(private readonly context: RouterContext) {
    this.options = validateL2NormOptions(context.options);
    this.threshold = this.options.initThreshold;
    this.gain = tf.tidy(() => tf.variable(tf.ones([1]), true));
    this.ones = tf.keep(tf.ones([context.dModel, 1]));
  }

  /** The calibrated causal threshold tau. */
  get causalThreshold(): number {
    return this.threshold;
  }

  /** ||x_i|| / sqrt(d), [B, S]. */
  private norms(x: tf.Tensor3D): tf.Tensor2D {
    const [b, s, d] = x.shape;
    if (d !== this.context.dModel) throw new Error(`l2-norm router (layer ${this.context.layerIndex}): x must be [B, S, ${this.context.dModel}] (got [${x.shape.join(", ")}])`);
    return tf.tidy(() => tf.reshape(tf.sqrt(tf.div(tf.matMul(tf.reshape(tf.square(x), [b * s, d]), this.ones), d)), [b, s]));
  }

  route(x: tf.Tensor3D, k: number): RouteResult {
    const [batch, seqLen] = x.shape;
    const { scores, host } = this.scoresAndNorms(x);
    const norms = host.subarray(0, batch * seqLen);
    let positions: Int32Array;
    try {
      positions = topkPositions(norms, batch, seqLen, k); // validates k
    } catch (err) {
      scores.dispose();
      throw err;
    }
    this.calibrate(norms, batch, seqLen, k);
    return { scores, hostScores: host.slice(batch * seqLen), positions, auxLosses: {} };
  }

  /** r = g * ||x|| / sqrt(d) [B, S] (caller owns), and norms then r on the host: ONE readback. */
  private scoresAndNorms(x: tf.Tensor3D): { scores: tf.Tensor2D; host: Float32Array } {
    return tf.tidy(() => {
      const norms = this.norms(x); // [B, S]
      const scores = tf.keep(tf.mul(norms, this.gain) as tf.Tensor2D);
      return { scores, host: tf.concat([tf.reshape(norms, [-1]), tf.reshape(scores, [-1])]).dataSync() as Float32Array };
    });
  }

  /** tau <- m tau + (1 - m) mean over rows of the k-th largest score: the score top-k routed above. */
  private calibrate(host: Float32Array, batch: number, seqLen: number, k: number): void {
    let sum = 0;
    for (let row = 0; row < batch; row++) {
      const sorted = Array.from(host.subarray(row * seqLen, (row + 1) * seqLen)).sort((a, b) => b - a);
      sum += sorted[k - 1] as number;
    }
    const m = this.options.momentum;
    this.threshold = m * this.threshold + (1 - m) * (sum / batch);
  }

  // The rule is the same whatever routing.causal says: this router has no predictor.
  routeCausal(x: tf.Tensor3D, _mode: CausalRouting): CausalRouteResult {
    const n = x.shape[0] * x.shape[1];
    const { scores, host } = this.scoresAndNorms(x);
    const margins = host.subarray(0, n).map((v) => v - this.threshold); // score_i - tau
    return { scores, hostScores: host.slice(n), ...causalDecisions(margins) };
  }

  weights(): Map<string, tf.Variable> {
    return new Map([["gain", this.gain]]);
  }

  toJSON(): RouterJSON {
    return { kind: this.kind, options: { ...this.context.options } };
  }

  getState(): { threshold: number } {
    return { threshold: this.threshold };
  }

  setState(state: unknown): void {
    const t = (state as { threshold?: unknown } | null)?.threshold;
    if (typeof t !== "number" || !Number.isFinite(t)) throw new TypeError(`l2-norm router state: expected { threshold: <number> } (got ${JSON.stringify(state)})`);
    this.threshold = t;
  }

  dispose(): void {
    this.gain.dispose();
    this.ones.dispose();
  }
}

/**
 * The plugin entry (@mixdepth/router's RouterPlugin contract): registers the "l2-norm" kind
 * with its option check and its declared cost, in the registry it is handed.
 */
export const register: RouterPlugin["register"] = (registry) => {
  registry.registerRouter("l2-norm", (context) => new L2NormRouter(context), { validateOptions: validateL2NormOptions, cost: l2NormRouterCost });
};
