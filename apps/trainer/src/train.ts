// A training run: the folder (lock, run.json, metrics.jsonl, checkpoints, report.html), the
// data, evaluation and checkpoint cadence, progress and the start/end records around
// @mixdepth/train's one training step. The step itself, data parallelism and the checkpoint
// files are the kit's (@mixdepth/train, @mixdepth/train/node); this file only orchestrates.
// Exactness of --resume rests on three things saved in every checkpoint: the weights, the
// optimizer moments and step, and the batch sampler's RNG state (the data position); with the
// same backend the resumed run computes the same numbers as an uninterrupted one.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { deriveSeed } from "@mixdepth/core";
import { createTransformer, CheckpointError, type Transformer } from "@mixdepth/transformer";
import { flopsPerStep, forwardFlops, paramCounts, runFlops, BACKWARD_FACTOR } from "@mixdepth/flops-accounting";
import { checkMemory, defaultMemoryLimit } from "./memory-check.js";
import {
  AdamW,
  decayRule,
  evalBatches,
  evaluate,
  NonFiniteError,
  randomBatch,
  trainableWeights,
  trainStep,
  type Batch,
  type EvalResult,
  type LossAndGrads,
  type TrainStepResult,
} from "@mixdepth/train";
import { DataParallel, describeTimings, resolveRanks, restoreTrainState, saveTrainState, splitRows, writeAtomic } from "@mixdepth/train/node";
import type { ValidConfig } from "./config.js";
import { byteTokenizer, type Tokenizer } from "@mixdepth/text";
import { loadBrown, loadText, prepareTokens, type TokenData } from "./data.js";
import { MetricsLog } from "./metrics.js";
import { Progress } from "./progress.js";
import { writeRunReport } from "./run-report.js";
import { auxLossesByName, depthView } from "./depth-view.js";
import { Rng } from "./rng.js";
import { lockRunDir } from "./run-lock.js";

// A loss, gradient norm or weight that is not finite: @mixdepth/train's error (exit 3).
export { NonFiniteError };

// The memory check (every rank counted) lives in memory-check.ts, shared with compare, sweep and eval.
export { checkMemory, defaultMemoryLimit, MemoryLimitError } from "./memory-check.js";

/** Test hooks: inject faults at a step (replaces the old MIXDEPTH_FAULT_NAN_AT_STEP env var). */
export interface TrainFaults {
  /** Report a NaN loss at this step. */
  nanLossAtStep?: number;
  /** Write Infinity into one weight right after this step's update. */
  infWeightAtStep?: number;
  /** Data-parallel workers throw at this micro-batch (1-based, counting from the start of this run). */
  workerThrowAtCall?: number;
}

/** Test hooks: inject faults at a step (replaces the old MIXDEPTH_FAULT_NAN_AT_STEP env var). */
export interface TrainFaults {
  /** Report a NaN loss at this step. */
  nanLossAtStep?: number;
  /** Write Infinity into one weight right after this step's update. */
  infWeightAtStep?: number;
  /** Data-parallel workers throw at this micro-batch (1-based, counting from the start of this run). */
  workerThrowAtCall?: number;
}

export interface TrainOptions {
  valid: ValidConfig;
  runDir: string;
  resume: boolean;
  /** The backend line printed at start (stored in the metrics). */
  backendLine: string;
  /** Where progress goes (default process.stdout). */
  out?: NodeJS.WriteStream | { write(s: string): boolean; isTTY?: boolean; columns?: number };
  /** Set `requested` (e.g. from SIGINT) to stop after the current step with a checkpoint. */
  stop?: { requested: boolean };
  /** Called after every step (tests). */
  onStep?: (step: number, loss: number) => void;
  /** Write report.html at the end (default true). */
  report?: boolean;
  /** Tests only: inject faults. */
  faults?: TrainFaults;
  /** Refuse configs whose estimated step memory exceeds this many bytes. Default {@link defaultMemoryLimit}. */
  maxMemoryBytes?: number;
}

export interface TrainResult {
  status: "done" | "interrupted";
  step: number;
  checkpointDir: string | null;
  reportPath: string | null;
  finalEval: EvalResult | null;
  msPerStep: number;
  data: TokenData;
}

export function loadDocuments(source: string) {
  return source === "brown" ? loadBrown() : loadText(source);
}

const pct = (c: number) => `${+(c * 100).toFixed(2)}%`;

/** The model line of a run's header: shape, then MoD routing and MoE experts (both: staged MoDE; no-op experts: integrated). */
export function modelDescription(valid: ValidConfig): string {
  const m = valid.model;
  const r = m.routing;
  const e = m.experts;
  const parts: string[] = [];
  if (r.blocks.length) {
    const how =
      r.train === "threshold"
        ? `threshold p > ${r.threshold} (training)`
        : `${pct(r.capacity)} capacity${r.capacityWarmup ? ` (warm-up from 100% over ${r.capacityWarmup.steps} steps)` : ""}`;
    parts.push(`MoD ${how} on blocks [${r.blocks.join(", ")}], ${r.router} router, causal: ${r.causal}`);
  }
  if (e) {
    const kind = r.blocks.some((b) => e.blocks.includes(b)) ? "staged MoDE" : e.noop > 0 ? "integrated MoDE" : "MoE";
    parts.push(`${kind} ${e.count} experts${e.noop ? ` + ${e.noop} no-op` : ""} (${e.routing}, ${pct(e.capacity)} capacity each) on blocks [${e.blocks.join(", ")}]`);
  }
  return `${m.family} d=${m.dModel} L=${m.nLayers} heads=${m.nHeads} ctx=${m.contextLength} vocab=${m.vocabSize}; ${parts.length ? parts.join("; ") : "dense"}`;
}

/** Everything a checkpoint must agree with to be resumed (training.steps may grow: --resume extends a run). */
function fingerprint(valid: ValidConfig, dataKey: string): string {
  const t = valid.config.training;
  const fixed = { model: valid.model, batchSize: t.batchSize, seqLen: t.seqLen, gradAccum: t.gradAccum, seed: t.seed, dataKey };
  return createHash("sha256").update(JSON.stringify(fixed)).digest("hex").slice(0, 32);
}

/** Tokens, loaded (or read from the cache) and split; the fixed evaluation windows. */
function loadRunData(valid: ValidConfig, tokenizer: Tokenizer, log: (s: string) => void): { data: TokenData; evalSet: Batch[] } {
  const { data: d, training: t } = valid.config;
  const t0 = performance.now();
  const data = prepareTokens(loadDocuments(d.source), { valFraction: d.valFraction, splitSeed: d.splitSeed, minPartChars: t.seqLen + 1 }, tokenizer, resolve(d.cacheDir));
  log(
    `data: ${d.source} (${data.trainDocs} train / ${data.valDocs} validation documents, ${data.train.length} / ${data.val.length} tokens; ` +
      `${data.fromCache ? "cached" : "tokenized"} in ${data.cachePath}, ${Math.round(performance.now() - t0)} ms)`,
  );
  return { data, evalSet: evalBatches(data.val, t.batchSize, t.seqLen, t.evalBatches) };
}

/** Creates (or reopens, with `resume`) the run folder and takes its lock; the caller releases it. */
function openRunFolder(runDir: string, resume: boolean, log: (s: string) => void): { releaseLock: () => void; metrics: MetricsLog } {
  mkdirSync(runDir, { recursive: true });
  // One writer per run folder; released by the caller (a killed run's lock is stale).
  const releaseLock = lockRunDir(runDir, log);
  if (!resume && existsSync(join(runDir, "checkpoints", "latest.json"))) {
    releaseLock();
    throw new CheckpointError(`${runDir} already holds a run; pass --resume to continue it or choose another --out`);
  }
  const metrics = new MetricsLog(join(runDir, "metrics.jsonl"));
  // A fresh run starts a new metrics file: records of an earlier attempt that never wrote a
  // checkpoint would otherwise mix into its curves.
  if (!resume) rmSync(metrics.path, { force: true });
  return { releaseLock, metrics };
}

/**
 * The live objects of one run (model, AdamW, the batch RNG) and what its records need. Owns
 * the model and the optimizer: dispose().
 */
class RunState {
  readonly model: Transformer;
  readonly params: Map<string, tf.Variable>;
  readonly optimizer: AdamW;
  /** Batches are drawn from it in rank 0, whatever the ranks: the same stream as one rank. */
  readonly rng: Rng;
  readonly fingerprint: string;
  /** Training FLOPs per optimizer step (after any capacity warm-up): routers count what their kind declares (router registry), custom kinds included. */
  readonly perStep: number;
  step = 0;
  /**
   * Training FLOPs of the steps taken: each step's own (a capacity warm-up's first steps cost
   * more), measured from the tokens the blocks ran on under threshold routing.
   */
  flops = 0;
  /** Newest checkpoint of this run (or the one it resumed from); its weights were checked finite. */
  lastCheckpoint: string | null = null;

  constructor(
    readonly valid: ValidConfig,
    readonly runDir: string,
    readonly metrics: MetricsLog,
    readonly tokenizer: Tokenizer,
    dataKey: string,
  ) {
    const t = valid.config.training;
    this.model = createTransformer(valid.config.model, { seed: t.seed });
    this.params = trainableWeights(this.model);
    this.optimizer = new AdamW(this.params, { beta1: t.beta1, beta2: t.beta2, eps: t.eps, weightDecay: t.weightDecay, decay: decayRule(t) });
    this.rng = new Rng(deriveSeed(t.seed, "batches"));
    this.fingerprint = fingerprint(valid, dataKey);
    this.perStep = flopsPerStep(valid.model, { batchSize: t.batchSize, seqLen: t.seqLen, gradAccum: t.gradAccum, routerCost: valid.routerCost });
  }

  /** Restores the run folder's newest checkpoint; the metrics after it are dropped (they are redone). */
  resume(log: (s: string) => void): void {
    const ck = restoreTrainState(this.runDir, this, this.fingerprint);
    this.step = ck.step;
    // Threshold routing's FLOPs were measured: the checkpoint holds their sum. Otherwise they are the plan's.
    this.flops = this.measured ? ck.state.trainingFlops : runFlops(this.valid.model, this.setting, ck.step);
    this.lastCheckpoint = ck.dir;
    this.metrics.truncateAfter(ck.step);
    log(`resumed from ${ck.dir} at step ${ck.step}`);
  }

  private get setting() {
    const t = this.valid.config.training;
    return { batchSize: t.batchSize, seqLen: t.seqLen, gradAccum: t.gradAccum, routerCost: this.valid.routerCost };
  }

  /** Threshold routing (routing.train "threshold") processes a data-dependent number of tokens. */
  get measured(): boolean {
    return this.valid.model.routing.blocks.length > 0 && this.valid.model.routing.train === "threshold";
  }

  /**
   * Adds step `step`'s (0-based) training FLOPs: measured from its forward passes under
   * threshold routing (backward = BACKWARD_FACTOR x forward, as everywhere), else the plan's
   * FLOPs of that step. Returns them.
   */
  addStep(step: number, r: TrainStepResult): number {
    const t = this.valid.config.training;
    let f: number;
    if (this.measured) {
      f = 0;
      for (const p of r.passes) f += p.rows * (1 + BACKWARD_FACTOR) * forwardFlops(this.valid.model, { seqLen: t.seqLen, blockTokens: p.blockTokens, routerCost: this.valid.routerCost }).total;
    } else {
      f = flopsPerStep(this.valid.model, this.setting, step);
    }
    this.flops += f;
    return f;
  }

  /** A NonFiniteError from the kit, told the run's way (which checkpoint is intact) and recorded. */
  stopped(e: unknown): never {
    if (!(e instanceof NonFiniteError)) throw e;
    const last = this.lastCheckpoint;
    const err = new NonFiniteError(
      e.step,
      e.what,
      "; training stopped without writing a checkpoint" +
        (last ? ` (the last checkpoint with finite weights, ${last}, is intact)` : " (no checkpoint was written in this run)") +
        ". Try a lower training.lr or a gradClip.",
    );
    this.metrics.write({ type: "error", step: e.step, message: err.message });
    throw err;
  }

  checkpoint(): void {
    const { config } = this.valid;
    const t = config.training;
    const s = this.step;
    try {
      this.lastCheckpoint = saveTrainState(this.runDir, this, {
        step: s,
        tokensSeen: s * t.batchSize * t.seqLen * t.gradAccum,
        trainingFlops: this.flops,
        fingerprint: this.fingerprint,
        config: { model: config.model, tokenizer: this.tokenizer.toJSON(), trained: true, description: modelDescription(this.valid) },
      });
    } catch (e) {
      this.stopped(e); // never write a checkpoint that cannot be trained or sampled from
    }
    this.metrics.write({ type: "checkpoint", step: s, dir: this.lastCheckpoint });
  }

  evaluate(evalSet: Batch[], log: (s: string) => void): EvalResult {
    const t = this.valid.config.training;
    const s = this.step;
    const r = evaluate(this.model, evalSet, t.batchSize, t.seqLen, this.tokenizer.bytesPerToken());
    this.metrics.write({ type: "eval", step: s, flops: this.flops, ...r, auxLosses: auxLossesByName(this.model, evalSet[0] as Batch, t.batchSize, t.seqLen) });
    const causal = r.causal ? `, causal ${r.causal.loss.toFixed(4)} (${r.causal.bpb.toFixed(3)} bpb)` : "";
    const acc = r.routing.length ? `, causal-vs-topk accuracy ${r.routing.map((l) => l.accuracy.toFixed(3)).join("/")}` : "";
    log(`eval @ step ${s}: val loss top-k ${r.topk.loss.toFixed(4)} (${r.topk.bpb.toFixed(3)} bpb)${causal}${acc}`);
    return r;
  }

  dispose(): void {
    this.optimizer.dispose();
    this.model.dispose();
  }
}

/** run.json, the start record and lines; then the ranks (this thread and the worker threads). */
async function start(run: RunState, opts: TrainOptions, log: (s: string) => void): Promise<DataParallel> {
  const { valid } = opts;
  const cfg = valid.config;
  const t = cfg.training;
  writeAtomic(join(run.runDir, "run.json"), JSON.stringify(cfg, null, 2) + "\n");
  const pc = paramCounts(valid.model, { routerCost: valid.routerCost });
  const ranks = resolveRanks(t.workers, { batchSize: t.batchSize, backend: tf.getBackend() });
  run.metrics.write({
    type: "start",
    time: new Date().toISOString(),
    backend: opts.backendLine,
    ranks: ranks.ranks,
    resumedFrom: opts.resume ? run.step : null,
    config: cfg,
    paramCount: pc.total,
    flopsPerStep: run.perStep,
    forwardFlopsPerSequence: forwardFlops(valid.model, { seqLen: t.seqLen, routerCost: valid.routerCost }).total,
  });
  log(`model: ${modelDescription(valid)}; ${pc.total} parameters; ${run.perStep.toExponential(3)} training FLOPs/step`);
  log(`run: ${run.runDir}`);
  const throwAt = opts.faults?.workerThrowAtCall;
  const dp = await DataParallel.start(run.model, run.params, {
    ranks: ranks.ranks,
    config: cfg.model,
    seed: t.seed,
    backend: tf.getBackend(),
    plugins: cfg.plugins ?? [],
    faults: throwAt !== undefined ? { workerThrowAtCall: throwAt } : {},
  });
  const n = dp.ranks;
  log(`ranks: ${n} (${ranks.why}; ${n > 1 ? `data parallel: ${splitRows(t.batchSize, n).join(" + ")} rows per micro-batch, this thread and ${n - 1} worker thread${n > 2 ? "s" : ""}` : "this thread only"})`);
  return dp;
}

/** The steps from run.step to training.steps: one trainStep each, then the records, eval and checkpoint cadence, Ctrl-C. */
async function loop(run: RunState, dp: DataParallel, opts: TrainOptions, data: TokenData, evalSet: Batch[], progress: Progress) {
  const t = opts.valid.config.training;
  const log = (s: string) => progress.log(s);
  const faults = opts.faults ?? {};
  // The faults of the tests wrap the step's two parts; with none set these are dp.step and AdamW.
  const grads: LossAndGrads = async (b, rows, seqLen, options) => {
    const r = await dp.step(b, rows, seqLen, options);
    return faults.nanLossAtStep === run.step + 1 ? { ...r, lm: Number.NaN } : r;
  };
  const optimizer = {
    apply: (g: Map<string, tf.Tensor>, lr: number) => {
      run.optimizer.apply(g, lr);
      if (faults.infWeightAtStep !== run.step + 1) return;
      const v = [...run.params.values()][0] as tf.Variable;
      tf.tidy(() => v.assign(tf.mul(v, Number.POSITIVE_INFINITY)));
    },
  };
  const parts = { model: run.model, params: run.params, optimizer, lossAndGrads: grads, nextBatch: () => randomBatch(data.train, t.batchSize, t.seqLen, run.rng) };
  const startStep = run.step;
  const trainStart = performance.now();
  const tokensPerStep = t.batchSize * t.seqLen * t.gradAccum;
  let msTotal = 0;
  let finalEval: EvalResult | null = null;
  let interrupted = false;
  while (run.step < t.steps) {
    const st0 = performance.now();
    const r = await trainStep(parts, t, run.step).catch((e: unknown) => run.stopped(e));
    const stepFlops = run.addStep(run.step, r);
    const step = (run.step += 1);
    const ms = performance.now() - st0;
    msTotal += ms;
    const elapsed = (performance.now() - trainStart) / 1000;
    const tps = ((step - startStep) * tokensPerStep) / Math.max(elapsed, 1e-9);
    run.metrics.write({ type: "train", step, loss: r.loss, total: r.loss + r.aux, aux: r.aux, lr: r.lr, gradNorm: r.gradNorm, tokens: step * tokensPerStep, flops: run.flops, ...(run.measured ? { stepFlops } : {}), msPerStep: ms, tokensPerSec: tps, ...(r.routing ? { routing: r.routing.map((a) => ({ layer: a.layer, accuracy: a.accuracy, recall: a.recall })) } : {}) });
    opts.onStep?.(step, r.loss);
    progress.update({ step, steps: t.steps, loss: r.loss, tokensPerSec: tps, elapsed, startStep });
    const last = step === t.steps;
    if (last || (t.evalEvery > 0 && step % t.evalEvery === 0)) {
      const e = run.evaluate(evalSet, log);
      if (last) finalEval = e;
    }
    // Yield to the event loop once per step: signal handlers (Ctrl-C) only run there.
    await new Promise<void>((res) => setImmediate(res));
    if (opts.stop?.requested && !last) {
      log(`interrupted: stopping after step ${step}`);
      run.checkpoint();
      interrupted = true;
      break;
    }
    if (last || (t.checkpointEvery > 0 && step % t.checkpointEvery === 0)) run.checkpoint();
  }
  const steps = run.step - startStep;
  return { interrupted, finalEval, startStep, msPerStep: steps ? msTotal / steps : Number.NaN };
}

/** Runs (or resumes) a training run in `runDir`. */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const t = opts.valid.config.training;
  const progress = new Progress(opts.out ?? process.stdout, Math.max(1, Math.round(t.steps / 20)));
  const log = (s: string) => progress.log(s);
  const runDir = resolve(opts.runDir);
  const tokenizer = byteTokenizer();
  // Before anything is allocated or written: a config that cannot fit fails here, not in V8.
  checkMemory(opts.valid, opts.maxMemoryBytes ?? defaultMemoryLimit());
  const { data, evalSet } = loadRunData(opts.valid, tokenizer, log);
  const folder = openRunFolder(runDir, opts.resume, log);
  let run: RunState | null = null;
  let dp: DataParallel | null = null;
  try {
    run = new RunState(opts.valid, runDir, folder.metrics, tokenizer, data.key);
    if (opts.resume) run.resume(log);
    dp = await start(run, opts, log);
    const r = await loop(run, dp, opts, data, evalSet, progress);
    progress.done();
    const step = run.step;
    if (!r.interrupted && step === t.steps && r.startStep === t.steps) log(`the run already finished at step ${step}`);
    if (dp.ranks > 1 && dp.timings.calls > 0) log(`data parallel: ${describeTimings(dp.timings)}`);
    const status = r.interrupted ? "interrupted" : "done";
    folder.metrics.write({ type: "end", step, status, time: new Date().toISOString() });
    const reportPath = opts.report === false ? null : writeRunReport(runDir, { depth: depthView(run.model, data.val, tokenizer, step) });
    return { status, step, checkpointDir: run.lastCheckpoint, reportPath, finalEval: r.finalEval, msPerStep: r.msPerStep, data };
  } finally {
    // Workers go first, on every path out (done, error, non-finite stop, Ctrl-C).
    await dp?.close();
    progress.done();
    run?.dispose();
    folder.releaseLock();
  }
}
