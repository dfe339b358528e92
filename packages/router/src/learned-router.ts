// The learned expert-choice router (docs/method.md sections 2 and 3).
//   r = x . w                        w: [d, 1], no bias; r multiplies the block's branch
//   routed = top-k of r per sequence, positions sorted ascending
//   aux BCE:     BCE(logit r_i, target "i in top-k"), so sigmoid(r) > 0.5 routes causally
//   predictor:   MLP d -> h -> 1 (ReLU) on stop-gradient(x), same BCE target; it never
//                touches the language-model objective
//   activation (option, off by default): the branch is scaled by alpha * sigmoid(z) or
//                alpha * tanh(z) of the logit z = x . w instead of z itself (Mixture-of-
//                Recursions' router functions; p-MoD's tanh gate). Top-k, the aux BCE and the
//                threshold still use z (a monotone map: the same choice, without the ties a
//                saturated float32 sigmoid would make)
import * as tf from "@tensorflow/tfjs-core";
import type { CausalRouting } from "@mixdepth/core";
import type { CausalRouteResult, Router, RouteResult, RouterContext, RouterJSON } from "./router.js";
import { bceWithLogits } from "./bce.js";
import { causalDecisions } from "./decisions.js";
import { ConfigError, gaussian, mulberry32 } from "@mixdepth/core";
import { stopGradient } from "./stop-gradient.js";
import { assertK, selectionMask, topkPositions } from "./topk.js";

export interface LearnedRouterOptions {
  /** Std of the normal init of w. Default 1/sqrt(d). */
  initStd?: number;
  /** What multiplies the branch: "linear" (default: the logit z itself, the paper's r), "sigmoid" or "tanh" of z, times `alpha`. */
  activation?: "linear" | "sigmoid" | "tanh";
  /** Scale of the activated score. Default 1; only with activation "sigmoid" or "tanh". */
  alpha?: number;
}

const LEARNED_OPTIONS = ["initStd", "activation", "alpha"];

/**
 * Checks the learned router's options (routing.routerOptions), naming the field. Registered as
 * its declaration so a config is checked before any tensor exists; the constructor runs it too.
 */
export function validateLearnedOptions(options: Record<string, unknown>): LearnedRouterOptions {
  // A misspelt option would otherwise be ignored silently and saved into every checkpoint.
  for (const [key, value] of Object.entries(options)) {
    if (!LEARNED_OPTIONS.includes(key)) throw new ConfigError(`routing.routerOptions.${key}`, value, `unknown option of the learned router (known: ${LEARNED_OPTIONS.join(", ")})`);
  }
  const { initStd, activation, alpha } = options;
  if (initStd !== undefined && (typeof initStd !== "number" || !(initStd >= 0))) {
    throw new ConfigError("routing.routerOptions.initStd", initStd, "must be a number >= 0");
  }
  if (activation !== undefined && activation !== "linear" && activation !== "sigmoid" && activation !== "tanh") {
    throw new ConfigError("routing.routerOptions.activation", activation, 'must be "linear", "sigmoid" or "tanh"');
  }
  if (alpha !== undefined && (typeof alpha !== "number" || !Number.isFinite(alpha) || !(alpha > 0))) {
    throw new ConfigError("routing.routerOptions.alpha", alpha, "must be a finite number > 0");
  }
  if (alpha !== undefined && (activation ?? "linear") === "linear") {
    throw new ConfigError("routing.routerOptions.alpha", alpha, 'needs activation "sigmoid" or "tanh"');
  }
  return { ...(initStd === undefined ? {} : { initStd }), ...(activation === undefined ? {} : { activation }), ...(alpha === undefined ? {} : { alpha }) };
}

// Variables are made inside tf.tidy so the initial-value tensor is freed: tf.variable keeps
// its own reference to the data, and the initial tensor would otherwise outlive dispose().
function normalVariable(rand: () => number, shape: number[], std: number): tf.Variable {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tidy(() => tf.variable(tf.tensor(gaussian(rand, n, std), shape), true));
}

function zerosVariable(shape: number[]): tf.Variable {
  return tf.tidy(() => tf.variable(tf.zeros(shape), true));
}

/**
 * Name -> shape of a learned router's weights, from its context alone (no tensors): the
 * constructor allocates exactly these, and checkpoint loaders check files against them.
 */
export function learnedRouterWeightShapes(context: Pick<RouterContext, "dModel" | "predictor">): Map<string, number[]> {
  const d = context.dModel;
  const m = new Map<string, number[]>([["w", [d, 1]]]);
  const p = context.predictor;
  if (p) {
    m.set("predictor.w1", [d, p.hidden]);
    m.set("predictor.b1", [p.hidden]);
    m.set("predictor.w2", [p.hidden, 1]);
    m.set("predictor.b2", [1]);
  }
  return m;
}

const shapeOf = (shapes: Map<string, number[]>, name: string): number[] => shapes.get(name) as number[];

export class LearnedRouter implements Router {
  readonly kind: string = "learned";
  private readonly w: tf.Variable; // [d, 1]
  private readonly predictor: { w1: tf.Variable; b1: tf.Variable; w2: tf.Variable; b2: tf.Variable } | null;
  private readonly auxWeight: number | null;
  private readonly predictorWeight: number;
  private readonly activation: "linear" | "sigmoid" | "tanh";
  private readonly alpha: number;

  constructor(private readonly context: RouterContext) {
    const d = context.dModel;
    const opts = validateLearnedOptions(context.options);
    this.activation = opts.activation ?? "linear";
    this.alpha = opts.alpha ?? 1;
    const rand = mulberry32(context.seed);
    const shapes = learnedRouterWeightShapes(context);
    this.w = normalVariable(rand, shapeOf(shapes, "w"), opts.initStd ?? 1 / Math.sqrt(d));
    this.auxWeight = context.auxLoss ? context.auxLoss.weight : null;
    const p = context.predictor;
    this.predictorWeight = p?.weight ?? 0;
    this.predictor = p
      ? {
          w1: normalVariable(rand, shapeOf(shapes, "predictor.w1"), 1 / Math.sqrt(d)),
          b1: zerosVariable(shapeOf(shapes, "predictor.b1")),
          w2: normalVariable(rand, shapeOf(shapes, "predictor.w2"), 1 / Math.sqrt(p.hidden)),
          b2: zerosVariable(shapeOf(shapes, "predictor.b2")),
        }
      : null;
  }

  private checkWidth(x: tf.Tensor3D): void {
    if (x.rank !== 3 || x.shape[2] !== this.context.dModel) {
      throw new Error(`router (layer ${this.context.layerIndex}): x must be [B, S, ${this.context.dModel}] (got [${x.shape.join(", ")}])`);
    }
  }

  /** r = x . w, [B, S]. */
  scores(x: tf.Tensor3D): tf.Tensor2D {
    this.checkWidth(x);
    const [b, s, d] = x.shape;
    return tf.tidy(() => tf.reshape(tf.matMul(tf.reshape(x, [b * s, d]), this.w), [b, s]));
  }

  /** Predictor logits on stop-gradient(x), [B, S]. */
  predictorLogits(x: tf.Tensor3D): tf.Tensor2D {
    const p = this.predictor;
    if (!p) throw new Error('routing.causal: "predictor" needs routing.predictor, which is disabled for this model');
    this.checkWidth(x);
    const [b, s, d] = x.shape;
    return tf.tidy(() => {
      const h = tf.relu(tf.add(tf.matMul(tf.reshape(stopGradient(x), [b * s, d]), p.w1), p.b1));
      return tf.reshape(tf.add(tf.matMul(h, p.w2), p.b2), [b, s]);
    });
  }

  /**
   * The factor on the branch from the logits z (a new tensor), and its host copy from the host
   * logits (no second readback): z itself, or alpha * sigmoid(z) / alpha * tanh(z).
   */
  private gate(z: tf.Tensor2D, hostZ: Float32Array): { scores: tf.Tensor2D; hostScores: Float32Array } {
    if (this.activation === "linear") return { scores: z, hostScores: hostZ };
    const a = this.alpha;
    const scores = tf.tidy(() => tf.mul(this.activation === "sigmoid" ? tf.sigmoid(z) : tf.tanh(z), a) as tf.Tensor2D);
    const f = this.activation === "sigmoid" ? (v: number) => a / (1 + Math.exp(-v)) : (v: number) => a * Math.tanh(v);
    z.dispose();
    return { scores, hostScores: Float32Array.from(hostZ, f) };
  }

  route(x: tf.Tensor3D, k: number): RouteResult {
    const [batch, seqLen] = x.shape;
    assertK(k, seqLen); // before any tensor is made, so a bad k leaks nothing
    const logits = this.scores(x);
    const hostLogits = logits.dataSync() as Float32Array; // the one readback of this call
    const chosen = topkPositions(hostLogits, batch, seqLen, k);
    // Returned from tf.tidy (not tf.keep'd), so a caller's enclosing tidy still owns them.
    const auxLosses = tf.tidy(() => {
      const losses: Record<string, tf.Scalar> = {};
      if (this.auxWeight === null && !this.predictor) return losses;
      const target = selectionMask(chosen, batch, seqLen, k); // [B, S], 1 where routed
      if (this.auxWeight !== null) losses.aux_bce = tf.mul(bceWithLogits(logits, target), this.auxWeight);
      if (this.predictor) losses.predictor_bce = tf.mul(bceWithLogits(this.predictorLogits(x), target), this.predictorWeight);
      return losses;
    });
    return { ...this.gate(logits, hostLogits), positions: chosen, auxLosses };
  }

  routeCausal(x: tf.Tensor3D, mode: CausalRouting): CausalRouteResult {
    // Validate before making tensors, so a bad call leaks nothing.
    if (mode !== "threshold" && mode !== "predictor") throw new Error(`routing.causal: unknown mode ${JSON.stringify(mode)}`);
    if (mode === "predictor" && !this.predictor) {
      throw new Error('routing.causal: "predictor" needs routing.predictor, which is disabled for this model');
    }
    const [batch, seqLen] = x.shape;
    const n = batch * seqLen;
    const scores = this.scores(x); // [B, S]
    // One readback: the scores, and in predictor mode the predictor logits beside them.
    let host: Float32Array;
    if (mode === "predictor") {
      const packed = tf.tidy(() => tf.stack([scores, this.predictorLogits(x)])); // [2, B, S]
      host = packed.dataSync() as Float32Array;
      packed.dispose();
    } else {
      host = scores.dataSync() as Float32Array;
    }
    const hostLogits = host.subarray(0, n);
    const logits = mode === "predictor" ? host.subarray(n, 2 * n) : hostLogits;
    return { ...this.gate(scores, hostLogits), ...causalDecisions(logits) };
  }

  weights(): Map<string, tf.Variable> {
    const m = new Map<string, tf.Variable>([["w", this.w]]);
    if (this.predictor) {
      m.set("predictor.w1", this.predictor.w1);
      m.set("predictor.b1", this.predictor.b1);
      m.set("predictor.w2", this.predictor.w2);
      m.set("predictor.b2", this.predictor.b2);
    }
    return m;
  }

  toJSON(): RouterJSON {
    return { kind: this.kind, options: { ...this.context.options } };
  }

  dispose(): void {
    for (const v of this.weights().values()) v.dispose();
  }
}

export function createLearnedRouter(context: RouterContext): Router {
  return new LearnedRouter(context);
}
