// Logits processors: small composable functions on next-token logits [B, V], applied in
// order before sampling. Each one runs inside the caller's tf.tidy, never disposes its
// input, and marks removed tokens with -Infinity (probability exactly 0 after softmax).
import * as tf from "@tensorflow/tfjs-core";

/** What a processor may look at besides the logits. */
export interface ProcessorContext {
  /** Per row of the logits: every token so far (prompt and generated), oldest first. */
  tokens: readonly (readonly number[])[];
}

/** logits [B, V] -> logits [B, V]. Runs inside tf.tidy; must not dispose its input. */
export type LogitsProcessor = (logits: tf.Tensor2D, context: ProcessorContext) => tf.Tensor2D;

function negInf(shape: number[]): tf.Tensor {
  return tf.fill(shape, Number.NEGATIVE_INFINITY);
}

/** Divides logits by `t` (> 0). Below 1 sharpens, above 1 flattens. Use greedy() for t = 0. */
export function temperature(t: number): LogitsProcessor {
  if (!(typeof t === "number" && t > 0 && Number.isFinite(t))) {
    throw new RangeError(`temperature: must be a finite number > 0 (got ${JSON.stringify(t)}); use greedy() for deterministic decoding`);
  }
  return (logits) => (t === 1 ? tf.clone(logits) : (tf.div(logits, t) as tf.Tensor2D));
}

/** Keeps only the argmax of each row (first index on ties): sampling becomes deterministic. */
export function greedy(): LogitsProcessor {
  return (logits) => {
    const v = logits.shape[1];
    const best = tf.cast(tf.oneHot(tf.argMax(logits, 1) as tf.Tensor1D, v), "bool");
    return tf.where(best, logits, negInf(logits.shape)) as tf.Tensor2D;
  };
}

/** Keeps the `k` largest logits of each row (all of them on ties with the k-th). */
export function topK(k: number): LogitsProcessor {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`topK: k must be an integer >= 1 (got ${JSON.stringify(k)})`);
  return (logits) => {
    const v = logits.shape[1];
    if (k >= v) return tf.clone(logits);
    const kth = tf.slice(tf.topk(logits, k).values, [0, k - 1], [-1, 1]); // [B, 1]
    return tf.where(tf.greaterEqual(logits, kth), logits, negInf(logits.shape)) as tf.Tensor2D;
  };
}

/**
 * Nucleus sampling: keeps the smallest set of most likely tokens whose probability sums to
 * at least `p` (0 < p <= 1); the most likely token is always kept. Tokens tied with the
 * last one kept are kept too.
 */
export function topP(p: number): LogitsProcessor {
  if (!(typeof p === "number" && p > 0 && p <= 1)) throw new RangeError(`topP: p must be in (0, 1] (got ${JSON.stringify(p)})`);
  return (logits) => {
    if (p === 1) return tf.clone(logits);
    const v = logits.shape[1];
    const sorted = tf.topk(logits, v).values; // [B, V], descending
    const probs = tf.softmax(sorted, 1);
    const before = tf.sub(tf.cumsum(probs, 1), probs); // probability mass ranked above each token
    const keep = tf.less(before, p); // the first token has 0 before it: always kept
    const threshold = tf.min(tf.where(keep, sorted, tf.fill(sorted.shape, Number.POSITIVE_INFINITY)), 1, true); // [B, 1]
    return tf.where(tf.greaterEqual(logits, threshold), logits, negInf(logits.shape)) as tf.Tensor2D;
  };
}

/**
 * Repetition penalty (Keskar et al., 2019, as in Hugging Face): for every token already in
 * the row's context, a positive logit is divided by `penalty` and a negative one multiplied
 * by it. `penalty` > 1 discourages repeats; 1 is a no-op.
 */
export function repetitionPenalty(penalty: number): LogitsProcessor {
  if (!(typeof penalty === "number" && penalty > 0 && Number.isFinite(penalty))) {
    throw new RangeError(`repetitionPenalty: must be a finite number > 0 (got ${JSON.stringify(penalty)})`);
  }
  return (logits, context) => {
    const [b, v] = logits.shape;
    if (context.tokens.length !== b) {
      throw new RangeError(`repetitionPenalty: context has ${context.tokens.length} rows for logits of batch ${b}`);
    }
    const seen = new Uint8Array(b * v);
    context.tokens.forEach((row, i) => {
      for (const t of row) if (Number.isInteger(t) && t >= 0 && t < v) seen[i * v + t] = 1;
    });
    const mask = tf.cast(tf.tensor2d(seen, [b, v], "int32"), "bool");
    const penalised = tf.where(tf.greater(logits, 0), tf.div(logits, penalty), tf.mul(logits, penalty));
    return tf.where(mask, penalised, logits) as tf.Tensor2D;
  };
}

/** One processor that applies `processors` left to right. */
export function composeProcessors(...processors: LogitsProcessor[]): LogitsProcessor {
  return (logits, context) => processors.reduce((acc, p) => p(acc, context), logits);
}

/**
 * Applies `processors` in order inside one tf.tidy and returns the resulting probabilities
 * (softmax over the last axis) as [B, V]. Caller owns the result; `logits` is left alone.
 */
export function processedProbabilities(logits: tf.Tensor2D, processors: readonly LogitsProcessor[], context: ProcessorContext): tf.Tensor2D {
  return tf.tidy(() => tf.softmax(composeProcessors(...processors)(logits, context), -1) as tf.Tensor2D);
}
