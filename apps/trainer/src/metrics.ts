// Metrics as JSON lines (metrics.jsonl in the run folder): one record per training step,
// evaluation, checkpoint, start and end. Readable with any JSONL tool.
import { appendFileSync, existsSync } from "node:fs";
import { writeAtomic } from "@mixdepth/train/node";
import type { EvalResult } from "@mixdepth/train";
import { MAX_LOG_BYTES, readBoundedText } from "./read-file.js";

export interface TrainRecord {
  type: "train";
  /** Completed optimizer steps (1-based). */
  step: number;
  /** Language-model loss (nats/token), mean over the step's micro-batches. */
  loss: number;
  /** Objective minimised: loss + aux. */
  total: number;
  aux: number;
  lr: number;
  gradNorm: number;
  tokens: number;
  /** Training FLOPs of steps 1..step: the sum of each step's (a capacity warm-up's first steps cost more; measured under threshold routing). */
  flops: number;
  /** Threshold routing (routing.train "threshold") only: this step's measured training FLOPs (absent otherwise and in older logs). */
  stepFlops?: number;
  msPerStep: number;
  tokensPerSec: number;
  /**
   * With training.routingStats, per routed block on the step's own batches: accuracy of the
   * causal rule (predictor or threshold) against top-k, and recall of the top-k tokens (absent
   * otherwise and in older logs; NaN is written as null).
   */
  routing?: { layer: number; accuracy: number; recall: number }[];
}

export interface EvalRecord extends EvalResult {
  type: "eval";
  step: number;
  flops: number;
  /** Weighted auxiliary losses by name on the first evaluation batch (absent in older logs). */
  auxLosses?: Record<string, number>;
}

export type MetricRecord =
  | TrainRecord
  | EvalRecord
  | { type: "start"; time: string; backend: string; /** Data-parallel ranks (absent in older logs). */ ranks?: number; resumedFrom: number | null; config: unknown; paramCount: number; flopsPerStep: number; forwardFlopsPerSequence: number }
  | { type: "checkpoint"; step: number; dir: string }
  | { type: "end"; step: number; status: string; time: string }
  | { type: "error"; step: number; message: string };

export class MetricsLog {
  constructor(readonly path: string) {}

  write(r: MetricRecord): void {
    appendFileSync(this.path, JSON.stringify(r) + "\n");
  }

  /** Drops step records after `step` (a resumed run redoes them) and keeps the rest. */
  truncateAfter(step: number): void {
    if (!existsSync(this.path)) return;
    const keep = readMetrics(this.path).filter((r) => !("step" in r) || r.step <= step || r.type === "end");
    const lines = keep.filter((r) => !(r.type === "end" && r.step > step));
    writeAtomic(this.path, lines.map((r) => JSON.stringify(r) + "\n").join(""));
  }
}

/** Parses metrics.jsonl; a torn last line (crash mid-append) is ignored. */
export function readMetrics(path: string): MetricRecord[] {
  if (!existsSync(path)) return [];
  const out: MetricRecord[] = [];
  for (const line of readBoundedText(path, MAX_LOG_BYTES, "metrics.jsonl", "MAX_LOG_BYTES, 256 MiB").split("\n")) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as MetricRecord);
    } catch {
      // torn line
    }
  }
  return out;
}
