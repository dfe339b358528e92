// The training loop: data, model, AdamW, evaluation, checkpoints, metrics, report.
// Exactness of --resume rests on three things saved in every checkpoint: the weights, the
// optimizer moments and step, and the batch sampler's RNG state (the data position); with the
// same backend the resumed run computes the same numbers as an uninterrupted one.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { createTransformer, type Transformer } from "@mixdepth/transformer";
import { flopsPerStep, forwardFlops, memoryEstimate, paramCounts } from "@mixdepth/flops-accounting";
import { totalmem } from "node:os";
import type { ValidConfig } from "./config.js";
import { AdamW, byteTokenizer, clipByGlobalNorm, decayRule, evalBatches, GradientAccumulator, learningRate, randomBatch, trainableWeights, type Batch, type Tokenizer } from "@mixdepth/train";
import { DataParallel, describeTimings, resolveRanks, splitRows } from "./data-parallel.js";
import { loadBrown, loadText, prepareTokens, type TokenData } from "./data.js";
import { evaluate, type EvalResult } from "./eval.js";
import { CheckpointError, loadCheckpoint, saveCheckpoint } from "./checkpoint.js";
import { MetricsLog } from "./metrics.js";
import { Progress } from "./progress.js";
import { writeRunReport } from "./run-report.js";
import { auxLossesByName, depthView } from "./depth-view.js";
import { Rng } from "./rng.js";
import { writeAtomic } from "./atomic.js";
import { lockRunDir } from "./run-lock.js";

/**
 * Thrown when the loss, the gradient norm or any weight stops being finite; nothing is
 * checkpointed after it. `lastCheckpoint` is the newest checkpoint of this run (or the one it
 * resumed from), whose weights were checked finite when it was written (or loaded).
 */
export class NonFiniteError extends Error {
  constructor(
    readonly step: number,
    what: string,
    lastCheckpoint: string | null,
  ) {
    super(
      `${what} at step ${step}; training stopped without writing a checkpoint` +
        (lastCheckpoint ? ` (the last checkpoint with finite weights, ${lastCheckpoint}, is intact)` : " (no checkpoint was written in this run)") +
        ". Try a lower training.lr or a gradClip.",
    );
    this.name = "NonFiniteError";
  }
}

/** The config needs more memory than allowed: refused before anything is allocated or written (exit 2). */
export class MemoryLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MemoryLimitError";
  }
}

/** Default memory limit: 75 % of this machine's RAM (the rest for Node, the OS and others). */
export const defaultMemoryLimit = (): number => Math.floor(0.75 * totalmem());

const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(2)} GiB`;

/**
 * Refuses a run whose estimated training-step memory (parameters, gradients, AdamW state,
 * activations, evaluation windows; flops-accounting's memoryEstimate) exceeds `limit`.
 */
export function checkMemory(valid: ValidConfig, limit: number): void {
  const t = valid.config.training;
  const e = memoryEstimate(valid.model, { batchSize: t.batchSize, seqLen: t.seqLen, gradAccum: t.gradAccum, evalBatches: t.evalBatches });
  if (e.total > limit) {
    throw new MemoryLimitError(
      `this config needs about ${gib(e.total)} per training step (parameters ${gib(e.parameterBytes)} for ${e.parameters} weights with gradients and AdamW state, ` +
        `activations ${gib(e.activationBytes)} at batchSize ${t.batchSize} x seqLen ${t.seqLen}, evaluation ${gib(e.evalBytes)}), more than the limit ${gib(limit)}; ` +
        `lower model.dModel/nLayers/vocabSize or training.batchSize/seqLen/evalBatches, or raise the limit with --max-memory <GiB>`,
    );
  }
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

/** Name of the first array holding a non-finite value, or null. */
function firstNonFinite(arrays: Iterable<[string, Float32Array]>): string | null {
  for (const [name, a] of arrays) {
    for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i] as number)) return name;
  }
  return null;
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

/** Everything a checkpoint must agree with to be resumed (training.steps may grow: --resume extends a run). */
function fingerprint(valid: ValidConfig, dataKey: string): string {
  const t = valid.config.training;
  const fixed = { model: valid.model, batchSize: t.batchSize, seqLen: t.seqLen, gradAccum: t.gradAccum, seed: t.seed, dataKey };
  return createHash("sha256").update(JSON.stringify(fixed)).digest("hex").slice(0, 32);
}

function weightData(model: Transformer): { values: Map<string, Float32Array>; shapes: Map<string, number[]> } {
  const w = model.getWeights();
  return { values: new Map([...w].map(([n, v]) => [n, v.dataSync() as Float32Array])), shapes: model.weightShapes() };
}

export function modelDescription(valid: ValidConfig): string {
  const m = valid.model;
  const r = m.routing;
  const routing = r.blocks.length ? `MoD ${+(r.capacity * 100).toFixed(2)}% capacity on blocks [${r.blocks.join(", ")}], ${r.router} router, causal: ${r.causal}` : "dense";
  return `${m.family} d=${m.dModel} L=${m.nLayers} heads=${m.nHeads} ctx=${m.contextLength} vocab=${m.vocabSize}; ${routing}`;
}

/** Runs (or resumes) a training run in `runDir`. */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const { valid } = opts;
  const cfg = valid.config;
  const t = cfg.training;
  const out = opts.out ?? process.stdout;
  const progress = new Progress(out, Math.max(1, Math.round(t.steps / 20)));
  const log = (s: string) => progress.log(s);
  const runDir = resolve(opts.runDir);
  const tokenizer: Tokenizer = byteTokenizer();
  // Before anything is allocated or written: a config that cannot fit fails here, not in V8.
  checkMemory(valid, opts.maxMemoryBytes ?? defaultMemoryLimit());

  const t0 = performance.now();
  const docs = loadDocuments(cfg.data.source);
  const data = prepareTokens(docs, { valFraction: cfg.data.valFraction, splitSeed: cfg.data.splitSeed, minPartChars: t.seqLen + 1 }, tokenizer, resolve(cfg.data.cacheDir));
  log(
    `data: ${cfg.data.source} (${data.trainDocs} train / ${data.valDocs} validation documents, ${data.train.length} / ${data.val.length} tokens; ` +
      `${data.fromCache ? "cached" : "tokenized"} in ${data.cachePath}, ${Math.round(performance.now() - t0)} ms)`,
  );
  const evalSet: Batch[] = evalBatches(data.val, t.batchSize, t.seqLen, t.evalBatches);

  mkdirSync(runDir, { recursive: true });
  // One writer per run folder; released in the finally below (a killed run's lock is stale).
  const releaseLock = lockRunDir(runDir, log);
  if (!opts.resume && existsSync(join(runDir, "checkpoints", "latest.json"))) {
    releaseLock();
    throw new CheckpointError(`${runDir} already holds a run; pass --resume to continue it or choose another --out`);
  }
  const metrics = new MetricsLog(join(runDir, "metrics.jsonl"));
  // A fresh run starts a new metrics file: records of an earlier attempt that never wrote a
  // checkpoint would otherwise mix into its curves.
  if (!opts.resume) rmSync(metrics.path, { force: true });
  let model: Transformer;
  try {
    model = createTransformer(cfg.model, { seed: t.seed });
  } catch (e) {
    releaseLock();
    throw e;
  }
  const params = trainableWeights(model);
  const opt = new AdamW(params, { beta1: t.beta1, beta2: t.beta2, eps: t.eps, weightDecay: t.weightDecay, decay: decayRule(t) });
  const vars = [...params.values()];
  const rng = new Rng(t.seed ^ 0x0ba7c4);
  const fp = fingerprint(valid, data.key);
  // Routers count what their kind declares (router registry), custom kinds included.
  const perStep = flopsPerStep(valid.model, { batchSize: t.batchSize, seqLen: t.seqLen, gradAccum: t.gradAccum, routerCost: valid.routerCost });
  const fwd = forwardFlops(valid.model, { seqLen: t.seqLen, routerCost: valid.routerCost }).total;
  let step = 0;
  let lastCheckpoint: string | null = null;
  let msTotal = 0;
  let stepsTimed = 0;
  let dp: DataParallel | null = null;

  try {
    if (opts.resume) {
      const ck = loadCheckpoint(runDir, model.weightShapes(), fp);
      const bad = firstNonFinite([...ck.weights, ...[...ck.m].map(([n, a]) => [`m.${n}`, a] as [string, Float32Array]), ...[...ck.v].map(([n, a]) => [`v.${n}`, a] as [string, Float32Array])]);
      if (bad) throw new CheckpointError(`checkpoint: ${ck.dir} holds non-finite values in "${bad}"; it cannot be resumed (delete it and point checkpoints/latest.json at an earlier step folder)`);
      const loaded = new Map([...ck.weights].map(([n, d]) => [n, tf.tensor(d, ck.shapes.get(n))]));
      try {
        model.setWeights(loaded); // copies the values
      } finally {
        tf.dispose([...loaded.values()]);
      }
      opt.setState({ step: ck.state.optimizerStep, m: ck.m, v: ck.v });
      rng.state = ck.state.rngState;
      model.setRouterStates(ck.state.routerStates ?? {});
      step = ck.step;
      lastCheckpoint = ck.dir;
      metrics.truncateAfter(step);
      log(`resumed from ${ck.dir} at step ${step}`);
    }
    writeAtomic(join(runDir, "run.json"), JSON.stringify(cfg, null, 2) + "\n");
    const pc = paramCounts(valid.model, { routerCost: valid.routerCost });
    const ranks = resolveRanks(t.workers, { batchSize: t.batchSize, backend: tf.getBackend() });
    metrics.write({
      type: "start",
      time: new Date().toISOString(),
      backend: opts.backendLine,
      ranks: ranks.ranks,
      resumedFrom: opts.resume ? step : null,
      config: cfg,
      paramCount: pc.total,
      flopsPerStep: perStep,
      forwardFlopsPerSequence: fwd,
    });
    log(`model: ${modelDescription(valid)}; ${pc.total} parameters; ${perStep.toExponential(3)} training FLOPs/step`);
    log(`run: ${runDir}`);
    const faults = opts.faults ?? {};
    dp = await DataParallel.start(model, params, {
      ranks: ranks.ranks,
      config: cfg.model,
      seed: t.seed,
      backend: tf.getBackend(),
      plugins: cfg.plugins ?? [],
      faults: faults.workerThrowAtCall !== undefined ? { workerThrowAtCall: faults.workerThrowAtCall } : {},
    });
    log(`ranks: ${dp.ranks} (${ranks.why}; ${dp.ranks > 1 ? `data parallel: ${splitRows(t.batchSize, dp.ranks).join(" + ")} rows per micro-batch, this thread and ${dp.ranks - 1} worker thread${dp.ranks > 2 ? "s" : ""}` : "this thread only"})`);

    const checkpoint = (s: number) => {
      const w = weightData(model);
      const st = opt.getState();
      // Never write a checkpoint that cannot be trained or sampled from.
      const bad = firstNonFinite([...w.values, ...st.m, ...st.v]);
      if (bad) {
        const e = new NonFiniteError(s, `"${bad}" holds a non-finite value`, lastCheckpoint);
        metrics.write({ type: "error", step: s, message: e.message });
        throw e;
      }
      lastCheckpoint = saveCheckpoint(runDir, {
        step: s,
        weights: w.values,
        shapes: w.shapes,
        m: st.m,
        v: st.v,
        state: { step: s, rngState: rng.state, routerStates: model.getRouterStates(), optimizerStep: st.step, tokensSeen: s * t.batchSize * t.seqLen * t.gradAccum, trainingFlops: s * perStep, fingerprint: fp },
        config: { model: cfg.model, tokenizer: tokenizer.toJSON(), trained: true, description: modelDescription(valid), step: s, routerStates: model.getRouterStates() },
      });
      metrics.write({ type: "checkpoint", step: s, dir: lastCheckpoint });
    };
    const runEval = (s: number): EvalResult => {
      const r = evaluate(model, evalSet, t.batchSize, t.seqLen, tokenizer.bytesPerToken());
      metrics.write({ type: "eval", step: s, flops: s * perStep, ...r, auxLosses: auxLossesByName(model, evalSet[0] as Batch, t.batchSize, t.seqLen) });
      const causal = r.causal ? `, causal ${r.causal.loss.toFixed(4)} (${r.causal.bpb.toFixed(3)} bpb)` : "";
      const acc = r.routing.length ? `, causal-vs-topk accuracy ${r.routing.map((l) => l.accuracy.toFixed(3)).join("/")}` : "";
      log(`eval @ step ${s}: val loss top-k ${r.topk.loss.toFixed(4)} (${r.topk.bpb.toFixed(3)} bpb)${causal}${acc}`);
      return r;
    };

    const varNames = [...params.keys()];
    /** One readback per step: is every trainable weight finite? Names the first that is not. */
    const nonFiniteWeight = (): string | null => {
      const ok = tf.tidy(() => tf.stack(vars.map((v) => tf.all(tf.isFinite(v)))).dataSync());
      const i = ok.findIndex((x) => !x);
      return i < 0 ? null : (varNames[i] as string);
    };
    const startStep = step;
    const trainStart = performance.now();
    let finalEval: EvalResult | null = null;
    let interrupted = false;
    while (step < t.steps) {
      const st0 = performance.now();
      const lr = learningRate(t, step);
      let lmSum = 0;
      let auxSum = 0;
      const acc = new GradientAccumulator();
      for (let micro = 0; micro < t.gradAccum; micro++) {
        // Batches are drawn here, in rank 0, whatever the ranks: the same stream as one rank.
        const r = await dp.step(randomBatch(data.train, t.batchSize, t.seqLen, rng), t.batchSize, t.seqLen);
        lmSum += r.lm;
        auxSum += r.aux;
        acc.add(r.grads);
        tf.dispose([...r.grads.values()]);
      }
      let loss = lmSum / t.gradAccum;
      const aux = auxSum / t.gradAccum;
      if (faults.nanLossAtStep === step + 1) loss = Number.NaN;
      const grads = acc.mean(); // the mean over the micro-batches
      if (!Number.isFinite(loss) || !Number.isFinite(aux)) {
        tf.dispose([...grads.values()]);
        const e = new NonFiniteError(step + 1, Number.isFinite(loss) ? `the auxiliary loss is ${aux}` : `the loss is ${loss}`, lastCheckpoint);
        metrics.write({ type: "error", step: step + 1, message: e.message });
        throw e;
      }
      const clipped = clipByGlobalNorm(grads, t.gradClip); // before the step (docs/method.md section 8)
      tf.dispose([...grads.values()]);
      if (!Number.isFinite(clipped.norm)) {
        tf.dispose([...clipped.grads.values()]);
        const e = new NonFiniteError(step + 1, `the gradient norm is ${clipped.norm}`, lastCheckpoint);
        metrics.write({ type: "error", step: step + 1, message: e.message });
        throw e;
      }
      opt.apply(clipped.grads, lr);
      tf.dispose([...clipped.grads.values()]);
      if (faults.infWeightAtStep === step + 1) {
        const v = vars[0] as tf.Variable;
        const inf = tf.tidy(() => tf.mul(v, Number.POSITIVE_INFINITY));
        v.assign(inf);
        inf.dispose();
      }
      // A finite loss and gradient can still give an update that overflows the weights.
      const badWeight = nonFiniteWeight();
      if (badWeight) {
        const e = new NonFiniteError(step + 1, `weight "${badWeight}" is not finite after the update`, lastCheckpoint);
        metrics.write({ type: "error", step: step + 1, message: e.message });
        throw e;
      }
      step += 1;
      const ms = performance.now() - st0;
      msTotal += ms;
      stepsTimed += 1;
      const tokens = step * t.batchSize * t.seqLen * t.gradAccum;
      const elapsed = (performance.now() - trainStart) / 1000;
      const tps = ((step - startStep) * t.batchSize * t.seqLen * t.gradAccum) / Math.max(elapsed, 1e-9);
      metrics.write({ type: "train", step, loss, total: loss + aux, aux, lr, gradNorm: clipped.norm, tokens, flops: step * perStep, msPerStep: ms, tokensPerSec: tps });
      opts.onStep?.(step, loss);
      progress.update({ step, steps: t.steps, loss, tokensPerSec: tps, elapsed, startStep });
      const last = step === t.steps;
      if (last || (t.evalEvery > 0 && step % t.evalEvery === 0)) {
        const r = runEval(step);
        if (last) finalEval = r;
      }
      // Yield to the event loop once per step: signal handlers (Ctrl-C) only run there.
      await new Promise<void>((r) => setImmediate(r));
      if (opts.stop?.requested && !last) {
        log(`interrupted: stopping after step ${step}`);
        checkpoint(step);
        interrupted = true;
        break;
      }
      if (last || (t.checkpointEvery > 0 && step % t.checkpointEvery === 0)) checkpoint(step);
    }
    progress.done();
    if (!interrupted && step === t.steps && startStep === t.steps) log(`the run already finished at step ${step}`);
    if (dp.ranks > 1 && dp.timings.calls > 0) log(`data parallel: ${describeTimings(dp.timings)}`);
    metrics.write({ type: "end", step, status: interrupted ? "interrupted" : "done", time: new Date().toISOString() });
    const reportPath = opts.report === false ? null : writeRunReport(runDir, { depth: depthView(model, data.val, tokenizer, step) });
    return { status: interrupted ? "interrupted" : "done", step, checkpointDir: lastCheckpoint, reportPath, finalEval, msPerStep: stepsTimed ? msTotal / stepsTimed : Number.NaN, data };
  } finally {
    // Workers go first, on every path out (done, error, non-finite stop, Ctrl-C).
    await dp?.close();
    progress.done();
    opt.dispose();
    model.dispose();
    releaseLock();
  }
}
