// Refusing what cannot fit, before anything is allocated or written (exit 2). One place for the
// trainer's memory decision: train, compare and sweep check every planned run with it, and eval
// its batches. The estimate is flops-accounting's memoryEstimate (parameters with gradients and
// AdamW state, activations, evaluation windows) plus what each extra data-parallel rank holds:
// its own copy of the weights and their gradients, and a worker thread with its own V8 heap and
// tfjs (about 58 MB measured per rank; counted as RANK_OVERHEAD_BYTES). The rows of a batch are
// split across ranks, so the activations are counted once.
import { totalmem } from "node:os";
import { memoryEstimate, type ModelConfig, type ResolvedModelConfig, type RouterCostOption } from "@mixdepth/flops-accounting";
import type { ValidConfig } from "./config.js";
import { resolveRanks } from "@mixdepth/train/node";

/** The config needs more memory than allowed: refused before anything is allocated or written (exit 2). */
export class MemoryLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MemoryLimitError";
  }
}

/** Default memory limit: 75 % of this machine's RAM (the rest for Node, the OS and others). */
export const defaultMemoryLimit = (): number => Math.floor(0.75 * totalmem());

/** What one worker thread costs beyond the tensors it holds (its V8 heap, tfjs, the wasm module). */
export const RANK_OVERHEAD_BYTES = 64 * 1024 ** 2;

const gib = (bytes: number) => (bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(2)} GiB` : `${(bytes / 1024 ** 2).toFixed(1)} MiB`);

/**
 * Refuses a run whose estimated training-step memory, every rank counted, exceeds `limit`.
 * `name` prefixes the message (a compare variant or sweep run). The rank count is resolved as
 * the run will (training.workers, capped by the batch) before the backend is known, so the
 * native backend's single rank is not assumed.
 */
export function checkMemory(valid: ValidConfig, limit: number, name = "this config"): void {
  const t = valid.config.training;
  const e = memoryEstimate(valid.model, { batchSize: t.batchSize, seqLen: t.seqLen, gradAccum: t.gradAccum, evalBatches: t.evalBatches, routerCost: valid.routerCost });
  const { ranks } = resolveRanks(t.workers, { batchSize: t.batchSize, backend: valid.config.backend === "tensorflow" ? "tensorflow" : "" });
  const perRank = 2 * (e.parameterBytes / (4 + (t.gradAccum > 1 ? 1 : 0))) + RANK_OVERHEAD_BYTES; // weights + gradients + the thread
  const rankBytes = (ranks - 1) * perRank;
  const total = e.total + rankBytes;
  if (total > limit) {
    throw new MemoryLimitError(
      `${name} needs about ${gib(total)} per training step (parameters ${gib(e.parameterBytes)} for ${e.parameters} weights with gradients and AdamW state, ` +
        `activations ${gib(e.activationBytes)} at batchSize ${t.batchSize} x seqLen ${t.seqLen}, evaluation ${gib(e.evalBytes)}` +
        (ranks > 1 ? `, ${ranks - 1} more data-parallel rank${ranks > 2 ? "s" : ""} ${gib(rankBytes)}` : "") +
        `), more than the limit ${gib(limit)}; lower model.dModel/nLayers/vocabSize, training.batchSize/seqLen/evalBatches or training.workers, or raise the limit with --max-memory <GiB>`,
    );
  }
}

/**
 * Refuses an evaluation whose batches cannot fit: the weights, one forward pass (no gradients)
 * of batchSize x seqLen, and the batches' token ids. Checked before any batch is built.
 */
export function checkEvalMemory(model: ModelConfig | ResolvedModelConfig, o: { batchSize: number; seqLen: number; batches: number; routerCost: RouterCostOption }, limit: number): void {
  const e = memoryEstimate(model, { batchSize: o.batchSize, seqLen: o.seqLen, evalBatches: o.batches, routerCost: o.routerCost });
  const total = e.parameterBytes / 4 + e.activationBytes / 2 + e.evalBytes; // weights only; forward only
  if (total > limit) {
    throw new MemoryLimitError(
      `--batch-size ${o.batchSize} x --seq-len ${o.seqLen} (${o.batches} batches) needs about ${gib(total)} to evaluate, more than the limit ${gib(limit)} (75% of RAM); lower --batch-size or --batches`,
    );
  }
}
