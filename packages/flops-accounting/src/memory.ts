// Memory of one training step, as arithmetic on the config (no tensors), so a trainer can
// refuse a config that will not fit before it allocates or writes anything. Conventions:
// float32 everywhere (4 bytes); AdamW state; the activations a step keeps alive at its peak,
// which is the forward activations saved for backward plus as many again of transient
// backward tensors. It is an estimate, deliberately on the high side, not an exact count:
// backends add their own buffers.
import { routedTokens, type ModelConfig, type ResolvedModelConfig } from "@mixdepth/core";
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

/** Floats a block saves for backward on B sequences of S tokens, t of them processed. */
function blockActivations(c: ResolvedModelConfig, b: number, s: number, t: number): number {
  const d = c.dModel;
  const h = c.mlpHidden;
  const perToken = 14 * d + (c.family === "gpt2" ? 4 : 5) * h; // gathers, norms, q/k/v and head views, attention out, MLP
  const attention = (2 * c.nHeads + 1) * t * t; // scores, softmax, mask
  return b * (t * perToken + attention + 2 * s * d); // + scatter back into the residual stream
}

/** Estimated peak bytes of one AdamW training step (see the module comment). */
export function memoryEstimate(config: ModelConfig | ResolvedModelConfig, setting: MemorySetting): MemoryEstimate {
  const c = asResolved(config);
  const { batchSize: b, seqLen: s } = setting;
  const parameters = paramCounts(c, setting.routerCost ? { routerCost: setting.routerCost } : {}).total;
  const copies = 4 + ((setting.gradAccum ?? 1) > 1 ? 1 : 0); // weights, gradients, m, v (+ accumulator)
  let floats = 0;
  for (const l of c.layers) floats += blockActivations(c, b, s, l.routed ? routedTokens(l.capacity, s) : s);
  floats += b * s * (3 * c.dModel + 3 * c.vocabSize); // final norm, logits, softmax and its gradient
  const activationBytes = 2 * floats * FLOAT_BYTES; // saved for backward + backward transients
  const parameterBytes = copies * parameters * FLOAT_BYTES;
  const evalBytes = 2 * (setting.evalBatches ?? 0) * b * s * FLOAT_BYTES;
  return { parameters, parameterBytes, activationBytes, evalBytes, total: parameterBytes + activationBytes + evalBytes };
}
