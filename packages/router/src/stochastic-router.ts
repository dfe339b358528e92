// The paper's control (docs/method.md section 5): top-k over Gaussian random scores, fresh each
// call, no learned weights on the selection. What multiplies the block output: r = 1 for
// every token, so routed tokens get the plain block branch and nothing is learned about
// which tokens to route. At sampling time each token is routed with probability = capacity.
import * as tf from "@tensorflow/tfjs-core";
import type { CausalRouting } from "@mixdepth/core";
import type { CausalRouteResult, Router, RouteResult, RouterContext, RouterJSON } from "./router.js";
import { ConfigError, Mulberry32, gaussian } from "@mixdepth/core";
import { assertK, topkPositions } from "./topk.js";

/** The stochastic control takes no options: any routing.routerOptions key is a mistake. */
export function validateStochasticOptions(options: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(options)) {
    throw new ConfigError(`routing.routerOptions.${key}`, value, "unknown option: the stochastic router takes none");
  }
}

export class StochasticRouter implements Router {
  readonly kind = "stochastic";
  private readonly rng: Mulberry32;
  private readonly capacity: number;

  constructor(private readonly context: RouterContext) {
    validateStochasticOptions(context.options);
    this.rng = new Mulberry32(context.seed ^ 0x5bd1e995);
    // Default 0.125: the paper's best capacity. Models pass the block's own capacity.
    const capacity = context.capacity ?? 0.125;
    if (typeof capacity !== "number" || !(capacity > 0 && capacity <= 1)) {
      throw new RangeError(`routing.capacity: must be a number in (0, 1] (got ${JSON.stringify(capacity)})`);
    }
    this.capacity = capacity;
  }

  route(x: tf.Tensor3D, k: number): RouteResult {
    const [batch, seqLen] = x.shape;
    assertK(k, seqLen); // before drawing, so a bad call does not advance the random stream
    const noise = gaussian(this.rng.next, batch * seqLen);
    const positions = topkPositions(noise, batch, seqLen, k);
    return { scores: tf.ones([batch, seqLen]) as tf.Tensor2D, hostScores: new Float32Array(batch * seqLen).fill(1), positions, auxLosses: {} };
  }

  routeCausal(x: tf.Tensor3D, _mode: CausalRouting): CausalRouteResult {
    const [batch, seqLen] = x.shape;
    const sel = new Uint8Array(batch * seqLen);
    for (let i = 0; i < sel.length; i++) sel[i] = this.rng.next() < this.capacity ? 1 : 0;
    return {
      scores: tf.ones([batch, seqLen]) as tf.Tensor2D,
      hostScores: new Float32Array(batch * seqLen).fill(1),
      selected: sel,
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
