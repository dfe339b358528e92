// The router contract (docs/method.md section 2 and 3). A router turns a block input into scores
// r [B, S] that multiply the block's residual branch, and picks the k tokens per sequence
// the block processes. It also owns the causal decision used at sampling time.
import type * as tf from "@tensorflow/tfjs-core";
import type { CausalRouting } from "@mixdepth/core";
import type { RouterCost } from "@mixdepth/flops-accounting";

/** What a router factory receives. Derived from the resolved model config. */
export interface RouterContext {
  /** Residual width d of the block input. */
  dModel: number;
  /** Index of the block this router serves (every routed block has its own router). */
  layerIndex: number;
  /** Auxiliary BCE loss on the router scores (section 3), or null. */
  auxLoss: { weight: number } | null;
  /** Auxiliary predictor MLP with stop-gradient input (section 3), or null. */
  predictor: { hidden: number; weight: number } | null;
  /** Router-kind specific options from the model config (JSON). */
  options: Record<string, unknown>;
  /** Seed for weight initialisation and any randomness the router uses. */
  seed: number;
  /** Capacity of the routed block (fraction of tokens), for routers whose causal decision needs it. */
  capacity?: number;
}

// The decisions are host arrays: the block needs them on the host anyway (shapes depend on
// them), and a router reads its scores back once to make them, so nobody uploads them and
// reads them back again. A router makes at most ONE host readback per call.

/** Result of training-time (expert-choice, top-k over the sequence) routing. */
export interface RouteResult {
  /** r_i, [B, S] float32. Multiplies the block's residual branch; gradient flows through it. */
  scores: tf.Tensor2D;
  /** Host copy of `scores`, [B * S] row-major. */
  hostScores: Float32Array;
  /** Chosen token positions, [B * k] row-major, ascending within each row (causal order kept). */
  positions: Int32Array;
  /** Auxiliary losses, already multiplied by their weights, keyed by name (e.g. "aux_bce"). */
  auxLosses: Record<string, tf.Scalar>;
}

/** Result of causal routing: every decision uses only token i's own block input. */
export interface CausalRouteResult {
  /** r_i, [B, S] float32, as in {@link RouteResult}. */
  scores: tf.Tensor2D;
  /** Host copy of `scores`, [B * S] row-major. */
  hostScores: Float32Array;
  /** [B * S] row-major: 1 where the block processes token i, else 0. */
  selected: Uint8Array;
  /** [B * S] row-major probability behind each decision (sigmoid of score or predictor logit). */
  probability: Float32Array;
}

export interface RouterJSON {
  kind: string;
  options: Record<string, unknown>;
}

export interface Router {
  readonly kind: string;
  /** Training-time routing: top-k of each sequence, k given. Callers own the returned tensors. */
  route(x: tf.Tensor3D, k: number): RouteResult;
  /** Sampling-time routing decision, causal per token. Callers own the returned tensors. */
  routeCausal(x: tf.Tensor3D, mode: CausalRouting): CausalRouteResult;
  /** Trainable weights by name, relative to this router (e.g. "w", "predictor.w1"). */
  weights(): Map<string, tf.Variable>;
  /** Enough to rebuild this router with the registry. */
  toJSON(): RouterJSON;
  /**
   * Optional: host-side state that is not a weight but changes as the router runs (e.g. the
   * position of a random stream), as JSON. Checkpoints save it so a resumed run is exact.
   */
  getState?(): unknown;
  /** Optional: restores what {@link Router.getState} returned. Throws on a value it cannot use. */
  setState?(state: unknown): void;
  dispose(): void;
}

export type RouterFactory = (context: RouterContext) => Router;

/**
 * What a router kind declares beside its factory when it is registered. Both are plain
 * functions of the context: no tensor is built, so a config can be checked and costed before
 * any backend is loaded.
 */
export interface RouterDeclaration {
  /**
   * Checks routing.routerOptions; throws a ConfigError (from @mixdepth/core) naming the field
   * (`routing.routerOptions.<key>`) and the value; any other Error is reported for the whole
   * routing.routerOptions. Default: no check before the factory runs.
   */
  validateOptions?: (options: Record<string, unknown>) => void;
  /**
   * Parameters and matmul FLOPs per token of one router built from `context` (counted by
   * @mixdepth/flops-accounting). Default: a linear d -> 1 router plus the predictor MLP when
   * `context.predictor` is set ({@link linearRouterCost}).
   */
  cost?: (context: RouterContext) => RouterCost;
  /**
   * Name -> shape of the weights one router built from `context` creates, computed without
   * tensors. Checkpoint loaders check a file against it before allocating a model, and
   * createRouter checks every new router against it. Default: undeclared (names and dtypes
   * are still checked when a checkpoint loads; shapes when the weights are assigned).
   */
  weightShapes?: (context: RouterContext) => Map<string, number[]>;
}
