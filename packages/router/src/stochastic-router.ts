// The paper's control (docs/method.md section 5): top-k over Gaussian random scores, fresh each
// call, no learned weights on the selection. What multiplies the block output has two
// readings of the paper's "top-k on router weights sampled from a Gaussian", offered as
// `routerOptions.scale`:
//   "one" (default): r = 1 for every token; routed tokens get the plain block branch.
//   "noise": the sampled Gaussian weights are the router weights, so they also scale the
//            branch, as the learned r does (noise in every routed block's update).
// At sampling time each token is routed with probability = capacity: with "one" by a uniform
// draw, with "noise" by a Gaussian draw above the (1 - capacity) quantile, which then scales.
import * as tf from "@tensorflow/tfjs-core";
import type { CausalRouting } from "@mixdepth/core";
import type { CausalRouteResult, Router, RouteResult, RouterContext, RouterJSON } from "./router.js";
import { ConfigError, Mulberry32, deriveSeed, gaussian } from "@mixdepth/core";
import { assertK, topkPositions } from "./topk.js";

export interface StochasticRouterOptions {
  /** What multiplies a routed token's branch: 1 ("one", default) or its Gaussian score ("noise"). */
  scale?: "one" | "noise";
}

const SCALES = ["one", "noise"] as const;

/**
 * The stochastic control's options: only `scale` ("one" or "noise"). Any other key is a
 * mistake (the isoFLOP planner drops the learned router's options when it derives the control).
 */
export function validateStochasticOptions(options: Record<string, unknown>): Required<StochasticRouterOptions> {
  for (const [key, value] of Object.entries(options)) {
    if (key !== "scale") throw new ConfigError(`routing.routerOptions.${key}`, value, "unknown option of the stochastic router (known: scale)");
  }
  const scale = options.scale ?? "one";
  if (!SCALES.includes(scale as "one")) throw new ConfigError("routing.routerOptions.scale", options.scale, 'must be "one" or "noise"');
  return { scale: scale as "one" | "noise" };
}

/**
 * Standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9): the
 * threshold a Gaussian score must pass to be routed causally with probability `capacity`.
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) return p === 0 ? -Infinity : p === 1 ? Infinity : Number.NaN;
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = b as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = c as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = d as [number, number, number, number];
  const tail = (q: number) => (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) / (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1);
}

export class StochasticRouter implements Router {
  readonly kind = "stochastic";
  private readonly rng: Mulberry32;
  private readonly capacity: number;
  private readonly scale: "one" | "noise";

  constructor(private readonly context: RouterContext) {
    this.rng = new Mulberry32(deriveSeed(context.seed, "stochastic-router"));
    // Default 0.125: the paper's best capacity. Models pass the block's own capacity.
    const capacity = context.capacity ?? 0.125;
    if (typeof capacity !== "number" || !(capacity > 0 && capacity <= 1)) {
      throw new RangeError(`routing.capacity: must be a number in (0, 1] (got ${JSON.stringify(capacity)})`);
    }
    this.capacity = capacity;
    this.scale = validateStochasticOptions(context.options).scale;
  }

  route(x: tf.Tensor3D, k: number): RouteResult {
    const [batch, seqLen] = x.shape;
    assertK(k, seqLen); // before drawing, so a bad call does not advance the random stream
    const noise = gaussian(this.rng.next, batch * seqLen);
    const positions = topkPositions(noise, batch, seqLen, k);
    const hostScores = this.scale === "noise" ? noise : new Float32Array(batch * seqLen).fill(1);
    return { scores: tf.tensor2d(hostScores, [batch, seqLen]), hostScores, positions, auxLosses: {} };
  }

  routeCausal(x: tf.Tensor3D, _mode: CausalRouting): CausalRouteResult {
    const [batch, seqLen] = x.shape;
    const selected = new Uint8Array(batch * seqLen);
    let hostScores: Float32Array;
    if (this.scale === "noise") {
      hostScores = gaussian(this.rng.next, batch * seqLen);
      const threshold = normalQuantile(1 - this.capacity); // P(z > threshold) = capacity
      for (let i = 0; i < selected.length; i++) selected[i] = (hostScores[i] as number) > threshold ? 1 : 0;
    } else {
      for (let i = 0; i < selected.length; i++) selected[i] = this.rng.next() < this.capacity ? 1 : 0;
      hostScores = new Float32Array(batch * seqLen).fill(1);
    }
    return {
      scores: tf.tensor2d(hostScores, [batch, seqLen]),
      hostScores,
      selected,
      probability: new Float32Array(batch * seqLen).fill(this.capacity),
    };
  }

  weights(): Map<string, tf.Variable> {
    return new Map();
  }

  /** The random stream's position: `{ rng: <uint32> }`. */
  getState(): { rng: number } {
    return { rng: this.rng.state };
  }

  setState(state: unknown): void {
    const rng = (state as { rng?: unknown } | null)?.rng;
    if (typeof rng !== "number") throw new TypeError(`stochastic router state: expected { rng: <uint32> } (got ${JSON.stringify(state)})`);
    this.rng.state = rng;
  }

  toJSON(): RouterJSON {
    return { kind: this.kind, options: { ...this.context.options } };
  }

  dispose(): void {}
}

export function createStochasticRouter(context: RouterContext): Router {
  return new StochasticRouter(context);
}
