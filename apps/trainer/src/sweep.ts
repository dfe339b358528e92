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
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigInvalid, type ValidConfig } from "./config.js";
import { latestStep, writeAtomic } from "@mixdepth/train/node";
import { formatDuration } from "./progress.js";
import { budgetLabel, checkSpec, finalLoss, gridRuns, seedRuns, type SweepRun, type SweepSpec } from "./sweep-plan.js";
import { writeSweepReport } from "./sweep-report.js";

export interface SweepOptions {
  /** Only this budget (it must be one of the spec's). */
  budget?: number;
  /** Print the plan and stop. */
  plan?: boolean;
  /** Stop starting or continuing runs after this many hours (one sitting); resume later. */
  hours?: number;
  backendLine: string;
  stop: { requested: boolean };
  log?: (line: string) => void;
  /** Training engine (default tfjs; torch: the PyTorch twin, engine-torch.ts). */
  engine?: "tfjs" | "torch";
}

/** Runs (or continues) the sweep in `out` and writes its report. */
export async function runSweep(base: ValidConfig, spec: SweepSpec, outDir: string, o: SweepOptions): Promise<{ done: boolean; runs: SweepRun[] }> {
  checkSpec(spec);
  const log = o.log ?? ((l: string) => console.log(l));
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
  if (existsSync(specFile) && readFileSync(specFile, "utf8") !== record) {
    throw new ConfigInvalid(`--out: ${out} holds a sweep with another spec or config (${specFile}); choose another --out`);
  }
  const variants = spec.noiseControl ? 4 : 3;
  const perBudget = spec.shapes.length * variants + variants * (spec.seeds - 1) + spec.seeds;
  const total = budgets.length * perBudget;
  const totalFlops = perBudget * budgets.reduce((a, b) => a + b, 0); // each run spends (just under) its budget
  log(`sweep: ${budgets.length} budget(s) x ${spec.shapes.length} shapes x ${variants} variants, then ${spec.seeds} seeds at each optimum and the half-depth dense control: ${total} runs, ${totalFlops.toExponential(2)} training FLOPs`);
  for (const b of budgets) {
    for (const r of grid.filter((g) => g.budget === b)) log(`  ${budgetLabel(b)} ${r.name}: ${r.steps} steps, ${r.params} parameters`);
  }
  if (o.plan) return { done: false, runs: grid };
  mkdirSync(out, { recursive: true });
  writeAtomic(specFile, record);

  const train = o.engine === "torch" ? (await import("./engine-torch.js")).trainTorch : (await import("./train.js")).train;
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
      log(`${tag}: done already`);
      return true;
    }
    if (o.stop.requested) return false;
    const left = totalFlops - flopsScheduled + r.budget * (1 - (done ?? 0) / r.steps);
    log(`${tag}: ${r.steps} steps${done !== null ? `, resuming at step ${done}` : ""}; sweep ETA ${formatDuration(left * secsPerFlop)}`);
    const res = await train({ valid: r.valid, runDir: dir, resume: done !== null, backendLine: o.backendLine, stop: o.stop, out: { write: (s: string) => (log(s.replace(/\n$/, "")), true) } });
    if (res.status === "interrupted") return false;
    const flops = (r.steps - (done ?? 0)) * (r.budget / r.steps);
    flopsDone += flops;
    secsPerFlop = (performance.now() - started) / 1000 / Math.max(flopsDone, 1);
    return true;
  };
  try {
    for (const b of budgets) {
      for (const r of grid.filter((g) => g.budget === b)) if (!(await execute(r))) return stopped(log, all);
      for (const r of seedRuns(base, spec, out, grid, b)) if (!(await execute(r))) return stopped(log, all);
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
