// A mixture-of-experts MLP (docs/method.md section 6), the MLP half of an MoE or MoDE block.
//   logits = h . W_r                    W_r: [d, E + N], E real experts and N no-op experts
//   p      = softmax(logits)            over the experts, per token (never over the sequence)
//   expert choice (training): real expert e takes the k = routedTokens(capacity, T) tokens of
//     each sequence with the largest p_e (exact k, ties toward the earlier position, on the
//     host: router/src/topk.ts), gathered in position order as in MoD
//   causal (sampling): token i goes to expert e iff sigmoid(logit_e) > 0.5, a per-token rule
//     trained by an auxiliary BCE against the expert-choice membership (section 3, per decision);
//     or, with experts.predictor, iff sigmoid(q_e) > 0.5 for q = MLP d -> h_p -> E on the
//     stop-gradient input, trained by the same BCE target (it never touches the LM objective)
//   token choice (option): token i picks its top-1 expert j = argmax p(i) (real or no-op);
//     real expert e keeps at most k of the tokens that picked it, those with the largest p_e,
//     and drops the rest (Switch Transformer); a load-balancing loss keeps real experts used.
//     Causal as it stands at sampling time: no capacity, every token goes to its top-1.
//   m_i = sum over the experts e that took i of p_e(i) * MLP_e(h_i)
// A token no real expert takes gets m_i = 0 exactly: it passes the MLP unchanged on the
// residual stream (a skip, not a gated copy). No-op experts run nothing; they only take
// softmax weight, so a token can learn the residual path (integrated MoDE). With one expert
// at full capacity, p = 1 exactly and m = MLP(h): the dense MLP.
import * as tf from "@tensorflow/tfjs-core";
import type { ArchitectureFamily, ResolvedExperts } from "@mixdepth/core";
import { stopGradient, topkPositions } from "@mixdepth/router";
import { routedTokens } from "@mixdepth/core";
import { gelu, linear, silu } from "./layers.js";
import { gatherTokens, scatterAddTokens } from "./token-gather.js";

/** "topk": expert choice over the tokens given (training); "causal": each token decides alone. */
export type ExpertMode = "topk" | "causal";

/** Which tokens each real expert processed, as host arrays (no tensors to dispose). */
export interface ExpertRouting {
  /** Per real expert, per sequence: indices of the processed tokens into the MLP's input, ascending. */
  processed: number[][][];
  /** Router probabilities p, [B * T * (E + N)] row-major (expert fastest). */
  probability: Float32Array;
}

export interface MoeResult {
  /** m, [B, T, d]. */
  out: tf.Tensor3D;
  /**
   * Weighted, top-k mode only: "experts_bce" (expert choice with auxLoss), "experts_predictor_bce"
   * (expert choice with a predictor), "experts_balance" (token choice with balanceLoss),
   * "experts_z" (zLoss).
   */
  auxLosses: Record<string, tf.Scalar>;
  routing: ExpertRouting;
}

/** Name -> shape of one family MLP's weights under `prefix` (e.g. "mlp" or "mlp.experts.0"). */
export function familyMlpWeightShapes(family: ArchitectureFamily, d: number, h: number, prefix: string): [string, number[]][] {
  if (family === "gpt2") {
    return [[`${prefix}.fc.w`, [d, h]], [`${prefix}.fc.b`, [h]], [`${prefix}.proj.w`, [h, d]], [`${prefix}.proj.b`, [d]]];
  }
  return [[`${prefix}.gate.w`, [d, h]], [`${prefix}.up.w`, [d, h]], [`${prefix}.down.w`, [h, d]]];
}

/** The block family's MLP: GELU d -> h -> d with biases (gpt2) or SwiGLU (llama). */
export function familyMlp(x: tf.Tensor, family: ArchitectureFamily, w: (name: string) => tf.Tensor, prefix: string): tf.Tensor {
  if (family === "gpt2") {
    const hidden = gelu(linear(x, w(`${prefix}.fc.w`) as tf.Tensor2D, w(`${prefix}.fc.b`) as tf.Tensor1D));
    return linear(hidden, w(`${prefix}.proj.w`) as tf.Tensor2D, w(`${prefix}.proj.b`) as tf.Tensor1D);
  }
  const gate = silu(linear(x, w(`${prefix}.gate.w`) as tf.Tensor2D));
  const up = linear(x, w(`${prefix}.up.w`) as tf.Tensor2D);
  return linear(tf.mul(gate, up), w(`${prefix}.down.w`) as tf.Tensor2D);
}

/**
 * Name -> shape of an MoE MLP's weights: the router "mlp.router.w" [d, E + N], the causal
 * predictor "mlp.predictor.*" when enabled, then each expert's MLP.
 */
export function moeMlpWeightShapes(family: ArchitectureFamily, d: number, experts: ResolvedExperts): [string, number[]][] {
  const out: [string, number[]][] = [["mlp.router.w", [d, experts.count + experts.noop]]];
  const p = experts.predictor;
  if (p) out.push(["mlp.predictor.w1", [d, p.hidden]], ["mlp.predictor.b1", [p.hidden]], ["mlp.predictor.w2", [p.hidden, experts.count]], ["mlp.predictor.b2", [experts.count]]);
  for (let e = 0; e < experts.count; e++) out.push(...familyMlpWeightShapes(family, d, experts.hidden, `mlp.experts.${e}`));
  return out;
}

const tokenChoiceOf = (e: ResolvedExperts) => e.routing === "token-choice";

/** Per row, the chosen token indices padded to the longest row with unchosen ones (valid 0). */
interface ExpertSelection {
  n: number;
  index: Int32Array; // [B * n]
  valid: Uint8Array | null; // [B * n], null when no row is padded
}

/** Rows of `mask` [B * T] as a selection; `width`: pad every row to this many (default the longest row). */
function fromMask(mask: Uint8Array, batch: number, t: number, width?: number): ExpertSelection {
  const counts = Array.from({ length: batch }, (_, b) => mask.subarray(b * t, (b + 1) * t).reduce((a, v) => a + v, 0));
  const n = width ?? Math.max(0, ...counts);
  const index = new Int32Array(batch * n);
  const valid = counts.some((c) => c < n) ? new Uint8Array(batch * n) : null;
  for (let b = 0; b < batch; b++) {
    let j = b * n;
    for (let i = 0; i < t; i++) if (mask[b * t + i]) index[j++] = i;
    // Padding with unchosen tokens keeps the scatter one-to-one; their gate is 0.
    for (let i = 0; i < t && j < (b + 1) * n; i++) if (!mask[b * t + i]) index[j++] = i;
    valid?.fill(1, b * n, b * n + (counts[b] as number));
  }
  return { n, index, valid };
}

/**
 * The MoE MLP on `h` [B, T, d] (the normed MLP input of the block's tokens). `w` looks up the
 * block's weights by name. `valid` ([B * T], 0 at padding) marks tokens no expert may take
 * (causal mode only: top-k mode has no padding). Runs inside the caller's tf.tidy; one host
 * readback (the router probabilities).
 */
export function moeMlp(
  h: tf.Tensor3D,
  family: ArchitectureFamily,
  experts: ResolvedExperts,
  w: (name: string) => tf.Tensor,
  options: { mode: ExpertMode; valid?: Uint8Array | null },
): MoeResult {
  const [b, t, d] = h.shape;
  const { count, noop } = experts;
  const cols = count + noop;
  const valid = options.valid ?? null;
  if (options.mode === "topk" && valid) throw new Error("moeMlp: expert choice (top-k) takes no padded tokens");
  const logits = linear(h, w("mlp.router.w") as tf.Tensor2D) as tf.Tensor3D; // [B, T, E + N]
  const probs = tf.softmax(logits, -1) as tf.Tensor3D;
  const hostProbs = probs.dataSync() as Float32Array;
  // The predictor sees the input through a stop-gradient: its loss reaches neither h nor W_r.
  // It runs for its loss (top-k) and, as the causal rule, in causal mode.
  const predicted = experts.predictor && !tokenChoiceOf(experts) && (options.mode === "topk" || experts.causal === "predictor")
    ? (linear(tf.relu(linear(stopGradient(h), w("mlp.predictor.w1") as tf.Tensor2D, w("mlp.predictor.b1") as tf.Tensor1D)), w("mlp.predictor.w2") as tf.Tensor2D, w("mlp.predictor.b2") as tf.Tensor1D) as tf.Tensor3D) // [B, T, E]
    : null;
  const usePredictor = experts.causal === "predictor" && predicted !== null;
  const decisionCols = usePredictor ? count : cols;
  const hostLogits = options.mode === "causal" ? ((usePredictor ? (predicted as tf.Tensor3D) : logits).dataSync() as Float32Array) : null;
  const processed: number[][][] = [];
  const tokenChoice = experts.routing === "token-choice";
  const member = options.mode === "topk" && !tokenChoice ? new Float32Array(b * t * count) : null; // aux BCE targets
  // Token choice: each token's top-1 expert (ties to the lower index), from the host probabilities.
  const top1 = tokenChoice ? new Int32Array(b * t) : null;
  if (top1) {
    for (let i = 0; i < b * t; i++) {
      let best = 0;
      for (let j = 1; j < cols; j++) if ((hostProbs[i * cols + j] as number) > (hostProbs[i * cols + best] as number)) best = j;
      top1[i] = valid && !valid[i] ? -1 : best;
    }
  }
  let out: tf.Tensor3D | null = null;
  const column = new Float32Array(b * t);
  for (let e = 0; e < count; e++) {
    let sel: ExpertSelection;
    if (top1 && options.mode === "topk") {
      // Of the tokens that picked e, keep the k with the largest p_e (positions ascending);
      // every row is padded to k (static shapes: the FLOPs are the same every step).
      const k = routedTokens(experts.capacity, t);
      for (let i = 0; i < b * t; i++) column[i] = top1[i] === e ? (hostProbs[i * cols + e] as number) : -1;
      const index = topkPositions(column, b, t, k);
      const kept = Uint8Array.from(index, (pos, j) => (top1[Math.floor(j / k) * t + pos] === e ? 1 : 0));
      sel = { n: k, index, valid: kept.every((v) => v === 1) ? null : kept };
    } else if (top1) {
      const mask = Uint8Array.from(top1, (j) => (j === e ? 1 : 0));
      sel = fromMask(mask, b, t);
    } else if (options.mode === "topk") {
      for (let i = 0; i < b * t; i++) column[i] = hostProbs[i * cols + e] as number;
      const k = routedTokens(experts.capacity, t);
      sel = { n: k, index: topkPositions(column, b, t, k), valid: null };
      for (let r = 0; r < b; r++) for (let j = 0; j < k; j++) (member as Float32Array)[(r * t + (sel.index[r * k + j] as number)) * count + e] = 1;
    } else {
      const mask = new Uint8Array(b * t);
      for (let i = 0; i < b * t; i++) mask[i] = (hostLogits as Float32Array)[i * decisionCols + e]! > 0 && (!valid || valid[i]) ? 1 : 0;
      sel = fromMask(mask, b, t);
    }
    const { n, index, valid: slots } = sel;
    processed.push(Array.from({ length: b }, (_, r) => Array.from(index.subarray(r * n, (r + 1) * n)).filter((_, j) => !slots || slots[r * n + j])));
    if (sel.n === 0) continue;
    const gateAll = tf.slice(probs, [0, 0, e], [b, t, 1]) as tf.Tensor3D; // [B, T, 1]
    if (sel.n === t && !sel.valid) {
      // Every token: no gather (so one expert at full capacity is the dense MLP, bit for bit).
      const y = tf.mul(familyMlp(h, family, w, `mlp.experts.${e}`), gateAll) as tf.Tensor3D;
      out = out ? (tf.add(out, y) as tf.Tensor3D) : y;
      continue;
    }
    const idx = tf.tensor2d(sel.index, [b, sel.n], "int32");
    const xs = gatherTokens(h, idx); // [B, n, d], this expert's tokens in position order
    let gate = gatherTokens(gateAll, idx); // [B, n, 1]
    if (sel.valid) gate = tf.mul(gate, tf.tensor3d(Float32Array.from(sel.valid), [b, sel.n, 1])) as tf.Tensor3D;
    const y = tf.mul(familyMlp(xs, family, w, `mlp.experts.${e}`), gate) as tf.Tensor3D;
    out = scatterAddTokens(out ?? (tf.zeros([b, t, d]) as tf.Tensor3D), y, idx);
  }
  const auxLosses: Record<string, tf.Scalar> = {};
  if (options.mode === "topk" && experts.zLoss) {
    // ST-MoE's router z-loss: mean over tokens of logsumexp(logits)^2, over all E + N columns.
    auxLosses["experts_z"] = tf.mul(tf.mean(tf.square(tf.logSumExp(logits, -1))), experts.zLoss.weight) as tf.Scalar;
  }
  if (top1 && options.mode === "topk" && experts.balanceLoss) {
    // Switch: E * sum_e f_e * P_e over the real experts; f (host counts) is a constant, P carries the gradient.
    const f = new Float32Array(count);
    for (const j of top1) if (j >= 0 && j < count) f[j] = (f[j] as number) + 1 / (b * t);
    const meanP = tf.mean(tf.reshape(tf.slice(probs, [0, 0, 0], [b, t, count]), [b * t, count]), 0); // [E]
    auxLosses["experts_balance"] = tf.mul(tf.sum(tf.mul(meanP, tf.tensor1d(f))), experts.balanceLoss.weight * count) as tf.Scalar;
  }
  if (member) {
    const target = tf.tensor3d(member, [b, t, count]);
    const bce = (z: tf.Tensor) => tf.mean(tf.sub(tf.softplus(z), tf.mul(z, target))) as tf.Scalar;
    if (experts.auxLoss) auxLosses["experts_bce"] = tf.mul(bce(tf.slice(logits, [0, 0, 0], [b, t, count])), experts.auxLoss.weight) as tf.Scalar;
    if (predicted && experts.predictor) auxLosses["experts_predictor_bce"] = tf.mul(bce(predicted), experts.predictor.weight) as tf.Scalar;
  }
  return { out: out ?? (tf.zeros([b, t, d]) as tf.Tensor3D), auxLosses, routing: { processed, probability: hostProbs } };
}
