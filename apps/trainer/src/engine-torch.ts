// `--engine torch`: runs a training run in the PyTorch twin (python/mixdepth-torch) instead of
// TensorFlow.js, into the same run folder (run.json, metrics.jsonl, checkpoints/), so report,
// eval, sample, sweep and --resume treat it like any other run. The config is resolved and
// validated here, once, exactly as for the TypeScript engine; the twin gets it as a JSON file
// plus this side's FLOPs accounting (the twin has no copy of flops-accounting), and runs under
// torchrun when more than one process is asked for (DDP: gloo on CPU, NCCL on GPU).
//
// Python: $MIXDEPTH_PYTHON, else /usr/bin/python3 (Debian's, which has torch). Processes:
// MIXDEPTH_TORCH_NPROC (per node), else training.workers when it is a number, else one per CUDA
// device (one on a machine without). Several machines: MIXDEPTH_TORCH_NNODES and
// MIXDEPTH_TORCH_RDZV (HOST:PORT of the c10d rendezvous); each machine runs the same command.
// MIXDEPTH_TORCH_FSDP=1: shard weights, gradients and moments (FSDP, torch >= 2) instead of DDP.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { InvalidArgumentError, Option } from "commander";
import { flopsPerStep, forwardFlops, paramCounts } from "@mixdepth/flops-accounting";
import { ConfigInvalid, type ValidConfig } from "./config.js";
import { brownDir } from "./data.js";
import type { EvalResult } from "@mixdepth/train";
import { latestStep } from "@mixdepth/train/node";
import { readMetrics } from "./metrics.js";
import { writeRunReport } from "./run-report.js";
import type { TrainResult } from "./train.js";

/** Training engines: tfjs (the default, this package) and torch (the PyTorch twin). */
export const ENGINES = ["tfjs", "torch"] as const;
export type Engine = (typeof ENGINES)[number];

/** Parses --engine; anything else is a ConfigInvalid naming the allowed values (exit 2). */
export function parseEngine(v: string): Engine {
  if ((ENGINES as readonly string[]).includes(v)) return v as Engine;
  throw new ConfigInvalid(`--engine: unknown engine ${JSON.stringify(v)}; expected one of ${ENGINES.join(", ")}`);
}

/** `--engine <name>` for train and sweep (default tfjs); a bad name exits 2 naming the allowed values. */
export function engineOption(): Option {
  return new Option("--engine <name>", `training engine: ${ENGINES.join(", ")} (torch: the PyTorch twin in python/mixdepth-torch, under torchrun; default tfjs)`).argParser((v: string) => {
    try {
      return parseEngine(v);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  });
}

/** The twin's package folder (python/mixdepth-torch in the monorepo; from src/ or dist/ alike). */
export function twinDir(): string {
  return fileURLToPath(new URL("../../../python/mixdepth-torch", import.meta.url));
}

export function pythonExecutable(env: NodeJS.ProcessEnv = process.env): string {
  return env.MIXDEPTH_PYTHON || "/usr/bin/python3";
}

export interface TorchLaunch {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  nproc: number;
  nnodes: number;
}

/** Processes per node: MIXDEPTH_TORCH_NPROC, else training.workers when a number, else the CUDA devices (at least 1). */
export function processCount(valid: ValidConfig, env: NodeJS.ProcessEnv, cudaDevices: () => number): number {
  const fromEnv = env.MIXDEPTH_TORCH_NPROC;
  if (fromEnv !== undefined) {
    const n = Number(fromEnv);
    if (!Number.isInteger(n) || n < 1) throw new ConfigInvalid(`MIXDEPTH_TORCH_NPROC: must be a positive integer (got ${JSON.stringify(fromEnv)})`);
    return n;
  }
  const w = valid.config.training.workers;
  return w === "auto" ? Math.max(1, cudaDevices()) : w;
}

/** CUDA devices the twin's torch sees (0 when it sees none or cannot start). */
export function cudaDeviceCount(python: string): number {
  const r = spawnSync(python, ["-c", "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)"], { encoding: "utf8", timeout: 60_000 });
  const n = Number((r.stdout ?? "").trim());
  return r.status === 0 && Number.isInteger(n) ? n : 0;
}

/**
 * The command that trains `configFile` in the twin: python -m mixdepth_torch.train for one
 * process, python -m mixdepth_torch.launch (torchrun, mended for torch 1.13 on Python 3.11) for several processes or machines.
 */
export function torchLaunch(opts: { configFile: string; accountingFile: string; resume: boolean; nproc: number; env?: NodeJS.ProcessEnv; extraArgs?: string[] }): TorchLaunch {
  const env = opts.env ?? process.env;
  const python = pythonExecutable(env);
  const nnodesRaw = env.MIXDEPTH_TORCH_NNODES ?? "1";
  const nnodes = Number(nnodesRaw);
  if (!Number.isInteger(nnodes) || nnodes < 1) throw new ConfigInvalid(`MIXDEPTH_TORCH_NNODES: must be a positive integer (got ${JSON.stringify(nnodesRaw)})`);
  const rdzv = env.MIXDEPTH_TORCH_RDZV;
  if (nnodes > 1 && !rdzv) throw new ConfigInvalid("MIXDEPTH_TORCH_NNODES > 1 needs MIXDEPTH_TORCH_RDZV=HOST:PORT, the c10d rendezvous every machine reaches");
  const fsdp = env.MIXDEPTH_TORCH_FSDP === "1" ? ["--fsdp"] : [];
  const train = ["-m", "mixdepth_torch.train", "--config", opts.configFile, "--accounting", opts.accountingFile, ...(opts.resume ? ["--resume"] : []), ...fsdp, ...(opts.extraArgs ?? [])];
  const distributed = opts.nproc > 1 || nnodes > 1;
  // Underscore spellings: torch 1.13's torchrun knows only these; 2.x accepts both.
  const launcher = nnodes > 1 ? ["--nnodes", String(nnodes), "--rdzv_backend", "c10d", "--rdzv_endpoint", rdzv as string] : ["--standalone"];
  const args = distributed ? ["-m", "mixdepth_torch.launch", "--nproc_per_node", String(opts.nproc), ...launcher, ...train] : train;
  const pythonPath = [twinDir(), ...(env.PYTHONPATH ? [env.PYTHONPATH] : [])].join(delimiter);
  let brown: string | undefined;
  try {
    brown = brownDir();
  } catch {
    brown = undefined; // only needed for data.source "brown"; the twin says so when it is
  }
  return { command: python, args, env: { ...env, PYTHONPATH: pythonPath, ...(brown && !env.MIXDEPTH_BROWN_DIR ? { MIXDEPTH_BROWN_DIR: brown } : {}) }, nproc: opts.nproc, nnodes };
}

/**
 * Python that runs `-m <module> args...` and dies with its parent (Linux PR_SET_PDEATHSIG,
 * SIGKILL; elsewhere a no-op): a sweep killed with SIGKILL (which runs no exit handler of its
 * own) leaves no twin training on into the folder that the next sitting resumes. The parent's
 * pid comes in MIXDEPTH_PARENT_PID, so a parent already gone before the call is noticed too.
 */
export const DIE_WITH_PARENT = [
  "import ctypes, os, runpy, signal, sys",
  "try:",
  "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)",
  "except Exception:",
  "    pass",
  "if os.environ.get('MIXDEPTH_PARENT_PID') and os.getppid() != int(os.environ['MIXDEPTH_PARENT_PID']):",
  "    sys.exit(137)",
  "mod = sys.argv[1]",
  "sys.argv = [mod] + sys.argv[2:]",
  "runpy.run_module(mod, run_name='__main__', alter_sys=True)",
].join("\n");

/** `launch` (python -m module ...) as python -c DIE_WITH_PARENT module ...; other commands unchanged. */
export function dieWithParent(launch: TorchLaunch, parentPid = process.pid): TorchLaunch {
  if (launch.args[0] !== "-m" || launch.args[1] === undefined) return launch;
  return { ...launch, args: ["-c", DIE_WITH_PARENT, ...launch.args.slice(1)], env: { ...launch.env, MIXDEPTH_PARENT_PID: String(parentPid) } };
}

/** A twin run that exited non-zero: named for errors.ts by the exit code (2 input, 3 not finite, else environment). */
export class TorchEngineError extends Error {
  constructor(readonly exitCode: number) {
    super(`the torch engine exited with code ${exitCode} (its message is above)`);
    this.name = exitCode === 2 ? "ConfigInvalid" : exitCode === 3 ? "NonFiniteError" : "BackendError";
  }
}

export interface TorchTrainOptions {
  valid: ValidConfig;
  runDir: string;
  resume: boolean;
  /** Where the twin's output goes, line by line (default: inherited: the terminal). */
  out?: { write(s: string): boolean };
  /** Set `requested` to stop the twin after its current step, with a checkpoint (SIGINT to it). */
  stop?: { requested: boolean };
  /** Write report.html at the end (default true). */
  report?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Extra arguments for mixdepth_torch.train (tests, bench). */
  extraArgs?: string[];
  /** Kill the twin when this process dies, even by SIGKILL (dieWithParent; the sweep sets it). */
  dieWithParent?: boolean;
}

/** What a twin run returns: the TypeScript engine's result without its in-memory token data. */
export type TorchTrainResult = Omit<TrainResult, "data">;

/** Trains (or resumes) `valid` in the PyTorch twin into `runDir`; what `mixdepth train/sweep --engine torch` call. */
export async function trainTorch(opts: TorchTrainOptions): Promise<TorchTrainResult> {
  const { valid } = opts;
  const env = opts.env ?? process.env;
  const runDir = resolve(opts.runDir);
  const t = valid.config.training;
  const tmp = mkdtempSync(join(tmpdir(), "mixdepth-torch-"));
  try {
    const configFile = join(tmp, "config.json");
    const accountingFile = join(tmp, "accounting.json");
    writeFileSync(configFile, JSON.stringify({ ...valid.config, output: { dir: runDir }, data: { ...valid.config.data, cacheDir: resolve(valid.config.data.cacheDir) } }, null, 2));
    const pc = paramCounts(valid.model, { routerCost: valid.routerCost });
    writeFileSync(
      accountingFile,
      JSON.stringify({
        paramCount: pc.total,
        flopsPerStep: flopsPerStep(valid.model, { batchSize: t.batchSize, seqLen: t.seqLen, gradAccum: t.gradAccum, routerCost: valid.routerCost }),
        forwardFlopsPerSequence: forwardFlops(valid.model, { seqLen: t.seqLen, routerCost: valid.routerCost }).total,
      }),
    );
    const nproc = processCount(valid, env, () => cudaDeviceCount(pythonExecutable(env)));
    const planned = torchLaunch({ configFile, accountingFile, resume: opts.resume, nproc, env, ...(opts.extraArgs ? { extraArgs: opts.extraArgs } : {}) });
    const launch = opts.dieWithParent ? dieWithParent(planned) : planned;
    const code = await new Promise<number>((done, fail) => {
      // Its own process group: a terminal's Ctrl-C reaches this process only, which forwards one
      // SIGINT (stop after the step, with a checkpoint) to the child, the trainer or torchrun
      // (which passes it on to each worker once and exits non-zero when they are done); if this
      // process exits (a second Ctrl-C), the whole group is killed (the last checkpoint stays).
      const child = spawn(launch.command, launch.args, { env: launch.env, detached: true, stdio: opts.out ? ["ignore", "pipe", "pipe"] : "inherit" });
      const killOnExit = () => {
        try {
          if (child.pid) process.kill(-child.pid, "SIGKILL");
        } catch {
          // already gone
        }
      };
      process.on("exit", killOnExit);
      if (opts.out) {
        const out = opts.out;
        let pending = "";
        const onData = (b: Buffer) => {
          pending += b.toString("utf8");
          const lines = pending.split("\n");
          pending = lines.pop() ?? "";
          for (const l of lines) out.write(l + "\n");
        };
        child.stdout?.on("data", onData);
        child.stderr?.on("data", onData);
        child.on("close", () => pending && out.write(pending + "\n"));
      }
      // The sweep's --hours timer (and tests) ask to stop through `stop`; Ctrl-C reaches the twin itself.
      const poll = setInterval(() => {
        if (opts.stop?.requested && child.exitCode === null && child.pid) {
          process.kill(child.pid, "SIGINT");
          clearInterval(poll);
        }
      }, 200);
      child.on("error", (e) => {
        clearInterval(poll);
        process.off("exit", killOnExit);
        fail(new ConfigInvalid(`--engine torch: cannot start ${launch.command} (${(e as NodeJS.ErrnoException).code ?? e.message}); set MIXDEPTH_PYTHON to a Python with torch`));
      });
      child.on("close", (c, sig) => {
        clearInterval(poll);
        process.off("exit", killOnExit);
        done(c ?? (sig ? 128 + 9 : 1));
      });
    });
    const records = readMetrics(join(runDir, "metrics.jsonl"));
    const end = records.filter((r) => r.type === "end").pop() as { status: string; step: number } | undefined;
    const step = latestStep(runDir) ?? 0;
    // torchrun exits non-zero after passing on a stop; the workers' records say whether they stopped cleanly.
    const stoppedCleanly = opts.stop?.requested === true && end?.status === "interrupted" && end.step === step && records.at(-1)?.type === "end";
    if (code !== 0 && !stoppedCleanly) throw new TorchEngineError(code);
    const evals = records.filter((r) => r.type === "eval") as (EvalResult & { step: number })[];
    const last = evals.filter((e) => e.step === t.steps).pop();
    const trains = records.filter((r) => r.type === "train") as { msPerStep: number }[];
    const reportPath = opts.report === false ? null : writeRunReport(runDir);
    return {
      status: end?.status === "interrupted" ? "interrupted" : "done",
      step,
      checkpointDir: step ? join(runDir, "checkpoints", `step-${String(step).padStart(6, "0")}`) : null,
      reportPath,
      finalEval: last ? { tokens: last.tokens, topk: last.topk, causal: last.causal, routing: last.routing, seconds: last.seconds, tokensPerSec: last.tokensPerSec } : null,
      msPerStep: trains.length ? trains.reduce((a, r) => a + r.msPerStep, 0) / trains.length : Number.NaN,
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** `mixdepth train --engine torch`: the twin run (it prints its own progress and closing lines), then the report's path. */
export async function trainTorchCommand(valid: ValidConfig, resume: boolean, stop: { requested: boolean; remove: () => void }): Promise<void> {
  try {
    const r = await trainTorch({ valid, runDir: valid.config.output.dir, resume, stop });
    if (r.status === "interrupted") console.log(`resume with: mixdepth train --engine torch --resume ${valid.config.output.dir}`);
    if (r.reportPath) console.log(`report: ${r.reportPath}`);
  } finally {
    stop.remove();
  }
}
