#!/usr/bin/env node
// The mixdepth command line. Each command picks its tfjs backend through the shared loader
// and prints one line saying which backend runs and why the others were skipped.
// Exit codes: 0 done (also after Ctrl-C with a checkpoint), 1 runtime error (e.g. a bad
// checkpoint), 2 invalid configuration or usage (nothing written), 3 loss or gradient not finite.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { BACKEND_CHOICES, BACKEND_ENV, BackendChoiceError, BackendError, parseBackendChoice, resolveBackendChoice, setupBackend, type BackendChoice } from "@mixdepth/backend";
import { ConfigInvalid, loadConfig, parseSet, PRESETS, readConfigFile, type ValidConfig } from "./config.js";

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
  data?: string;
  out?: string;
  backend?: BackendChoice;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

function addConfigOptions(cmd: Command): Command {
  return cmd
    .option("-c, --config <file>", "JSON or YAML config file (merged over the preset)")
    .option("-p, --preset <name>", `preset: ${Object.keys(PRESETS).join(", ")}`)
    .option("--set <path=value>", "override any config field, e.g. --set training.lr=1e-3 (repeatable)", collect)
    .option("--steps <n>", "training.steps")
    .option("--batch-size <n>", "training.batchSize")
    .option("--seq-len <n>", "training.seqLen")
    .option("--lr <x>", "training.lr (peak learning rate)")
    .option("--seed <n>", "training.seed")
    .option("--data <path>", 'data.source: "brown" (default) or a UTF-8 text file or folder')
    .option("-o, --out <dir>", "output.dir: the run folder")
    .addOption(backendOption());
}

/** Flags as a config fragment; numbers are parsed here and checked by the schema. */
function flagOverrides(f: ConfigFlags): unknown[] {
  const num = (v: string | undefined) => (v === undefined ? undefined : Number.isNaN(Number(v)) ? v : Number(v));
  const training = Object.fromEntries(
    Object.entries({ steps: num(f.steps), batchSize: num(f.batchSize), seqLen: num(f.seqLen), lr: num(f.lr), seed: num(f.seed) }).filter(([, v]) => v !== undefined),
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
    .showHelpAfterError()
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
      .option("--resume [runDir]", "continue the run in runDir (default: --out) exactly where its last checkpoint stopped"),
  ).action(async (flags: ConfigFlags & { resume?: string | boolean }) => {
    const resumeDir = typeof flags.resume === "string" ? flags.resume : undefined;
    let valid: ValidConfig;
    if (resumeDir) {
      // The run's own config is the base; flags still apply (and must keep the fingerprint).
      const base = readConfigFile(`${resumeDir}/run.json`);
      valid = loadConfig({ overrides: [base, ...(flags.config ? [readConfigFile(flags.config)] : []), ...flagOverrides(flags), { output: { dir: resumeDir } }], ...(flags.preset ? { preset: flags.preset } : {}) });
    } else {
      valid = loadConfig({ ...(flags.preset ? { preset: flags.preset } : {}), ...(flags.config ? { file: flags.config } : {}), overrides: flagOverrides(flags) });
    }
    if (!resumeDir && !flags.resume && flags.out === undefined && existsSync(join(valid.config.output.dir, "checkpoints", "latest.json"))) {
      // The preset's default folder already holds a run: start a new one beside it.
      const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
      valid.config.output.dir = `${valid.config.output.dir}-${stamp}`;
    }
    const backendLine = await startBackend(flags.backend, valid);
    const { train } = await import("./train.js");
    const stop = installStop();
    try {
      const r = await train({ valid, runDir: valid.config.output.dir, resume: flags.resume !== undefined && flags.resume !== false, backendLine, stop });
      console.log(r.status === "interrupted" ? `interrupted at step ${r.step}; resume with: mixdepth train --resume ${valid.config.output.dir}` : `done: ${r.step} steps, ${r.msPerStep.toFixed(0)} ms/step`);
      if (r.checkpointDir) console.log(`checkpoint: ${r.checkpointDir}`);
      if (r.reportPath) console.log(`report: ${r.reportPath}`);
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
    .addOption(backendOption())
    .action(async (path: string, flags: { data?: string; batches: string; batchSize: string; seqLen?: string; json?: boolean; backend?: BackendChoice }) => {
      const { evalCommand } = await import("./commands.js");
      const posInt = (name: string, v: string | undefined) => {
        if (v === undefined) return undefined;
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) throw new ConfigInvalid(`${name}: must be a positive integer (got ${JSON.stringify(v)})`);
        return n;
      };
      const opts = { batches: posInt("--batches", flags.batches) as number, batchSize: posInt("--batch-size", flags.batchSize) as number, seqLen: posInt("--seq-len", flags.seqLen), data: flags.data, json: Boolean(flags.json) };
      const backendLine = await startBackend(flags.backend);
      await evalCommand(path, opts, backendLine);
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
    .addOption(backendOption())
    .action(async (path: string, f: { prompt: string; maxNewTokens: string; temperature: string; topK?: string; topP?: string; seed: string; causal?: "threshold" | "predictor"; backend?: BackendChoice }) => {
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
      await sampleCommand(path, opts);
    });

  addConfigOptions(
    program
      .command("compare")
      .description("isoFLOP comparison: dense vs MoD (12.5% every other block) vs stochastic routing at the same training-FLOPs budget, one report")
      .option("--budget <flops>", "training FLOPs per model (default: training.steps of the dense model)"),
  ).action(async (flags: ConfigFlags & { budget?: string }) => {
    const valid = loadConfig({ preset: flags.preset ?? "compare", ...(flags.config ? { file: flags.config } : {}), overrides: flagOverrides(flags) });
    let budget: number | undefined;
    if (flags.budget !== undefined) {
      budget = Number(flags.budget);
      if (!Number.isFinite(budget) || budget <= 0) throw new ConfigInvalid(`--budget: must be a number of FLOPs > 0 (got ${JSON.stringify(flags.budget)})`);
    }
    const backendLine = await startBackend(flags.backend, valid);
    const { compareCommand } = await import("./commands.js");
    const stop = installStop();
    try {
      await compareCommand(valid, budget, backendLine, stop);
    } finally {
      stop.remove();
    }
  });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (err) {
    const code = (err as { code?: string; exitCode?: number }).code;
    if (code === "commander.helpDisplayed" || code === "commander.version" || code === "commander.help") return 0;
    if (typeof code === "string" && code.startsWith("commander.")) return (err as { exitCode?: number }).exitCode === 0 ? 0 : 2;
    if (err instanceof ConfigInvalid || err instanceof BackendChoiceError) {
      console.error(`error: ${err.message}`);
      return 2;
    }
    if (err instanceof BackendError) {
      console.error(`error: ${err.message}`);
      return 1;
    }
    const name = (err as Error).name;
    if (name === "NonFiniteError") {
      console.error(`error: ${(err as Error).message}`);
      return 3;
    }
    if (name === "CheckpointError" || name === "SafetensorsError") {
      console.error(`error: ${(err as Error).message}`);
      return 1;
    }
    console.error(`error: ${(err as Error).stack ?? String(err)}`);
    return 1;
  }
}


const isEntry = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry || process.argv[1]?.endsWith("/cli.js")) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
