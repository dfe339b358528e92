// `mixdepth sweep`: the isoFLOP study of the paper's figure 3. For each training-FLOPs budget
// and each model shape of a depth x width grid, dense, learned MoD (the config's routing: the
// preset's 12.5 % on every other block) and the stochastic control are trained for the steps
// the budget buys each of them
// (@mixdepth/flops-accounting's isoFLOP planner); then each variant's optimum (lowest final
// top-k validation loss) is trained again with more seeds, beside a dense model of half the
// dense optimum's depth at the same FLOPs as a control.
// Crash safety: one run folder per run (<out>/<budget>/<run>/), checkpointed at each of its
// evaluations (5 per run by default); a run whose latest checkpoint is its last step is done and skipped, any other
// run with a checkpoint is resumed from it, so a killed sweep continues where it stopped.
// The plan (spec, grid, seed runs) is sweep-plan.ts; the report is sweep-report.ts.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, hostname, loadavg, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { ConfigInvalid, validateConfig, type ValidConfig } from "./config.js";
import { latestStep, writeAtomic } from "@mixdepth/train/node";
import { readMetrics } from "./metrics.js";
import { formatDuration } from "./progress.js";
import { budgetLabel, checkSpec, edgeLine, edgeNotes, finalLoss, gridRuns, runsPerBudget, seedRuns, shapeLabel, type SweepRun, type SweepSpec, type Variant } from "./sweep-plan.js";
import { writeSweepReport } from "./sweep-report.js";
import { MAX_JSON_BYTES, readBoundedText } from "./read-file.js";

export interface SweepOptions {
  /** Only this budget (it must be one of the spec's). */
  budget?: number;
  /** Print the plan and stop. */
  plan?: boolean;
  /** With plan and the torch engine: measure a short run of each grid shape and print the wall time. */
  measure?: boolean;
  /** Stop starting or continuing runs after this many hours (one sitting); resume later. */
  hours?: number;
  /** Runs of one phase trained at once (torch engine only; each on one thread). Default 1. */
  jobs?: number;
  backendLine: string;
  stop: { requested: boolean };
  log?: (line: string) => void;
  /** Training engine (default tfjs; torch: the PyTorch twin, engine-torch.ts). */
  engine?: "tfjs" | "torch";
  /** Environment for the twin (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** The machine a sitting ran on, as each run's sweep-run.json records it. */
export function machine(): { hostname: string; platform: string; arch: string; cpus: number; cpuModel: string; memoryGiB: number } {
  const c = cpus();
  return { hostname: hostname(), platform: process.platform, arch: process.arch, cpus: c.length, cpuModel: c[0]?.model.trim() ?? "unknown", memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10 };
}

/** One sitting's part of a run, in <run>/sweep-run.json ("sittings", oldest first). */
export interface Sitting {
  started: string;
  ended: string | null;
  machine: ReturnType<typeof machine>;
  /** os.loadavg() (1, 5, 15 minutes) when the run started and when it ended in this sitting. */
  loadavgStart: number[];
  loadavgEnd: number[] | null;
  fromStep: number;
  toStep: number | null;
  jobs: number;
}

export interface SweepRunRecord {
  engine: "tfjs" | "torch";
  sittings: Sitting[];
}

export function readRunRecord(runDir: string): SweepRunRecord | null {
  const f = join(runDir, "sweep-run.json");
  if (!existsSync(f)) return null;
  try {
    return JSON.parse(readFileSync(f, "utf8")) as SweepRunRecord;
  } catch {
    return null;
  }
}

/** Measured cost of one grid shape x variant on the engine: a short run's median step, its evaluation and its start-up. */
export interface Measured {
  msPerStep: number;
  evalSeconds: number;
  startupSeconds: number;
  flopsPerStep: number;
}

/** Runs `fn` on every item, at most `jobs` at once, in order of start; stops starting when `stop()` says so. */
async function pool<T>(items: T[], jobs: number, fn: (x: T) => Promise<boolean>, stop: () => boolean): Promise<boolean> {
  let next = 0;
  let ok = true;
  const worker = async () => {
    while (next < items.length && !stop()) {
      const x = items[next++] as T;
      if (!(await fn(x))) ok = false;
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, worker));
  return ok && next >= items.length;
}

/** The twin's environment for one of `jobs` concurrent runs: one process, one torch thread each. */
function jobEnv(env: NodeJS.ProcessEnv, jobs: number): NodeJS.ProcessEnv {
  // torch takes its intra-op thread count from OMP_NUM_THREADS (torch.get_num_threads() is 1).
  return jobs > 1 ? { ...env, OMP_NUM_THREADS: "1", MKL_NUM_THREADS: "1", MIXDEPTH_TORCH_NPROC: "1" } : env;
}

/**
 * Measures each grid shape x variant of the first budget with a 4-step twin run (evaluation and
 * checkpoint at its last step), `jobs` at once as the sitting will run them.
 */
async function measureTorch(grid: SweepRun[], jobs: number, env: NodeJS.ProcessEnv, log: (l: string) => void): Promise<Map<string, Measured>> {
  const { trainTorch } = await import("./engine-torch.js");
  const first = grid.filter((g) => g.budget === grid[0]?.budget);
  const tmp = mkdtempSync(join(tmpdir(), "mixdepth-sweep-measure-"));
  const out = new Map<string, Measured>();
  const steps = 4;
  try {
    await pool(
      first,
      jobs,
      async (r) => {
        const t = r.valid.config.training;
        const dir = join(tmp, r.name);
        const valid = validateConfig({ ...r.valid.config, training: { ...t, steps, warmupSteps: 1, evalEvery: steps, checkpointEvery: steps }, output: { dir } });
        const t0 = performance.now();
        await trainTorch({ valid, runDir: dir, resume: false, report: false, env: jobEnv(env, jobs), dieWithParent: true, out: { write: () => true } });
        const wall = (performance.now() - t0) / 1000;
        const recs = readMetrics(join(dir, "metrics.jsonl"));
        const ms = recs.filter((x) => x.type === "train" && (x as { step: number }).step > 1).map((x) => (x as { msPerStep: number }).msPerStep).sort((a, b) => a - b);
        const msPerStep = ms[Math.floor(ms.length / 2)] ?? Number.NaN;
        const evalSeconds = (recs.filter((x) => x.type === "eval").pop() as { seconds?: number } | undefined)?.seconds ?? 0;
        const m = { msPerStep, evalSeconds, startupSeconds: Math.max(0, wall - (msPerStep * steps) / 1000 - evalSeconds), flopsPerStep: r.budget / r.steps };
        out.set(`${r.variant}|${shapeLabel(r.shape)}`, m);
        log(`  measured ${r.variant} ${shapeLabel(r.shape)}: ${msPerStep.toFixed(1)} ms/step, evaluation ${evalSeconds.toFixed(2)} s, start-up ${m.startupSeconds.toFixed(1)} s`);
        return true;
      },
      () => false,
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}

/**
 * Seconds a run takes by the measurements: its steps at the measured ms per FLOP of its variant
 * and shape (phase-2 shapes, unknown before the grid, at the mean over the grid's shapes; the
 * stochastic controls at MoD's, dense-half at dense's), its evaluations, its start-up.
 */
export function estimateSeconds(m: Map<string, Measured>, variant: Variant, shape: string | null, steps: number, flopsPerStep: number, evals: number): number {
  const base: Variant = variant === "dense-half" ? "dense" : variant === "stochastic" || variant === "stochastic-noise" ? "mod" : variant;
  const exact = shape !== null ? m.get(`${base}|${shape}`) : undefined;
  const pool = exact ? [exact] : [...m].filter(([k]) => k.startsWith(`${base}|`)).map(([, v]) => v);
  if (!pool.length) return Number.NaN;
  const msPerFlop = pool.reduce((a, x) => a + x.msPerStep / x.flopsPerStep, 0) / pool.length;
  const evalS = pool.reduce((a, x) => a + x.evalSeconds, 0) / pool.length;
  const startup = pool.reduce((a, x) => a + x.startupSeconds, 0) / pool.length;
  return (steps * flopsPerStep * msPerFlop) / 1000 + evals * evalS + startup;
}

/** Runs (or continues) the sweep in `out` and writes its report. */
export async function runSweep(base: ValidConfig, spec: SweepSpec, outDir: string, o: SweepOptions): Promise<{ done: boolean; runs: SweepRun[] }> {
  checkSpec(spec);
  const log = o.log ?? ((l: string) => console.log(l));
  const jobs = o.jobs ?? 1;
  if (!Number.isInteger(jobs) || jobs < 1) throw new ConfigInvalid(`--jobs: must be a positive integer (got ${JSON.stringify(o.jobs)})`);
  if (jobs > 1 && o.engine !== "torch") throw new ConfigInvalid(`--jobs: ${jobs} runs at once need --engine torch (the tfjs engine trains one run per process)`);
  const env = o.env ?? process.env;
  const engine = o.engine ?? "tfjs";
  const out = resolve(outDir);
  if (o.budget !== undefined && !spec.budgets.some((b) => Math.abs(b - (o.budget as number)) <= 1e-9 * b)) {
    throw new ConfigInvalid(`--budget: ${o.budget} is not one of the sweep's budgets (${spec.budgets.map((b) => b.toExponential(3)).join(", ")})`);
  }
  const budgets = o.budget === undefined ? spec.budgets : spec.budgets.filter((b) => Math.abs(b - (o.budget as number)) <= 1e-9 * b);
  const grid = gridRuns(base, spec, out);
  // A folder holds one study: a different spec or base config would mix incomparable runs. The
  // backend is left out: a later sitting may run on another machine (the report names it).
  const specFile = join(out, "sweep.json");
  const record = JSON.stringify({ spec, base: { ...base.config, output: undefined, backend: undefined } }, null, 2) + "\n";
  if (existsSync(specFile)) {
    const text = readBoundedText(specFile, MAX_JSON_BYTES, "sweep.json", "MAX_JSON_BYTES, 16 MiB");
    if (text !== record) {
      let damaged = false;
      try {
        JSON.parse(text);
      } catch {
        damaged = true;
      }
      throw new ConfigInvalid(
        damaged
          ? `--out: ${specFile} is damaged (not valid JSON); restore it, or delete it if the runs in ${out} belong to this spec and config`
          : `--out: ${out} holds a sweep with another spec or config (${specFile}); choose another --out`,
      );
    }
  }
  const perBudget = runsPerBudget(spec);
  const total = budgets.length * perBudget;
  const totalFlops = perBudget * budgets.reduce((a, b) => a + b, 0); // each run spends (just under) its budget
  const stochastic = spec.noiseControl ? "stochastic and stochastic-noise" : "stochastic";
  log(`sweep: ${budgets.length} budget(s) x ${spec.shapes.length} shapes x dense and mod, then ${stochastic} at mod's optimum shape, ${spec.seeds} seeds at each optimum and the half-depth dense control: ${total} runs, ${totalFlops.toExponential(2)} training FLOPs`);
  for (const b of budgets) {
    for (const r of grid.filter((g) => g.budget === b)) log(`  ${budgetLabel(b)} ${r.name}: ${r.steps} steps, ${r.params} parameters`);
  }
  // Optima already found (earlier sittings): say where one sits on the grid's edge.
  for (const n of edgeNotes(grid.filter((g) => budgets.includes(g.budget)).map((g) => ({ budget: g.budget, variant: g.variant, shape: g.shape, params: g.params, loss: finalLoss(g) })))) log(`  edge: ${edgeLine(n)}`);
  if (o.plan) {
    if (o.measure && engine === "torch") {
      log(`sweep: measuring each grid shape with the torch engine (4 steps, ${jobs} at once${jobs > 1 ? ", one thread each" : ""})`);
      const m = await measureTorch(grid.filter((g) => budgets.includes(g.budget)), jobs, env, log);
      const evals = spec.evals ?? 5;
      let seconds = 0;
      for (const b of budgets) {
        let s = 0;
        const g = grid.filter((x) => x.budget === b);
        for (const r of g) s += estimateSeconds(m, r.variant, shapeLabel(r.shape), r.steps, r.budget / r.steps, evals);
        // Phase 2 spends the budget per run: shapes unknown before the grid, at the grid's mean rate.
        const perRun = (v: Variant) => estimateSeconds(m, v, null, 1, b, evals);
        const st = spec.noiseControl ? 2 : 1;
        s += 2 * (spec.seeds - 1) * ((perRun("dense") + perRun("mod")) / 2) + st * spec.seeds * perRun("stochastic") + spec.seeds * perRun("dense-half");
        log(`  ${budgetLabel(b)}: ${(s / 3600).toFixed(2)} h of one run at a time`);
        seconds += s;
      }
      log(`sweep: estimated wall time ${(seconds / jobs / 3600).toFixed(2)} h at --jobs ${jobs} (${(seconds / 3600).toFixed(2)} run-hours, measured on ${machine().cpuModel}, load ${loadavg()[0]?.toFixed(2)}); --hours bounds a sitting`);
    }
    return { done: false, runs: grid };
  }
  mkdirSync(out, { recursive: true });
  writeAtomic(specFile, record);

  const train = engine === "torch" ? (await import("./engine-torch.js")).trainTorch : (await import("./train.js")).train;
  const started = performance.now();
  let secsPerFlop = Number.NaN; // measured on this machine as runs finish
  let flopsDone = 0; // trained in this sitting
  let flopsScheduled = 0; // budgets of the runs reached so far
  let index = 0;
  const all: SweepRun[] = [];
  const sitting = o.hours !== undefined ? setTimeout(() => ((o.stop.requested = true), log(`sweep: --hours ${o.hours} reached; stopping after the current step`)), o.hours * 3_600_000) : null;
  sitting?.unref();
  const execute = async (r: SweepRun): Promise<boolean> => {
    index += 1;
    flopsScheduled += r.budget;
    all.push(r);
    const dir = r.valid.config.output.dir;
    const done = latestStep(dir);
    const tag = `[sweep ${index}/${total}] ${budgetLabel(r.budget)} ${r.name}`;
    if (done === r.steps) {
      // A finished run must still say how it ended: without its final evaluation it would drop
      // out of the results (its whole budget, if it is a grid run) and move the optima.
      if (finalLoss(r) === null) {
        throw new ConfigInvalid(`${tag}: finished (step ${r.steps}) but ${join(dir, "metrics.jsonl")} has no evaluation at step ${r.steps} (damaged?); restore it, or delete ${dir} to train this run again`);
      }
      log(`${tag}: done already`);
      return true;
    }
    if (o.stop.requested) return false;
    const left = totalFlops - flopsScheduled + r.budget * (1 - (done ?? 0) / r.steps);
    log(`${tag}: ${r.steps} steps${done !== null ? `, resuming at step ${done}` : ""}; sweep ETA ${formatDuration((left * secsPerFlop) / jobs)}`);
    mkdirSync(dir, { recursive: true });
    const prior = readRunRecord(dir);
    const sit: Sitting = { started: new Date().toISOString(), ended: null, machine: machine(), loadavgStart: loadavg(), loadavgEnd: null, fromStep: done ?? 0, toStep: null, jobs };
    const rec: SweepRunRecord = { engine, sittings: [...(prior?.sittings ?? []), sit] };
    const recFile = join(dir, "sweep-run.json");
    writeAtomic(recFile, JSON.stringify(rec, null, 2) + "\n");
    const prefix = jobs > 1 ? `  [${r.name}] ` : "";
    const res = await train({ valid: r.valid, runDir: dir, resume: done !== null, backendLine: o.backendLine, stop: o.stop, ...(engine === "torch" ? { env: jobEnv(env, jobs), dieWithParent: true } : {}), out: { write: (s: string) => (log(prefix + s.replace(/\n$/, "")), true) } });
    Object.assign(sit, { ended: new Date().toISOString(), loadavgEnd: loadavg(), toStep: res.step });
    writeAtomic(recFile, JSON.stringify(rec, null, 2) + "\n");
    if (res.status === "interrupted") return false;
    const flops = (r.steps - (done ?? 0)) * (r.budget / r.steps);
    flopsDone += flops;
    secsPerFlop = ((performance.now() - started) / 1000) * jobs / Math.max(flopsDone, 1);
    return true;
  };
  const stopNow = () => o.stop.requested;
  try {
    for (const b of budgets) {
      // Runs of one phase are independent: `jobs` of them at once, each with its own seed and folder.
      if (!(await pool(grid.filter((g) => g.budget === b), jobs, execute, stopNow))) return stopped(log, all);
      if (!(await pool(seedRuns(base, spec, out, grid, b), jobs, execute, stopNow))) return stopped(log, all);
      for (const n of edgeNotes(grid.filter((g) => g.budget === b).map((g) => ({ budget: g.budget, variant: g.variant, shape: g.shape, params: g.params, loss: finalLoss(g) })))) log(`sweep: edge: ${edgeLine(n)}`);
    }
  } finally {
    if (sitting) clearTimeout(sitting);
  }
  const budgetsDone = spec.budgets.filter((b) => grid.filter((g) => g.budget === b).every((g) => finalLoss(g) !== null));
  const everything = budgetsDone.flatMap((b) => [...grid.filter((g) => g.budget === b), ...seedRuns(base, spec, out, grid, b)]);
  const report = writeSweepReport(out, everything, o.backendLine);
  log(`sweep: done in ${formatDuration((performance.now() - started) / 1000)} (this sitting)`);
  log(`report: ${report.html}\nresults: ${report.csv}`);
  return { done: true, runs: everything };
}

function stopped(log: (l: string) => void, runs: SweepRun[]): { done: boolean; runs: SweepRun[] } {
  log("sweep: stopped; run the same command again to continue (finished runs are skipped, the interrupted one resumes)");
  return { done: false, runs };
}
