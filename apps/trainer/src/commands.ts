// `eval` and `compare`: the commands built on top of train().
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { CheckpointError, checkpointToModel, type Transformer } from "@mixdepth/transformer";
import { denseCounterpart, flopsPerStep, forwardFlops, paramCounts, type StepSetting } from "@mixdepth/flops-accounting";
import { ConfigInvalid, validateConfig, type TrainerConfig, type ValidConfig } from "./config.js";
import { evalBatches, evaluate } from "@mixdepth/train";
import { latestStep, loadModelCheckpoint, writeAtomic, type ModelCheckpoint, type TrainerStateJSON } from "@mixdepth/train/node";
import { tokenizerFromJSON } from "@mixdepth/text";
import { routerCost } from "@mixdepth/router";
import { prepareTokens } from "./data.js";
import { fmt, reportHtml, type Table } from "./report.js";
import { lossCharts, routingTable, runCurves } from "./run-report.js";
import { loadDocuments, train } from "./train.js";
import { planIsoFlop } from "./sweep-plan.js";
import { printable } from "./printable.js";
import { UsageError } from "./errors.js";
import { InputFileError, MAX_JSON_BYTES, readBoundedText } from "./read-file.js";
import { checkEvalMemory, checkMemory, defaultMemoryLimit } from "./memory-check.js";

export interface EvalCommandOptions {
  batches: number;
  batchSize: number;
  seqLen: number | undefined;
  data: string | undefined;
  json: boolean;
}

/** Builds the transformer of a loaded (already checked) checkpoint; the caller disposes it. */
/** trainer-state.json beside a checkpoint, for eval's FLOPs column: a JSON object, or a CheckpointError. */
function readTrainerState(path: string): Partial<TrainerStateJSON> {
  let v: unknown;
  try {
    v = JSON.parse(readBoundedText(path, MAX_JSON_BYTES, "trainer-state.json", "MAX_JSON_BYTES, 16 MiB"));
  } catch (e) {
    if (e instanceof InputFileError) throw e;
    throw new CheckpointError(`checkpoint: ${path} is not valid JSON (${(e as Error).message})`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new CheckpointError(`checkpoint: ${path} must hold a JSON object (got ${JSON.stringify(v)})`);
  return v as Partial<TrainerStateJSON>;
}

/**
 * Every weight of the checkpoint is finite, or a CheckpointError naming the first that is not:
 * eval and sample check it as a resume does (NaN weights used to end in the sampler as "no
 * positive finite probability", an internal error).
 */
function checkFiniteWeights(ck: ModelCheckpoint): void {
  for (const [name, t] of ck.weights) {
    const data = t.data as ArrayLike<number>;
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) {
        throw new CheckpointError(`checkpoint: ${ck.dir} holds non-finite values in "${name}" (element ${i} is ${data[i]}); use an earlier checkpoint (point checkpoints/latest.json at an earlier step folder)`);
      }
    }
  }
}

/** The checkpoint's model for eval, after checkFiniteWeights. */
function modelFromCheckpoint(ck: ModelCheckpoint): Transformer {
  checkFiniteWeights(ck);
  return checkpointToModel(ck.parsed);
}

/** Evaluates a checkpoint on the validation split of its run's data (or --data). */
export async function evalCommand(path: string, o: EvalCommandOptions, backendLine: string): Promise<void> {
  const ck = loadModelCheckpoint(path);
  const tokenizer = tokenizerFromJSON(ck.config.tokenizer, ck.parsed.resolved.vocabSize);
  // Before any batch is built: --batch-size 1e8 used to abort V8 (exit 134).
  checkEvalMemory(ck.parsed.resolved, { batchSize: o.batchSize, seqLen: o.seqLen ?? ck.parsed.resolved.contextLength, batches: o.batches, routerCost: routerCost(ck.parsed.resolved) }, defaultMemoryLimit());
  // The run folder (two levels up from checkpoints/step-N) has run.json with the data settings.
  const runJson = join(dirname(dirname(ck.dir)), "run.json");
  let run: TrainerConfig | null = null;
  if (!existsSync(runJson) && o.data === undefined) {
    throw new UsageError(`--data: ${ck.dir} is not inside a run folder (no run.json two levels up), so its data is unknown; pass --data brown or a text file or folder`);
  }
  if (existsSync(runJson)) {
    try {
      run = JSON.parse(readBoundedText(runJson, MAX_JSON_BYTES, "run.json", "MAX_JSON_BYTES, 16 MiB")) as TrainerConfig;
    } catch (e) {
      if (e instanceof InputFileError) throw e;
      throw new CheckpointError(`${runJson} is not valid JSON (${(e as Error).message}); restore it or pass --data`);
    }
  }
  const dataCfg = { source: "brown", valFraction: 0.05, splitSeed: 1234, cacheDir: ".cache/mixdepth", ...(run?.data ?? {}), ...(o.data ? { source: o.data } : {}) };
  const stateFile = join(ck.dir, "trainer-state.json");
  const state = existsSync(stateFile) ? readTrainerState(stateFile) : null;
  const model = modelFromCheckpoint(ck);
  try {
    const seqLen = o.seqLen ?? model.config.contextLength;
    if (seqLen > model.config.contextLength) throw new UsageError(`--seq-len: ${seqLen} exceeds the model's contextLength ${model.config.contextLength}; pass at most ${model.config.contextLength}`);
    // The run's own split (same minimum part as training) unless --data names other text.
    const minPartChars = (run?.training?.seqLen ?? seqLen) + 1;
    const data = prepareTokens(loadDocuments(dataCfg.source), { ...dataCfg, minPartChars }, tokenizer, resolve(dataCfg.cacheDir));
    const r = evaluate(model, evalBatches(data.val, o.batchSize, seqLen, o.batches), o.batchSize, seqLen, tokenizer.bytesPerToken());
    const result = { checkpoint: ck.dir, step: ck.config.step, trainingFlops: typeof state?.trainingFlops === "number" ? state.trainingFlops : null, backend: backendLine, data: dataCfg.source, ...r };
    if (o.json) {
      console.log(JSON.stringify(result, null, 2));
      return;
    }
    console.log(`checkpoint: ${ck.dir} (step ${ck.config.step ?? "unknown"}; ${printable(String(ck.config.description ?? ""))})`);
    console.log(`training FLOPs so far: ${result.trainingFlops !== null ? result.trainingFlops.toExponential(3) : "unknown (no trainer-state.json)"}`);
    console.log(`validation: ${r.tokens} tokens of ${dataCfg.source} (${o.batches} x ${o.batchSize} x ${seqLen}), ${Math.round(r.tokensPerSec)} tokens/s`);
    console.log(`  top-k routing:  loss ${r.topk.loss.toFixed(4)} nats/token, ${r.topk.bpb.toFixed(4)} bits/byte`);
    if (r.causal) console.log(`  causal routing: loss ${r.causal.loss.toFixed(4)} nats/token, ${r.causal.bpb.toFixed(4)} bits/byte (${model.config.routing.causal})`);
    for (const l of r.routing) {
      console.log(
        `  block ${l.layer}: nominal ${fmt(l.nominalFraction)}, causal routed ${fmt(l.causalFraction)}; ${model.config.routing.causal} vs top-k accuracy ${fmt(l.accuracy)}, precision ${fmt(l.precision)}, recall ${fmt(l.recall)}`,
      );
    }
  } finally {
    model.dispose();
  }
}

interface Variant {
  name: string;
  variant: string;
  valid: ValidConfig;
  steps: number;
}

export interface ComparePlan {
  budget: number;
  setting: StepSetting;
  /** The comparison's folder; each variant trains in <out>/<variant>. */
  out: string;
  variants: Variant[];
}

/**
 * The variants of a comparison, each validated, before anything runs: the MoD variant keeps
 * the config's routing (capacity, blocks, router and its options: the planner overwrites
 * none of them); a config that cannot be compared is a ConfigInvalid naming the field.
 */
export function planCompare(valid: ValidConfig, budgetArg: number | undefined): ComparePlan {
  const cfg = valid.config;
  const t = cfg.training;
  const setting = { batchSize: t.batchSize, seqLen: t.seqLen, gradAccum: t.gradAccum };
  const { routing, dModel, nLayers, nHeads } = cfg.model;
  if (valid.model.routing.blocks.length === 0) {
    throw new ConfigInvalid(`invalid config:\n  model.routing.blocks: compare needs routed blocks for its MoD and stochastic variants (got ${JSON.stringify(routing?.blocks)})`);
  }
  const budget = budgetArg ?? t.steps * flopsPerStep(denseCounterpart(valid.model), setting);
  const sweep = planIsoFlop(valid, budget, [{ name: "m", dModel, nLayers, nHeads }]);
  const out = resolve(cfg.output.dir);
  const variants: Variant[] = sweep.map((e) => {
    const steps = Math.max(1, e.plan.steps);
    const scale = steps / t.steps;
    const every = Math.max(1, Math.round(steps / 5));
    const c = {
      ...cfg,
      model: e.config,
      training: { ...t, steps, warmupSteps: Math.min(steps, Math.round(t.warmupSteps * scale)), evalEvery: every, checkpointEvery: every },
      output: { dir: join(out, e.variant) },
    };
    return { name: e.variant, variant: e.variant, valid: validateConfig(c), steps };
  });
  return { budget, setting, out, variants };
}

/**
 * Dense vs MoD vs stochastic at one training-FLOPs budget (isoFlopSweep sets each one's
 * steps), trained one after another in <out>/<variant>/, then one report with the curves side
 * by side. Finished variants are skipped and interrupted ones resumed when run again.
 */
export async function compareCommand(plan: ComparePlan, backendLine: string, stop: { requested: boolean }, maxMemoryBytes = defaultMemoryLimit()): Promise<void> {
  const { budget, setting, out, variants } = plan;
  for (const v of variants) checkMemory(v.valid, maxMemoryBytes, `compare variant ${v.name}`); // every run, before anything is written
  const t = { seqLen: setting.seqLen };
  mkdirSync(out, { recursive: true });
  console.log(`compare: budget ${budget.toExponential(3)} training FLOPs per model`);
  for (const v of variants) {
    const r = v.valid.model.routing;
    const routed = r.blocks.length ? `, ${r.router} router at capacity ${r.capacity} on blocks [${r.blocks.join(", ")}]` : "";
    console.log(`  ${v.name}: ${v.steps} steps x ${flopsPerStep(v.valid.model, { ...setting, routerCost: v.valid.routerCost }).toExponential(3)} FLOPs/step${routed}`);
  }
  const results: { v: Variant; ms: number }[] = [];
  for (const v of variants) {
    if (stop.requested) break;
    const dir = v.valid.config.output.dir;
    const done = latestStep(dir);
    if (done === v.steps) {
      console.log(`${v.name}: already finished (${dir})`);
      results.push({ v, ms: Number.NaN });
      continue;
    }
    console.log(`--- ${v.name} (${dir})`);
    const r = await train({ valid: v.valid, runDir: dir, resume: done !== null, backendLine, stop, maxMemoryBytes });
    results.push({ v, ms: r.msPerStep });
    if (r.status === "interrupted") {
      console.log(`interrupted; run the same command again to continue`);
      return;
    }
  }
  const runs = variants.map((v) => runCurves(v.valid.config.output.dir, v.name));
  const charts = lossCharts(runs);
  writeAtomic(join(out, "loss-vs-step.svg"), charts.step);
  writeAtomic(join(out, "loss-vs-flops.svg"), charts.flops);
  const table: Table = {
    title: "results at equal training FLOPs",
    head: ["model", "params", "steps", "training FLOPs", "FLOPs / forward pass (1 sequence)", "ms / step", "final val loss top-k", "final val loss causal", "bpb top-k"],
    rows: runs.map((r, i) => {
      const e = r.evals[r.evals.length - 1];
      const ms = r.train.length ? r.train.reduce((a, x) => a + x.msPerStep, 0) / r.train.length : Number.NaN;
      const v = variants[i] as Variant;
      const cost = { routerCost: v.valid.routerCost };
      return [r.name, paramCounts(v.valid.model, cost).total, String(v.steps), v.steps * r.flopsPerStep, forwardFlops(v.valid.model, { seqLen: t.seqLen, ...cost }).total, ms, e?.topk.loss ?? Number.NaN, e?.causal?.loss ?? "-", e?.topk.bpb ?? Number.NaN];
    }),
  };
  const tables = [table, ...runs.map(routingTable).filter((x): x is Table => x !== null)];
  const html = reportHtml(
    "mixdepth isoFLOP comparison: dense vs MoD vs stochastic routing",
    [`Budget: ${budget.toExponential(3)} training FLOPs per model (steps from the isoFLOP planner of @mixdepth/flops-accounting).`, `Backend: ${backendLine}`, `Runs: ${out}/{${variants.map((v) => v.name).join(",")}}`],
    [charts.step, charts.flops],
    tables,
  );
  writeAtomic(join(out, "report.html"), html);
  console.log("");
  console.log(`| model | steps | val loss top-k | val loss causal | ms/step | FLOPs/forward |`);
  console.log(`| --- | --- | --- | --- | --- | --- |`);
  for (const row of table.rows) console.log(`| ${row[0]} | ${row[2]} | ${fmt(row[6] as number, 4)} | ${typeof row[7] === "number" ? fmt(row[7], 4) : row[7]} | ${fmt(row[5] as number)} | ${fmt(row[4] as number)} |`);
  console.log(`report: ${join(out, "report.html")}`);
}

export interface SampleOptions {
  prompt: string;
  maxNewTokens: number;
  temperature: number;
  topK: number | undefined;
  topP: number | undefined;
  seed: number;
  causal: "threshold" | "predictor" | undefined;
}

/**
 * Streams text from a checkpoint with causal routing: @mixdepth/sampler's one-call generator
 * (the checkpoint's tokenizer, the KV-cached decoder, the sliding context) on a checkpoint
 * read with the recorded sizes and hashes checked.
 */
export async function sampleCommand(path: string, o: SampleOptions): Promise<void> {
  const { textGenerator, processorsFor } = await import("@mixdepth/sampler");
  const ck = loadModelCheckpoint(path);
  checkFiniteWeights(ck);
  const generator = textGenerator(ck.parsed);
  try {
    const model = generator.model;
    const promptLength = generator.tokenizer.encode(o.prompt).length;
    if (promptLength === 0) throw new UsageError('--prompt: must not be empty (got ""); give some text to continue');
    // Longer than the context: the generator slides, keeping the prompt's last half-context window.
    const keep = Math.floor(model.config.contextLength / 2);
    if (promptLength > model.config.contextLength) {
      console.log(`note: --prompt has ${promptLength} tokens, more than the model's contextLength ${model.config.contextLength}; the model sees its last ${keep}`);
    }
    const processors = processorsFor({ temperature: o.temperature, topK: o.topK ?? 0, topP: o.topP ?? 1 });
    console.log(`checkpoint: ${ck.dir} (step ${ck.config.step ?? "unknown"}; ${printable(String(ck.config.description ?? ""))})`);
    process.stdout.write(printable(o.prompt));
    const t0 = performance.now();
    const stream = generator.stream(o.prompt, { maxNewTokens: o.maxNewTokens, processors, seed: o.seed, slideKeep: keep, ...(o.causal ? { causal: o.causal } : {}) });
    let n = 0;
    for (;;) {
      const r = await stream.next();
      if (r.done) {
        const secs = (performance.now() - t0) / 1000;
        process.stdout.write("\n");
        console.log(`\n${n} tokens in ${secs.toFixed(1)} s (${(n / secs).toFixed(1)} tokens/s)`);
        for (const f of r.value.routing) console.log(`  block ${f.layer}: routed ${fmt(f.fraction)} of tokens (nominal ${fmt(f.capacity)})`);
        break;
      }
      n += 1;
      if (r.value.text) process.stdout.write(printable(r.value.text));
    }
  } finally {
    generator.dispose();
  }
}
