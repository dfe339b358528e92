// Memory of one training step, as arithmetic on the config (no tensors), so a trainer can
// refuse a config that will not fit before it allocates or writes anything. Conventions:
// float32 everywhere (4 bytes); AdamW state; the activations a step keeps alive at its peak,
// which is the forward activations saved for backward plus as many again of transient
// backward tensors. It is an estimate, deliberately on the high side, not an exact count:
// backends add their own buffers. A mixture-of-experts MLP (docs/method.md section 6) keeps its
// router's logits, softmax and gates on every token and, per real expert, its MLP on the tokens
// it takes plus their gather and scatter. The peak is the dearest step: under a capacity warm-up
// the first (capacity 1), under threshold routing one where every token passes.
import { expertsAt, routedTokens, type ModelConfig, type ResolvedModelConfig } from "@mixdepth/core";
import { asResolved } from "./flops.js";
import { paramCounts } from "./params.js";
import type { RouterCostOption } from "./router-cost.js";

const FLOAT_BYTES = 4;

export interface MemorySetting {
  /** Sequences per micro-batch. */
  batchSize: number;
  /** Tokens per sequence (<= contextLength). */
  seqLen: number;
  /** Micro-batches per step (> 1 keeps a gradient accumulator). Default 1. */
  gradAccum?: number;
  /** Evaluation windows kept on the host (evalBatches x batchSize x seqLen, inputs + targets). Default 0. */
  evalBatches?: number;
  /** What each router costs, as its kind declares (its parameters are weights). Required when the config has routed blocks. */
  routerCost?: RouterCostOption;
}

export interface MemoryEstimate {
  parameters: number;
  /** Bytes of the weights, their gradients (twice with accumulation) and AdamW's m and v. */
  parameterBytes: number;
  /** Bytes of activations alive at the peak of a training step. */
  activationBytes: number;
  /** Bytes of host-side evaluation windows. */
  evalBytes: number;
  total: number;
}

/** Floats block `index` saves for backward on B sequences of S tokens, t of them processed. */
function blockActivations(c: ResolvedModelConfig, index: number, b: number, s: number, t: number): number {
  const d = c.dModel;
  const mlpFloats = c.family === "gpt2" ? 4 : 5; // per hidden unit: pre-activation, activation, (SwiGLU's gate), grads
  const e = expertsAt(c, index);
  const perToken = 14 * d + (e ? 0 : mlpFloats * c.mlpHidden); // gathers, norms, q/k/v and head views, attention out, dense MLP
  const attention = (2 * c.nHeads + 1) * t * t; // scores, softmax, mask
  let experts = 0;
  if (e) {
    const k = routedTokens(e.capacity, t); // tokens (token choice: slots) per real expert
    experts =
      3 * t * (e.count + e.noop) + // router logits, softmax, gates
      (e.predictor ? t * (e.predictor.hidden + e.count) : 0) +
      e.count * k * (mlpFloats * e.hidden + 2 * d); // each expert's MLP, its gather in and scatter out
  }
  return b * (t * perToken + attention + experts + 2 * s * d); // + scatter back into the residual stream
}

/** Estimated peak bytes of one AdamW training step (see the module comment). */
export function memoryEstimate(config: ModelConfig | ResolvedModelConfig, setting: MemorySetting): MemoryEstimate {
  const c = asResolved(config);
  const { batchSize: b, seqLen: s } = setting;
  const parameters = paramCounts(c, setting.routerCost ? { routerCost: setting.routerCost } : {}).total;
  const copies = 4 + ((setting.gradAccum ?? 1) > 1 ? 1 : 0); // weights, gradients, m, v (+ accumulator)
  // The dearest step: capacity 1 at a warm-up's first step, every token under threshold routing.
  const peak = c.routing.capacityWarmup || c.routing.train === "threshold" ? 1 : c.routing.capacity;
  let floats = 0;
  for (const l of c.layers) floats += blockActivations(c, l.index, b, s, l.routed ? routedTokens(peak, s) : s);
  floats += b * s * (3 * c.dModel + 3 * c.vocabSize); // final norm, logits, softmax and its gradient
  const activationBytes = 2 * floats * FLOAT_BYTES; // saved for backward + backward transients
  const parameterBytes = copies * parameters * FLOAT_BYTES;
  const evalBytes = 2 * (setting.evalBatches ?? 0) * b * s * FLOAT_BYTES;
  return { parameters, parameterBytes, activationBytes, evalBytes, total: parameterBytes + activationBytes + evalBytes };
}
