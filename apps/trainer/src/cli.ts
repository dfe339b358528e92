#!/usr/bin/env node
// The mixdepth command line. Each command picks its tfjs backend through the shared loader
// and prints one line saying which backend runs and why the others were skipped.
// Errors follow one policy (./errors.ts): one line naming what is wrong and what to do, a
// stack trace only with --debug. Exit codes: 0 done (also after Ctrl-C with a checkpoint),
// 1 environment (backend, disk full, read-only, run folder locked), 2 input (usage, config,
// data, checkpoint, prompt; nothing written), 3 not finite (loss, gradient, weight),
// 70 internal error.
import { existsSync, readdirSync, readFileSync, rmdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { stringify as toYaml } from "yaml";
import { ConfigError } from "@mixdepth/core";
import { BACKEND_CHOICES, BACKEND_ENV, parseBackendChoice, resolveBackendChoice, setupBackend, type BackendChoice } from "@mixdepth/backend";
import { assembleConfig, ConfigInvalid, MAX_RANKS, parseSet, PRESETS, readConfigFile, validateConfig, type ConfigSources, type ValidConfig } from "./config.js";
import { isPathLike, loadPlugins, MAX_AUTO_RANKS } from "@mixdepth/train/node";
import { describeError, EXIT, UsageError } from "./errors.js";
import { isEntryModule } from "./entry.js";
import { engineOption, type Engine } from "./engine-torch.js";
import { recordedPlugins } from "./run-plugins.js";

// No commander default: an unset flag must stay undefined so that resolveBackendChoice
// (@mixdepth/backend) applies the one precedence rule: flag, MIXDEPTH_BACKEND, config, preset.
function backendOption(): Option {
  return new Option("--backend <name>", `tfjs backend: ${BACKEND_CHOICES.join(", ")} (default: $${BACKEND_ENV}, else the config's, else auto: tensorflow (native), then wasm, then cpu)`)
    .argParser((v: string) => {
      try {
        return parseBackendChoice(v);
      } catch (e) {
        throw new InvalidArgumentError((e as Error).message);
      }
    });
}

interface ConfigFlags {
  config?: string;
  preset?: string;
  set?: string[];
  steps?: string;
  batchSize?: string;
  seqLen?: string;
  lr?: string;
  seed?: string;
  workers?: string;
  data?: string;
  out?: string;
  plugin?: string[];
  printConfig?: boolean;
  maxMemory?: string;
  backend?: BackendChoice;
}

/** --max-memory in GiB -> bytes (undefined: the trainer's default). */
function maxMemoryBytes(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigInvalid(`--max-memory: must be a number of GiB > 0 (got ${JSON.stringify(v)})`);
  return Math.floor(n * 1024 ** 3);
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** The trainer's version, from its package.json (dist/cli.js -> ../package.json). */
function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** Config flags; the help shows each default as the command's preset sets it. */
function addConfigOptions(cmd: Command, presetName: string): Command {
  const p = PRESETS[presetName] as (typeof PRESETS)[string];
  const t = p.training;
  const d = (v: unknown) => `(default: ${JSON.stringify(v)}, preset ${presetName})`;
  return cmd
    .option("-c, --config <file>", "JSON or YAML config file (merged over the preset)")
    .option("-p, --preset <name>", `preset: ${Object.keys(PRESETS).join(", ")} (default: ${presetName})`)
    .option("--set <path=value>", "override any config field, e.g. --set training.lr=1e-3 (repeatable)", collect)
    .option("--steps <n>", `training.steps ${d(t.steps)}; a preset's warmup longer than the run is clamped to it`)
    .option("--batch-size <n>", `training.batchSize ${d(t.batchSize)}`)
    .option("--seq-len <n>", `training.seqLen ${d(t.seqLen)}`)
    .option("--lr <x>", `training.lr, the peak learning rate ${d(t.lr)}`)
    .option("--seed <n>", `training.seed ${d(t.seed)}`)
    .option("--workers <n|auto>", `training.workers: ranks of data parallelism, this thread plus worker threads, each computing a block of the batch; auto: the free cores (cores minus the load average), at most ${MAX_AUTO_RANKS} and at most training.batchSize; 1 on the native backend; at most ${MAX_RANKS}, each counted by the memory check ${d(t.workers)}`)
    .option("--data <path>", `data.source: "brown" or a UTF-8 text file or folder ${d(p.data.source)}`)
    .option("-o, --out <dir>", `output.dir: the run folder ${d(p.output.dir)}`)
    .option("--plugin <module>", "ES module exporting register(registry) that registers router kinds; a path or a package name (repeatable; adds to the config's plugins)", collect)
    .option("--print-config", "print the resolved config (YAML, usable as --config) and exit without training")
    .option("--max-memory <GiB>", "refuse configs whose estimated training-step memory exceeds this (default: 75% of RAM)")
    .addOption(backendOption());
}

/**
 * preset -> file -> flags, then the plugins the config and --plugin name, then validation:
 * every config error (unknown router kind or option included) exits 2 before any work.
 */
async function prepareConfig(src: ConfigSources, flags: ConfigFlags): Promise<ValidConfig> {
  const { raw, notes } = assembleConfig(src);
  const listed = raw.plugins ?? [];
  if (!Array.isArray(listed) || !listed.every((x): x is string => typeof x === "string" && x.length > 0)) {
    throw new ConfigInvalid(`invalid config:\n  plugins: must be a list of module paths or package names (got ${JSON.stringify(listed)})`);
  }
  const plugins = [...new Set([...listed, ...(flags.plugin ?? []).map((x) => (isPathLike(x) ? resolve(x) : x))])];
  if (plugins.length) raw.plugins = plugins;
  await loadPlugins(plugins);
  const valid = validateConfig(raw);
  for (const n of notes) console.error(n);
  return { ...valid, notes };
}

/** eval/sample of a run whose router kind is not registered: name the missing plugin (exit 2), not a stack trace. */
async function needsPlugin(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof ConfigError && e.field === "routing.router") throw new ConfigInvalid(`checkpoint: model.${e.message}; load the plugin that registers it with --plugin <module> (a run trained with --plugin records it in run.json)`);
    throw e;
  }
}

/** --print-config: the resolved config on stdout. Returns whether it printed (then the command stops). */
function printConfig(flags: ConfigFlags, valid: ValidConfig): boolean {
  if (!flags.printConfig) return false;
  process.stdout.write(toYaml(valid.config));
  return true;
}

/** --out must be a folder or not exist yet: a file there is a usage error (exit 2), not EEXIST from mkdir (exit 70). */
function checkOutputDir(dir: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch {
    return; // created by the run
  }
  if (!st.isDirectory()) throw new UsageError(`--out: ${dir} exists and is not a folder; choose a folder for the run (output.dir)`);
}

function removeIfEmpty(dir: string): void {
  try {
    if (readdirSync(dir).length === 0) rmdirSync(dir);
  } catch {
    // best effort: the error being reported matters more
  }
}

/**
 * The run folder `train --resume` continues: the flag's value, else --out, else the config's
 * output.dir (preset, file, --set). Both forms then take the same path: the run's run.json is
 * the base and checkResume names every field that would change (a bare `--resume -o DIR` used
 * to skip it, and --lr, weight decay or warmup silently changed mid-run).
 */
function resumeTarget(flags: ConfigFlags & { resume?: string | boolean }): string | undefined {
  if (typeof flags.resume === "string") return flags.resume;
  if (flags.resume !== true) return undefined;
  if (flags.out !== undefined) return flags.out;
  const { raw } = assembleConfig({ ...(flags.preset ? { preset: flags.preset } : {}), ...(flags.config ? { file: flags.config } : {}), overrides: flagOverrides(flags) });
  const dir = (raw.output as { dir?: unknown } | undefined)?.dir;
  return typeof dir === "string" ? dir : undefined;
}

/** Paths where two JSON values differ ("training.lr"), for naming what a resume may not change. */
function differences(a: unknown, b: unknown, path = ""): string[] {
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => differences(a[k], b[k], path ? `${path}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path];
}

// What --resume may change: training.steps (extend the run), and where/how it runs (the
// number of data-parallel ranks included: the losses do not depend on it beyond float noise).
const RESUMABLE = new Set(["training.steps", "output.dir", "backend", "plugins", "training.workers"]);

/** Refuses a resume that changes anything but training.steps, naming each field; steps may only grow. */
async function checkResume(runDir: string, run: Record<string, unknown>, valid: ValidConfig): Promise<void> {
  const changed = differences(run, valid.config).filter((f) => !RESUMABLE.has(f) && !f.startsWith("plugins"));
  const show = (v: unknown) => (v === undefined ? "unset" : JSON.stringify(v));
  const at = (o: unknown, f: string) => f.split(".").reduce<unknown>((x, k) => (x !== null && typeof x === "object" ? (x as Record<string, unknown>)[k] : undefined), o);
  if (changed.length) {
    throw new ConfigInvalid(
      `--resume ${runDir}: only training.steps may change when resuming; changed:\n  ${changed.map((f) => `${f}: ${show(at(run, f))} in the run, ${show(at(valid.config, f))} now`).join("\n  ")}`,
    );
  }
  const { latestStep } = await import("@mixdepth/train/node");
  const done = latestStep(runDir);
  if (done !== null && valid.config.training.steps < done) {
    throw new ConfigInvalid(`training.steps: must be >= ${done}, the steps ${runDir} has already done (got ${valid.config.training.steps})`);
  }
}

/** Flags as a config fragment; numbers are parsed here and checked by the schema. */
function flagOverrides(f: ConfigFlags): unknown[] {
  const num = (v: string | undefined) => (v === undefined ? undefined : Number.isNaN(Number(v)) ? v : Number(v));
  const training = Object.fromEntries(
    Object.entries({ steps: num(f.steps), batchSize: num(f.batchSize), seqLen: num(f.seqLen), lr: num(f.lr), seed: num(f.seed), workers: num(f.workers) }).filter(([, v]) => v !== undefined),
  );
  const o: Record<string, unknown> = {};
  if (Object.keys(training).length) o.training = training;
  if (f.data !== undefined) o.data = { source: f.data };
  if (f.out !== undefined) o.output = { dir: f.out };
  return [...(f.set ?? []).map(parseSet), o];
}

/**
 * Picks the backend by the shared precedence (flag, MIXDEPTH_BACKEND, then the config: its
 * file over its preset, already merged by loadConfig), loads it through setupBackend, and
 * prints its one short line. Records the choice in the config so run.json says what ran.
 * Returns the detailed line (provider, fixes, skipped backends) for metrics and reports.
 */
async function startBackend(flag: BackendChoice | undefined, valid?: ValidConfig): Promise<string> {
  const { choice } = resolveBackendChoice({ flag, config: valid?.config.backend });
  const loaded = await setupBackend({ backend: choice, log: (l) => console.log(l) });
  if (valid) valid.config.backend = choice;
  return loaded.details;
}

/** SIGINT: the first one asks the loop to stop after the current step; a second one exits. */
function installStop(): { requested: boolean; remove: () => void } {
  const stop = {
    requested: false,
    remove: () => process.off("SIGINT", onInt),
  };
  function onInt() {
    if (stop.requested) {
      console.error("\nsecond Ctrl-C: exiting now (the last checkpoint is intact)");
      process.exit(130);
    }
    stop.requested = true;
    console.error("\nCtrl-C: stopping after the current step and writing a checkpoint (Ctrl-C again to quit now)");
  }
  process.on("SIGINT", onInt);
  return stop;
}

export function buildProgram(): Command {
  const program = new Command()
    .name("mixdepth")
    .description("Train, evaluate, compare and sample Mixture-of-Depths transformers on TensorFlow.js")
    .version(version(), "-V, --version", "print the mixdepth version")
    .showHelpAfterError()
    .addHelpText("after", "\nAdd --debug to any command for stack traces. Exit codes: 0 done, 1 environment (backend, disk full, read-only, run folder locked), 2 input (usage, config, data, checkpoint, prompt), 3 not finite, 70 internal error.")
    .exitOverride();

  program
    .command("info")
    .description("load the tfjs backend and print which one runs, and why others were skipped")
    .addOption(backendOption())
    .action(async (opts: { backend?: BackendChoice }) => {
      const tf = await import("@tensorflow/tfjs");
      const { choice, source } = resolveBackendChoice({ flag: opts.backend });
      const loaded = await setupBackend({ backend: choice });
      console.log(loaded.details.split("; ").join("\n  "));
      console.log(`chosen by: ${source}; tfjs ${tf.version.tfjs}; node ${process.versions.node}`);
    });

  addConfigOptions(
    program
      .command("train")
      .description("train a model (default: the quick preset, a small MoD model on the Brown corpus)")
      .option("--resume [runDir]", "continue the run in runDir (default: --out) exactly where its last checkpoint stopped; --steps may extend it (the cosine schedule then spans the new total), nothing else may change")
      .addOption(engineOption()),
    "quick",
  ).action(async (flags: ConfigFlags & { resume?: string | boolean; engine?: Engine }) => {
    const resumeDir = resumeTarget(flags);
    let valid: ValidConfig;
    if (resumeDir !== undefined) {
      // The run's own config is the base; flags still apply, and only training.steps may change.
      if (!existsSync(join(resumeDir, "run.json"))) throw new ConfigInvalid(`--resume: ${resumeDir} has no run.json, so it is not a run folder to continue (start a new run without --resume)`);
      const base = readConfigFile(`${resumeDir}/run.json`) as Record<string, unknown>;
      valid = await prepareConfig({ overrides: [base, ...(flags.config ? [readConfigFile(flags.config)] : []), ...flagOverrides(flags), { output: { dir: resumeDir } }], ...(flags.preset ? { preset: flags.preset } : {}) }, flags);
      await checkResume(resumeDir, { ...base, output: { dir: resumeDir } }, valid);
    } else {
      valid = await prepareConfig({ ...(flags.preset ? { preset: flags.preset } : {}), ...(flags.config ? { file: flags.config } : {}), overrides: flagOverrides(flags) }, flags);
    }
    if (printConfig(flags, valid)) return;
    if (!resumeDir && !flags.resume && flags.out === undefined && existsSync(join(valid.config.output.dir, "checkpoints", "latest.json"))) {
      // The preset's default folder already holds a run: start a new one beside it.
      const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
      valid.config.output.dir = `${valid.config.output.dir}-${stamp}`;
    }
    if (flags.engine === "torch") return (await import("./engine-torch.js")).trainTorchCommand(valid, flags.resume !== undefined && flags.resume !== false, installStop());
    const maxMemory = maxMemoryBytes(flags.maxMemory);
    const { train, checkMemory, defaultMemoryLimit } = await import("./train.js");
    checkMemory(valid, maxMemory ?? defaultMemoryLimit()); // before the backend loads
    const runDir = valid.config.output.dir;
    checkOutputDir(runDir);
    const created = !existsSync(runDir);
    const backendLine = await startBackend(flags.backend, valid);
    const stop = installStop();
    try {
      const r = await train({ valid, runDir: valid.config.output.dir, resume: flags.resume !== undefined && flags.resume !== false, backendLine, stop, ...(maxMemory !== undefined ? { maxMemoryBytes: maxMemory } : {}) });
      console.log(r.status === "interrupted" ? `interrupted at step ${r.step}; resume with: mixdepth train --resume ${valid.config.output.dir}` : `done: ${r.step} steps, ${r.msPerStep.toFixed(0)} ms/step`);
      if (r.checkpointDir) console.log(`checkpoint: ${r.checkpointDir}`);
      if (r.reportPath) console.log(`report: ${r.reportPath}`);
    } catch (e) {
      // A run that failed before writing anything (out of memory building the model, a
      // router that cannot be built) leaves no empty run folder behind.
      if (created) removeIfEmpty(runDir);
      throw e;
    } finally {
      stop.remove();
    }
  });

  program
    .command("eval")
    .description("evaluate a checkpoint: val loss and bits/byte (top-k and causal routing), routing accuracy per routed block, FLOPs, tokens/s")
    .argument("<checkpoint>", "a checkpoint folder or a run folder (its latest checkpoint)")
    .option("--data <path>", 'validation data: "brown" or a text file/folder (default: the run\'s own data)')
    .option("--batches <n>", "evaluation batches", "8")
    .option("--batch-size <n>", "sequences per batch", "8")
    .option("--seq-len <n>", "tokens per sequence (default: the model's context length)")
    .option("--json", "print the result as JSON")
    .option("--plugin <module>", "module registering the checkpoint's custom router kind, besides those its run.json records (repeatable)", collect)
    .addOption(backendOption())
    .action(async (path: string, flags: { data?: string; batches: string; batchSize: string; seqLen?: string; json?: boolean; plugin?: string[]; backend?: BackendChoice }) => {
      await loadPlugins([...recordedPlugins(path), ...(flags.plugin ?? [])]); // the run's own, then --plugin
      const { evalCommand } = await import("./commands.js");
      const posInt = (name: string, v: string | undefined) => {
        if (v === undefined) return undefined;
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) throw new ConfigInvalid(`${name}: must be a positive integer (got ${JSON.stringify(v)})`);
        return n;
      };
      const opts = { batches: posInt("--batches", flags.batches) as number, batchSize: posInt("--batch-size", flags.batchSize) as number, seqLen: posInt("--seq-len", flags.seqLen), data: flags.data, json: Boolean(flags.json) };
      const backendLine = await startBackend(flags.backend);
      await needsPlugin(() => evalCommand(path, opts, backendLine));
    });

  program
    .command("sample")
    .description("generate text from a checkpoint with causal routing (KV-cached, @mixdepth/sampler)")
    .argument("<checkpoint>", "a checkpoint folder or a run folder (its latest checkpoint)")
    .option("--prompt <text>", "text to continue", "The ")
    .option("-n, --max-new-tokens <n>", "tokens to generate", "200")
    .option("-t, --temperature <x>", "sampling temperature (0: greedy)", "0.8")
    .option("--top-k <k>", "keep the k most likely tokens")
    .option("--top-p <p>", "nucleus sampling threshold")
    .option("--seed <n>", "sampling seed", "0")
    .addOption(new Option("--causal <rule>", "causal routing rule (default: the model's)").choices(["threshold", "predictor"]))
    .option("--plugin <module>", "module registering the checkpoint's custom router kind, besides those its run.json records (repeatable)", collect)
    .addOption(backendOption())
    .action(async (path: string, f: { prompt: string; maxNewTokens: string; temperature: string; topK?: string; topP?: string; seed: string; causal?: "threshold" | "predictor"; plugin?: string[]; backend?: BackendChoice }) => {
      await loadPlugins([...recordedPlugins(path), ...(f.plugin ?? [])]); // the run's own, then --plugin
      const num = (name: string, v: string | undefined, ok: (n: number) => boolean, what: string) => {
        if (v === undefined) return undefined;
        const n = Number(v);
        if (!ok(n)) throw new ConfigInvalid(`${name}: must be ${what} (got ${JSON.stringify(v)})`);
        return n;
      };
      const opts = {
        prompt: f.prompt,
        maxNewTokens: num("--max-new-tokens", f.maxNewTokens, (n) => Number.isInteger(n) && n > 0, "a positive integer") as number,
        temperature: num("--temperature", f.temperature, (n) => Number.isFinite(n) && n >= 0, "a number >= 0") as number,
        topK: num("--top-k", f.topK, (n) => Number.isInteger(n) && n > 0, "a positive integer"),
        topP: num("--top-p", f.topP, (n) => n > 0 && n <= 1, "in (0, 1]"),
        seed: num("--seed", f.seed, Number.isInteger, "an integer") as number,
        causal: f.causal,
      };
      await startBackend(f.backend);
      const { sampleCommand } = await import("./commands.js");
      await needsPlugin(() => sampleCommand(path, opts));
    });

  addConfigOptions(
    program
      .command("compare")
      .description("isoFLOP comparison: dense vs MoD (the config's routing: capacity, blocks, router) vs stochastic routing at the same training-FLOPs budget, one report")
      .option("--budget <flops>", "training FLOPs per model (default: training.steps of the dense model)"),
    "compare",
  ).action(async (flags: ConfigFlags & { budget?: string }) => {
    const valid = await prepareConfig({ preset: flags.preset ?? "compare", ...(flags.config ? { file: flags.config } : {}), overrides: flagOverrides(flags) }, flags);
    let budget: number | undefined;
    if (flags.budget !== undefined) {
      budget = Number(flags.budget);
      if (!Number.isFinite(budget) || budget <= 0) throw new ConfigInvalid(`--budget: must be a number of FLOPs > 0 (got ${JSON.stringify(flags.budget)})`);
    }
    const { compareCommand, planCompare } = await import("./commands.js");
    const plan = planCompare(valid, budget); // every variant validated before the backend loads
    if (printConfig(flags, valid)) return;
    // --max-memory holds for every variant, checked before the backend loads or anything is written.
    const { checkMemory, defaultMemoryLimit } = await import("./memory-check.js");
    const maxMemory = maxMemoryBytes(flags.maxMemory) ?? defaultMemoryLimit();
    for (const v of plan.variants) checkMemory(v.valid, maxMemory, `compare variant ${v.name}`);
    const backendLine = await startBackend(flags.backend, valid);
    const stop = installStop();
    try {
      await compareCommand(plan, backendLine, stop, maxMemory);
    } finally {
      stop.remove();
    }
  });

  addConfigOptions(
    program
      .command("sweep")
      .description("isoFLOP sweep: dense, MoD and stochastic over a grid of shapes at several training-FLOPs budgets, seeds at the optima; resumable, one report")
      .option("--budgets <list>", "training FLOPs per run, comma-separated (default: the sweep preset's 1.84e13,5.8e13,1.84e14)")
      .option("--shapes <list>", "width x depth grid, comma-separated, e.g. 64x4,128x8 (default: 64x4,64x8,128x4,128x8)")
      .option("--seeds <n>", "seeds at each variant's optimum (default 3)")
      .option("--budget <flops>", "run only this budget of the sweep (again: finished runs are kept)")
      .option("--hours <h>", "stop this sitting after h hours (checkpointed; run again to continue)")
      .option("--evals <n>", "evaluations (and checkpoints) per run (default 5)")
      .option("--noise-control", "also train the stochastic control whose Gaussian scores scale the branch (routerOptions.scale noise)")
      .option("--plan", "print the runs, their steps and the total FLOPs, and stop (with --engine torch: measures 4 steps of each grid shape and prints the wall time in hours)")
      .option("--jobs <n>", "train n independent runs of a phase at once, one torch thread each (--engine torch; default 1)")
      .addOption(engineOption()),
    "sweep",
  ).action(async (flags: ConfigFlags & { budgets?: string; shapes?: string; seeds?: string; budget?: string; hours?: string; plan?: boolean; noiseControl?: boolean; evals?: string; engine?: Engine; jobs?: string }) => {
    const { SWEEP_PRESET, parseBudgets, parseShapes, checkSpec, gridRuns } = await import("./sweep-plan.js");
    const { runSweep } = await import("./sweep.js");
    const valid = await prepareConfig({ preset: flags.preset ?? "sweep", ...(flags.config ? { file: flags.config } : {}), overrides: flagOverrides(flags) }, flags);
    if (printConfig(flags, valid)) return;
    const spec = {
      budgets: flags.budgets !== undefined ? parseBudgets(flags.budgets) : SWEEP_PRESET.budgets,
      shapes: flags.shapes !== undefined ? parseShapes(flags.shapes) : SWEEP_PRESET.shapes,
      seeds: flags.seeds !== undefined ? Number(flags.seeds) : SWEEP_PRESET.seeds,
      noiseControl: Boolean(flags.noiseControl),
      ...(flags.evals !== undefined ? { evals: Number(flags.evals) } : {}),
    };
    checkSpec(spec);
    const budget = flags.budget !== undefined ? parseBudgets(flags.budget, "--budget")[0] : undefined;
    const hours = flags.hours !== undefined ? Number(flags.hours) : undefined;
    if (hours !== undefined && !(hours > 0)) throw new ConfigInvalid(`--hours: must be a number > 0 (got ${JSON.stringify(flags.hours)})`);
    // --max-memory holds for every planned run (the seed runs repeat grid configs), checked
    // before the plan is printed, the backend loads or anything is written.
    const { checkMemory, defaultMemoryLimit } = await import("./memory-check.js");
    const maxMemory = maxMemoryBytes(flags.maxMemory) ?? defaultMemoryLimit();
    for (const r of gridRuns(valid, spec, resolve(valid.config.output.dir))) checkMemory(r.valid, maxMemory, `sweep run ${r.name} at budget ${r.budget.toExponential(2)}`);
    const stop = installStop();
    try {
      // Every run's config is planned and validated before the backend starts or anything is written.
      const jobs = flags.jobs !== undefined ? Number(flags.jobs) : undefined;
      if (jobs !== undefined && !(Number.isInteger(jobs) && jobs >= 1)) throw new ConfigInvalid(`--jobs: must be a positive integer (got ${JSON.stringify(flags.jobs)})`);
      const opts = { stop, ...(budget !== undefined ? { budget } : {}), ...(hours !== undefined ? { hours } : {}), ...(flags.engine ? { engine: flags.engine } : {}), ...(jobs !== undefined ? { jobs } : {}) };
      await runSweep(valid, spec, valid.config.output.dir, { ...opts, plan: true, backendLine: "", ...(flags.plan ? { measure: true } : { log: () => {} }) });
      if (flags.plan) return;
      const backendLine = flags.engine === "torch" ? "torch (the PyTorch twin)" : await startBackend(flags.backend, valid);
      await runSweep(valid, spec, valid.config.output.dir, { ...opts, backendLine });
    } finally {
      stop.remove();
    }
  });

  program
    .command("sweep-report")
    .description("the isoFLOP study's report (README.md, SVG figures, results.csv, the sweeps' configs) from one or more sweep folders, e.g. the torch study and the tfjs run of its smallest budget")
    .argument("<sweeps...>", "sweep folders (each holds sweep.json)")
    .option("-o, --out <dir>", "folder to write (default docs/results/isoflop)")
    .action(async (dirs: string[], f: { out?: string }) => {
      for (const d of dirs) {
        if (!existsSync(join(d, "sweep.json"))) throw new ConfigInvalid(`<sweeps>: ${JSON.stringify(d)} is not a sweep folder (no sweep.json in it)`);
      }
      const { writeStudyReport } = await import("./sweep-study.js");
      const r = writeStudyReport(dirs, f.out ?? "docs/results/isoflop");
      console.log(`report: ${r.readme}\nresults: ${r.csv}`);
    });

  program
    .command("report")
    .description("rebuild a run's report.html and metrics.csv from its metrics.jsonl; with several runs, one page overlaying them")
    .argument("<runs...>", "run folders (each holds metrics.jsonl)")
    .option("-o, --out <file>", "overlay page to write (several runs; default mixdepth-report.html, with a .csv beside it)")
    .action(async (dirs: string[], f: { out?: string }) => {
      for (const d of dirs) {
        if (!existsSync(join(d, "metrics.jsonl"))) throw new ConfigInvalid(`<runs>: ${JSON.stringify(d)} is not a run folder (no metrics.jsonl in it)`);
      }
      const { writeOverlayReport, writeRunReport } = await import("./run-report.js");
      if (dirs.length === 1 && f.out === undefined) {
        const path = writeRunReport(dirs[0] as string);
        console.log(`report: ${path}\nmetrics: ${join(dirs[0] as string, "metrics.csv")}`);
        return;
      }
      const r = writeOverlayReport(dirs, f.out ?? "mixdepth-report.html");
      console.log(`report: ${r.html}\nmetrics: ${r.csv}`);
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  // --debug anywhere on the line (or MIXDEPTH_DEBUG=1): stack traces for every error.
  const debug = argv.includes("--debug") || process.env.MIXDEPTH_DEBUG === "1";
  const program = buildProgram();
  try {
    await program.parseAsync(argv.filter((a) => a !== "--debug"), { from: "user" });
    return EXIT.ok;
  } catch (err) {
    const code = (err as { code?: string; exitCode?: number }).code;
    if (code === "commander.helpDisplayed" || code === "commander.version" || code === "commander.help") return EXIT.ok;
    if (typeof code === "string" && code.startsWith("commander.")) return (err as { exitCode?: number }).exitCode === 0 ? EXIT.ok : EXIT.input;
    const r = describeError(err, debug);
    for (const line of r.lines) console.error(line);
    return r.code;
  }
}


if (isEntryModule(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
