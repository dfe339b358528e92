// Batches over a flat array of token ids, as nanoGPT's get_batch: a training batch is B random
// windows of seqLen + 1 tokens (inputs and the next token of each), drawn from a seeded
// generator whose one-integer state a checkpoint saves, so a resumed run draws the same
// batches. Evaluation windows are fixed and evenly spaced, the same at every evaluation, so
// validation curves compare like with like. Host arrays first: the tensors are made once, by
// batchTensors, right before the step.
import * as tf from "@tensorflow/tfjs-core";
import type { Mulberry32 } from "@mixdepth/core";

/** Too little data for one window (the trainer's CLI exits with code 2 on it). */
export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DataError";
  }
}

export interface Batch {
  /** [B*S] row-major token ids. */
  inputs: Int32Array;
  /** [B*S] the next token of each input. */
  targets: Int32Array;
}

function windowAt(tokens: Int32Array, starts: number[], seqLen: number): Batch {
  const inputs = new Int32Array(starts.length * seqLen);
  const targets = new Int32Array(starts.length * seqLen);
  starts.forEach((s, b) => {
    inputs.set(tokens.subarray(s, s + seqLen), b * seqLen);
    targets.set(tokens.subarray(s + 1, s + seqLen + 1), b * seqLen);
  });
  return { inputs, targets };
}

/** A window is seqLen inputs plus the next token: seqLen + 1 tokens. */
function checkLength(tokens: Int32Array, seqLen: number, what: string): void {
  if (tokens.length < seqLen + 1) throw new DataError(`data: the ${what} split has ${tokens.length} tokens, fewer than one window of seqLen + 1 = ${seqLen + 1}; add text or lower training.seqLen`);
}

/**
 * B random windows of seqLen + 1 tokens. The only state is `rng` (core's seeded Mulberry32:
 * save `rng.state` with a checkpoint to resume the same stream of batches).
 */
export function randomBatch(tokens: Int32Array, batchSize: number, seqLen: number, rng: Mulberry32): Batch {
  checkLength(tokens, seqLen, "training");
  const span = tokens.length - seqLen - 1;
  return windowAt(tokens, Array.from({ length: batchSize }, () => Math.floor(rng.next() * (span + 1))), seqLen);
}

/** `count` fixed evaluation batches, windows evenly spaced over the split: the same at every evaluation. */
export function evalBatches(tokens: Int32Array, batchSize: number, seqLen: number, count: number): Batch[] {
  checkLength(tokens, seqLen, "validation");
  const n = batchSize * count;
  const span = tokens.length - seqLen - 1;
  const starts = Array.from({ length: n }, (_, i) => Math.floor((i * span) / Math.max(1, n - 1 || 1)));
  return Array.from({ length: count }, (_, c) => windowAt(tokens, starts.slice(c * batchSize, (c + 1) * batchSize), seqLen));
}

/** The batch as int32 tensors x, y of shape [batchSize, seqLen] (caller owns them). */
export function batchTensors(batch: Batch, batchSize: number, seqLen: number): { x: tf.Tensor2D; y: tf.Tensor2D } {
  if (batch.inputs.length !== batchSize * seqLen) throw new RangeError(`batchTensors: the batch has ${batch.inputs.length} tokens, not batchSize * seqLen = ${batchSize} * ${seqLen}`);
  return { x: tf.tensor2d(batch.inputs, [batchSize, seqLen], "int32"), y: tf.tensor2d(batch.targets, [batchSize, seqLen], "int32") };
}
