// One training step, the only one: what the mixdepth CLI, the bench, the profile script, the
// packaging check's kit example and this package's README loop all run. Top to bottom, as in
// nanoGPT's train.py loop:
//   1. the learning rate of this step from the schedule (a pure function of the step);
//   2. gradAccum micro-batches: loss and gradients of each (on this thread, or split over
//      data-parallel ranks by @mixdepth/train/node's DataParallel), summed in order;
//   3. the mean loss must be finite; the mean gradient's global norm must be finite;
//   4. clip by that norm (before the update: docs/method.md section 8), one AdamW update;
//   5. every weight must still be finite (a finite gradient can still overflow a weight).
// A non-finite value stops the step with a NonFiniteError naming it, before anything else
// reads the weights; the caller decides what that means for its run (the CLI writes no
// checkpoint after it). Nothing here is random and nothing is kept between steps, so a run
// that restores weights, moments and its batch RNG computes the same numbers again.
// The step number reaches the model (a capacity warm-up sets each routed block's capacity from
// it); each forward pass reports the tokens its blocks ran on (measured FLOPs under threshold
// routing) and, on request, each routed block's causal-vs-top-k agreement (predictor accuracy,
// top-k recall), counted on the training batch itself.
import * as tf from "@tensorflow/tfjs-core";
import { combineAgreements } from "@mixdepth/router";
import { RoutingAgreementCounter, type CausalAgreement, type Transformer } from "@mixdepth/transformer";
import { batchTensors, type Batch } from "./batcher.js";
import { clipByGlobalNorm } from "./clip.js";
import { GradientAccumulator } from "./grad-accum.js";
import { valueAndGrads } from "./grads.js";
import { learningRate, type Schedule } from "./schedule.js";

/** One forward pass of a step: its rows and, per block, the tokens per sequence its branch ran on. */
export interface ForwardPass {
  rows: number;
  /** Transformer.forward's blockTokens: forwardFlops(config, { blockTokens }) is this pass's measured FLOPs per row. */
  blockTokens: number[];
}

/** Loss and gradients of one micro-batch: lm and aux as host numbers, gradients by weight name. */
export interface MicroBatchResult {
  lm: number;
  aux: number;
  /** By weight name; caller owns them. */
  grads: Map<string, tf.Tensor>;
  /** The forward passes that computed it (one per data-parallel rank); absent from older callers' results. */
  passes?: ForwardPass[];
  /** With `routingStats`: per routed block, the causal rule against top-k on this micro-batch (confusion counts pool by adding). */
  routing?: CausalAgreement[];
}

/** What a micro-batch's forward pass needs beyond its tokens. */
export interface LossOptions {
  /** The 0-based training step: sets the capacity under a capacity warm-up. */
  step?: number;
  /** Count each routed block's causal-vs-top-k agreement (one more readback per routed block). Default false. */
  routingStats?: boolean;
}

/** How a micro-batch's loss and gradients are computed; {@link lossAndGrads} on this thread by default. */
export type LossAndGrads = (batch: Batch, rows: number, seqLen: number, options?: LossOptions) => MicroBatchResult | Promise<MicroBatchResult>;

/**
 * Loss and gradients of `rows` rows of host token ids on this thread: what every
 * data-parallel rank runs on its block. Frees its intermediates; caller owns the gradients.
 */
export function lossAndGrads(model: Transformer, params: Map<string, tf.Variable>, batch: Batch, rows: number, seqLen: number, options: LossOptions = {}): MicroBatchResult {
  const { x, y } = batchTensors(batch, rows, seqLen); // [rows, S] int32 each
  let lm: tf.Scalar | undefined;
  let aux: tf.Scalar | undefined;
  let blockTokens: number[] = [];
  const counter = options.routingStats && model.config.routing.blocks.length > 0 ? new RoutingAgreementCounter() : null;
  const { value, grads } = valueAndGrads(() => {
    const r = model.loss(x, y, { ...(options.step !== undefined ? { step: options.step } : {}), ...(counter ? { observe: counter.observe } : {}) });
    lm = tf.keep(r.lm);
    aux = tf.keep(r.aux);
    blockTokens = r.blockTokens;
    return r.total;
  }, params);
  const [lv, av] = [lm!.dataSync()[0] as number, aux!.dataSync()[0] as number];
  tf.dispose([x, y, value, lm!, aux!]);
  return { lm: lv, aux: av, grads, passes: [{ rows, blockTokens }], ...(counter ? { routing: counter.blocks() } : {}) };
}

/** Pools per-block agreements (of micro-batches or ranks) by layer: counts add, rates are recomputed. */
export function poolRouting(parts: readonly (readonly CausalAgreement[])[]): CausalAgreement[] {
  const byLayer = new Map<number, CausalAgreement[]>();
  for (const list of parts) for (const a of list) byLayer.set(a.layer, [...(byLayer.get(a.layer) ?? []), a]);
  return [...byLayer.entries()].sort(([a], [b]) => a - b).map(([layer, list]) => ({ layer, ...combineAgreements(list) }));
}

/**
 * A loss, a gradient norm or a weight stopped being finite. `step` is the 1-based number of
 * the step that failed, `what` names the value. `detail` follows the message (default: what
 * to try); the CLI adds which checkpoint is intact.
 */
export class NonFiniteError extends Error {
  constructor(
    readonly step: number,
    readonly what: string,
    detail = ". Try a lower learning rate or clipping the gradients.",
  ) {
    super(`${what} at step ${step}${detail}`);
    this.name = "NonFiniteError";
  }
}

/** The settings one step reads: the schedule, the batch shape, accumulation and clipping. */
export interface TrainStepSettings extends Schedule {
  /** Rows per micro-batch. */
  batchSize: number;
  seqLen: number;
  /** Micro-batches per step (nanoGPT's gradient_accumulation_steps); 1: none. */
  gradAccum: number;
  /** Clip the mean gradient to this global norm; <= 0: no clipping. */
  gradClip: number;
  /** Count each routed block's predictor accuracy and top-k recall on the step's batches (TrainStepResult.routing). Default false. */
  routingStats?: boolean;
}

/** What one step works on. The step owns none of it. */
export interface TrainStepParts {
  model: Transformer;
  /** The trainable weights by name (trainableWeights(model)); the ones checked finite after the update. */
  params: Map<string, tf.Variable>;
  /** One update with a learning rate: AdamW, or anything with the same apply(). */
  optimizer: { apply(grads: Map<string, tf.Tensor>, lr: number): void };
  /** The next micro-batch of `batchSize` rows, in order (e.g. randomBatch with a seeded RNG). */
  nextBatch: () => Batch;
  /** Default: {@link lossAndGrads} on this thread; DataParallel's step() splits it over ranks. */
  lossAndGrads?: LossAndGrads;
}

export interface TrainStepResult {
  /** Mean language-model loss over the micro-batches (nats per token). */
  loss: number;
  /** Mean auxiliary loss (the routers' terms); the step minimized loss + aux. */
  aux: number;
  /** Learning rate of this step. */
  lr: number;
  /** Global norm of the mean gradient before clipping. */
  gradNorm: number;
  /** Every forward pass of the step (micro-batches x ranks), for its measured FLOPs. */
  passes: ForwardPass[];
  /** With `routingStats` and routed blocks: per routed block, the causal rule against top-k, pooled over the step. */
  routing?: CausalAgreement[];
}

/** Which of `params` is not finite after an update (one readback for all), or null. */
function firstNonFiniteWeight(params: Map<string, tf.Variable>): string | null {
  const ok = tf.tidy(() => tf.stack([...params.values()].map((v) => tf.all(tf.isFinite(v)))).dataSync());
  const i = ok.findIndex((x) => !x);
  return i < 0 ? null : ([...params.keys()][i] as string);
}

/**
 * Step `step` (0-based: the number of steps taken before it) of a run: gradAccum
 * micro-batches, the mean gradient clipped, one optimizer update at the scheduled rate.
 * Throws NonFiniteError (numbered step + 1) on a non-finite loss, gradient norm or weight;
 * every tensor it made is freed on every path.
 */
export async function trainStep(parts: TrainStepParts, s: TrainStepSettings, step: number): Promise<TrainStepResult> {
  const { model, params, optimizer, nextBatch } = parts;
  const grad: LossAndGrads = parts.lossAndGrads ?? ((batch, rows, seqLen, options) => lossAndGrads(model, params, batch, rows, seqLen, options));
  const lr = learningRate(s, step);
  let lmSum = 0;
  let auxSum = 0;
  const passes: ForwardPass[] = [];
  const routing: CausalAgreement[][] = [];
  const acc = new GradientAccumulator();
  try {
    for (let micro = 0; micro < s.gradAccum; micro++) {
      const r = await grad(nextBatch(), s.batchSize, s.seqLen, { step, ...(s.routingStats ? { routingStats: true } : {}) });
      lmSum += r.lm;
      auxSum += r.aux;
      passes.push(...(r.passes ?? []));
      if (r.routing) routing.push(r.routing);
      acc.add(r.grads);
      tf.dispose([...r.grads.values()]);
    }
  } catch (e) {
    acc.dispose();
    throw e;
  }
  const loss = lmSum / s.gradAccum;
  const aux = auxSum / s.gradAccum;
  const grads = acc.mean(); // the mean over the micro-batches
  if (!Number.isFinite(loss) || !Number.isFinite(aux)) {
    tf.dispose([...grads.values()]);
    throw new NonFiniteError(step + 1, Number.isFinite(loss) ? `the auxiliary loss is ${aux}` : `the loss is ${loss}`);
  }
  const clipped = clipByGlobalNorm(grads, s.gradClip);
  tf.dispose([...grads.values()]);
  try {
    if (!Number.isFinite(clipped.norm)) throw new NonFiniteError(step + 1, `the gradient norm is ${clipped.norm}`);
    optimizer.apply(clipped.grads, lr);
  } finally {
    tf.dispose([...clipped.grads.values()]);
  }
  const bad = firstNonFiniteWeight(params);
  if (bad) throw new NonFiniteError(step + 1, `weight "${bad}" is not finite after the update`);
  return { loss, aux, lr, gradNorm: clipped.norm, passes, ...(routing.length ? { routing: poolRouting(routing) } : {}) };
}
