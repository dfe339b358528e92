// `mixdepth sweep-report <sweep>... --out docs/results/isoflop`: the isoFLOP study's report from
// one or more sweep folders (typically the torch-engine study and a tfjs-engine sweep of its
// smallest budget): README.md with the tables, SVG figures, results.csv and the sweeps' configs.
// The derived numbers (optima, seed statistics, paired differences, the cross-engine agreement,
// the wall time per budget) are pure functions of StudyRow[] so they are tested on hand-made
// rows (sweep-study.test.ts); loadSweep turns a sweep folder into those rows.
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeAtomic } from "@mixdepth/train/node";
import { ConfigInvalid, validateConfig } from "./config.js";
import { COLORS, fmt, lineChart, toCsv, type Series } from "./report.js";
import { runCurves } from "./run-report.js";
import { budgetLabel, edgeLine, edgeNotes, finalLoss, gridRuns, seedRuns, shapeLabel, type Shape, type SweepRun, type SweepSpec, type Variant } from "./sweep-plan.js";
import { readRunRecord } from "./sweep.js";
import { mean, std } from "./sweep-report.js";

/** One finished run of a sweep, as the study's tables read it. */
export interface StudyRow {
  engine: string;
  budget: number;
  variant: Variant;
  shape: Shape;
  params: number;
  steps: number;
  seed: number;
  phase: "grid" | "seeds";
  /** Final top-k validation loss. */
  loss: number;
  /** Final validation loss with the causal (predictor) routing, MoD variants only. */
  causal: number | null;
  /** Mean over routed blocks of the causal rule's agreement with top-k at the last evaluation. */
  accuracy: number | null;
  msPerStep: number;
  /** (training FLOPs, top-k val loss) at each evaluation. */
  curve: [number, number][];
  /** Where and when it ran (sweep-run.json's sittings); null when not recorded. */
  machine: string | null;
  loadavg: number | null;
  started: string | null;
  ended: string | null;
  wallSeconds: number | null;
}

export const STUDY_VARIANTS: Variant[] = ["dense", "mod", "stochastic", "stochastic-noise", "dense-half"];

export interface Optimum {
  engine: string;
  budget: number;
  variant: Variant;
  shape: Shape;
  params: number;
  steps: number;
  /** The runs at this optimum, by seed (ascending). */
  runs: StudyRow[];
  mean: number;
  std: number;
  /** Mean causal - top-k gap and predictor accuracy over the seeds (null for dense variants). */
  gap: number | null;
  accuracy: number | null;
}

/**
 * Each (engine, budget, variant)'s optimum with its seeds: dense and MoD at their grid's best
 * shape (lowest seed-0 loss), with every seed trained there; the stochastic readings and the
 * half-depth control at the one shape the sweep trains them.
 */
export function studyOptima(rows: StudyRow[]): Optimum[] {
  const out: Optimum[] = [];
  const engines = [...new Set(rows.map((r) => r.engine))].sort();
  for (const engine of engines) {
    const er = rows.filter((r) => r.engine === engine);
    for (const budget of [...new Set(er.map((r) => r.budget))].sort((a, b) => a - b)) {
      for (const variant of STUDY_VARIANTS) {
        const vr = er.filter((r) => r.budget === budget && r.variant === variant && Number.isFinite(r.loss));
        if (!vr.length) continue;
        const grid = vr.filter((r) => r.phase === "grid");
        const best = grid.length ? grid.reduce((a, b) => (b.loss < a.loss ? b : a)) : (vr[0] as StudyRow);
        const at = vr.filter((r) => shapeLabel(r.shape) === shapeLabel(best.shape)).sort((a, b) => a.seed - b.seed);
        const losses = at.map((r) => r.loss);
        const gaps = at.filter((r) => r.causal !== null).map((r) => (r.causal as number) - r.loss);
        const accs = at.filter((r) => r.accuracy !== null).map((r) => r.accuracy as number);
        out.push({ engine, budget, variant, shape: best.shape, params: best.params, steps: best.steps, runs: at, mean: mean(losses), std: std(losses), gap: gaps.length ? mean(gaps) : null, accuracy: accs.length ? mean(accs) : null });
      }
    }
  }
  return out;
}

export interface PairedDiff {
  engine: string;
  budget: number;
  a: Variant;
  b: Variant;
  /** a - b at each seed both have. */
  bySeed: { seed: number; diff: number }[];
  mean: number;
  std: number;
}

/** The pairs the report compares seed by seed (same seed: same data order and initial draw). */
export const PAIRS: [Variant, Variant][] = [
  ["mod", "dense"],
  ["stochastic", "dense"],
  ["mod", "stochastic"],
  ["stochastic-noise", "stochastic"],
  ["dense-half", "dense"],
  ["mod", "dense-half"],
];

/** Paired seed differences of the optima (a - b; negative: a is better). */
export function pairedDiffs(optima: Optimum[]): PairedDiff[] {
  const out: PairedDiff[] = [];
  for (const o of optima) {
    for (const [a, b] of PAIRS) {
      if (o.variant !== a) continue;
      const other = optima.find((x) => x.engine === o.engine && x.budget === o.budget && x.variant === b);
      if (!other) continue;
      const ob = new Map(other.runs.map((r) => [r.seed, r.loss]));
      const bySeed = o.runs.filter((r) => ob.has(r.seed)).map((r) => ({ seed: r.seed, diff: r.loss - (ob.get(r.seed) as number) }));
      if (!bySeed.length) continue;
      const d = bySeed.map((x) => x.diff);
      out.push({ engine: o.engine, budget: o.budget, a, b, bySeed, mean: mean(d), std: std(d) });
    }
  }
  return out.sort((x, y) => x.engine.localeCompare(y.engine) || x.budget - y.budget || PAIRS.findIndex(([a, b]) => a === x.a && b === x.b) - PAIRS.findIndex(([a, b]) => a === y.a && b === y.b));
}

export interface CrossEngineRow {
  budget: number;
  variant: Variant;
  engines: [string, string];
  shapes: [string, string];
  means: [number, number];
  stds: [number, number];
  /** means[0] - means[1]. */
  diff: number;
  /** The spread the difference is judged against: sqrt(std0^2 + std1^2) (each std NaN-free; one seed counts 0). */
  spread: number;
  sameShape: boolean;
  /** Same optimum shape and |diff| <= spread. */
  agree: boolean;
}

/** The smallest budget trained by both engines (torch first when present): each variant's optimum and mean loss side by side. */
export function crossEngine(optima: Optimum[]): CrossEngineRow[] {
  const engines = [...new Set(optima.map((o) => o.engine))].sort((a, b) => (a === "torch" ? -1 : b === "torch" ? 1 : a.localeCompare(b)));
  if (engines.length < 2) return [];
  const [e0, e1] = engines as [string, string];
  const shared = [...new Set(optima.filter((o) => o.engine === e0).map((o) => o.budget))].filter((b) => optima.some((o) => o.engine === e1 && o.budget === b)).sort((a, b) => a - b);
  const budget = shared[0];
  if (budget === undefined) return [];
  const rows: CrossEngineRow[] = [];
  for (const variant of STUDY_VARIANTS) {
    const a = optima.find((o) => o.engine === e0 && o.budget === budget && o.variant === variant);
    const b = optima.find((o) => o.engine === e1 && o.budget === budget && o.variant === variant);
    if (!a || !b) continue;
    const s = (x: number) => (Number.isFinite(x) ? x : 0);
    const spread = Math.sqrt(s(a.std) ** 2 + s(b.std) ** 2);
    const diff = a.mean - b.mean;
    const sameShape = shapeLabel(a.shape) === shapeLabel(b.shape);
    rows.push({ budget, variant, engines: [e0, e1], shapes: [shapeLabel(a.shape), shapeLabel(b.shape)], means: [a.mean, b.mean], stds: [a.std, b.std], diff, spread, sameShape, agree: sameShape && Math.abs(diff) <= spread });
  }
  return rows;
}

export interface WallRow {
  engine: string;
  budget: number;
  runs: number;
  /** Mean ms per training step over the budget's runs. */
  msPerStep: number;
  /** Sum of the runs' recorded wall time (their sittings), hours. */
  hours: number | null;
  machines: string[];
  /** Mean 1-minute load average when the runs started. */
  loadavg: number | null;
  from: string | null;
  to: string | null;
}

/** Wall time per step of each budget, with the machines, load and dates its runs record. */
export function wallTimes(rows: StudyRow[]): WallRow[] {
  const keys = [...new Set(rows.map((r) => `${r.engine}|${r.budget}`))];
  return keys
    .map((k) => {
      const [engine, b] = k.split("|") as [string, string];
      const rs = rows.filter((r) => r.engine === engine && r.budget === Number(b));
      const ms = rs.map((r) => r.msPerStep).filter(Number.isFinite);
      const walls = rs.map((r) => r.wallSeconds).filter((x): x is number => x !== null);
      const loads = rs.map((r) => r.loadavg).filter((x): x is number => x !== null);
      const starts = rs.map((r) => r.started).filter((x): x is string => x !== null).sort();
      const ends = rs.map((r) => r.ended).filter((x): x is string => x !== null).sort();
      return {
        engine,
        budget: Number(b),
        runs: rs.length,
        msPerStep: ms.length ? mean(ms) : Number.NaN,
        hours: walls.length ? walls.reduce((a, x) => a + x, 0) / 3600 : null,
        machines: [...new Set(rs.map((r) => r.machine).filter((x): x is string => x !== null))].sort(),
        loadavg: loads.length ? mean(loads) : null,
        from: starts[0] ?? null,
        to: ends.at(-1) ?? null,
      };
    })
    .sort((x, y) => x.engine.localeCompare(y.engine) || x.budget - y.budget);
}

/** A sweep folder's finished runs as study rows; the engine from each run's sweep-run.json (else its backend line). */
export function loadSweep(dir: string): { rows: StudyRow[]; spec: SweepSpec; runs: SweepRun[] } {
  const out = resolve(dir);
  const file = join(out, "sweep.json");
  let rec: { spec: SweepSpec; base: Record<string, unknown> };
  try {
    rec = JSON.parse(readFileSync(file, "utf8")) as typeof rec;
  } catch (e) {
    throw new ConfigInvalid(`<sweeps>: cannot read ${file} (${(e as Error).message})`);
  }
  const valid = validateConfig({ ...rec.base, backend: "auto", output: { dir: out } });
  const grid = gridRuns(valid, rec.spec, out);
  const runs = rec.spec.budgets.flatMap((b) => {
    const g = grid.filter((x) => x.budget === b);
    return g.every((x) => finalLoss(x) !== null) ? [...g, ...seedRuns(valid, rec.spec, out, grid, b)] : g;
  });
  const rows: StudyRow[] = [];
  for (const run of runs) {
    const loss = finalLoss(run);
    if (loss === null) continue;
    const dirOf = run.valid.config.output.dir;
    const c = runCurves(dirOf, run.name);
    const last = c.evals.filter((e) => e.step === run.steps).pop();
    const r = readRunRecord(dirOf);
    const sittings = r?.sittings ?? [];
    const wall = sittings.filter((s) => s.ended).reduce((a, s) => a + (Date.parse(s.ended as string) - Date.parse(s.started)) / 1000, 0);
    const m = sittings[0]?.machine;
    rows.push({
      engine: r?.engine ?? (c.backend.toLowerCase().includes("torch") ? "torch" : "tfjs"),
      budget: run.budget,
      variant: run.variant,
      shape: run.shape,
      params: run.params,
      steps: run.steps,
      seed: run.seed,
      phase: run.phase,
      loss,
      causal: last?.causal?.loss ?? null,
      accuracy: last?.routing.length ? mean(last.routing.map((l) => l.accuracy)) : null,
      msPerStep: c.train.length ? mean(c.train.map((t) => t.msPerStep)) : Number.NaN,
      curve: c.evals.map((e): [number, number] => [e.flops, e.topk.loss]),
      machine: m ? `${m.hostname} (${m.cpus} x ${m.cpuModel})` : null,
      loadavg: sittings.length ? mean(sittings.map((s) => s.loadavgStart[0] ?? 0)) : null,
      started: sittings[0]?.started ?? null,
      ended: sittings.at(-1)?.ended ?? null,
      wallSeconds: sittings.length ? wall : null,
    });
  }
  return { rows, spec: rec.spec, runs };
}

const n4 = (x: number | null) => (x === null || !Number.isFinite(x) ? "-" : fmt(x, 4));
const md = (head: string[], rows: string[][]) => [`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
const colour = (v: Variant) => COLORS[STUDY_VARIANTS.indexOf(v)] as string;

/** The `mixdepth sweep` arguments that plan `spec` with the base config file `config` into `out`. */
export function sweepArgs(spec: SweepSpec, config: string, engine: string, out: string): string[] {
  const shapes = spec.shapes.map((x) => `${x.dModel}x${x.nLayers}h${x.nHeads}`).join(",");
  return ["sweep", "--config", config, "--budgets", spec.budgets.map((b) => b.toExponential()).join(","), "--shapes", shapes, "--seeds", String(spec.seeds), ...(spec.evals !== undefined ? ["--evals", String(spec.evals)] : []), ...(spec.noiseControl ? ["--noise-control"] : []), "--engine", engine, "--out", out];
}

/** Writes README.md, the SVG figures, results.csv and configs/ into `outDir`; returns the paths. */
export function writeStudyReport(dirs: string[], outDir: string): { readme: string; csv: string; svgs: string[] } {
  const loaded = dirs.map(loadSweep);
  const rows = loaded.flatMap((l) => l.rows);
  if (!rows.length) throw new ConfigInvalid(`<sweeps>: no finished run in ${dirs.join(", ")}`);
  const out = resolve(outDir);
  mkdirSync(join(out, "configs"), { recursive: true });
  const optima = studyOptima(rows);
  const diffs = pairedDiffs(optima);
  const cross = crossEngine(optima);
  const walls = wallTimes(rows);
  const engines = [...new Set(rows.map((r) => r.engine))].sort();
  const svgs: string[] = [];
  const svg = (name: string, body: string) => {
    writeAtomic(join(out, name), body);
    svgs.push(name);
    return name;
  };

  const sections: string[] = [];
  for (const engine of engines) {
    const er = rows.filter((r) => r.engine === engine);
    for (const b of [...new Set(er.map((r) => r.budget))].sort((x, y) => x - y)) {
      const series: Series[] = STUDY_VARIANTS.flatMap((v) => {
        const pts = er.filter((r) => r.budget === b && r.variant === v && r.seed === 0).map((r): [number, number] => [r.params, r.loss]).sort((p, q) => p[0] - q[0]);
        return pts.length ? [{ name: v, points: pts, markers: true, color: colour(v) }] : [];
      });
      const name = svg(`isoflop-${engine}-${budgetLabel(b)}.svg`, lineChart(series, { title: `isoFLOP curves at ${b.toExponential(2)} training FLOPs (${engine}, seed 0)`, xLabel: "parameters", yLabel: "final val loss (nats/token)", logX: true }));
      sections.push(`![isoFLOP ${engine} ${budgetLabel(b)}](${name})`);
    }
    const frontier: Series[] = STUDY_VARIANTS.flatMap((v) => {
      const pts = optima.filter((o) => o.engine === engine && o.variant === v).map((o): [number, number] => [o.budget, o.mean]);
      return pts.length ? [{ name: v, points: pts, markers: true, color: colour(v) }] : [];
    });
    sections.push(`![optima ${engine}](${svg(`optima-${engine}.svg`, lineChart(frontier, { title: `final val loss of each variant's optimum (mean over seeds) vs budget (${engine})`, xLabel: "training FLOPs", yLabel: "val loss (nats/token)", logX: true }))})`);
    const curves: Series[] = optima
      .filter((o) => o.engine === engine && o.runs[0])
      .map((o, i) => ({ name: `${o.variant} ${shapeLabel(o.shape)} @ ${budgetLabel(o.budget)}`, points: (o.runs[0] as StudyRow).curve, markers: true, color: colour(o.variant), ...(i % 2 ? { dash: "6 3" } : {}) }));
    sections.push(`![loss vs FLOPs ${engine}](${svg(`loss-vs-flops-${engine}.svg`, lineChart(curves, { title: `validation loss vs training FLOPs of the optima (${engine}, lowest seed)`, xLabel: "training FLOPs", yLabel: "val loss (nats/token)", logX: true }))})`);
  }

  const optimaMd = md(
    ["engine", "budget", "variant", "shape", "params", "steps", "seeds", "mean", "std", "min", "max", "by seed", "causal - top-k gap", "predictor accuracy"],
    optima.map((o) => {
      const l = o.runs.map((r) => r.loss);
      return [o.engine, budgetLabel(o.budget), o.variant, shapeLabel(o.shape), String(o.params), String(o.steps), String(o.runs.length), n4(o.mean), n4(o.std), n4(Math.min(...l)), n4(Math.max(...l)), o.runs.map((r) => `s${r.seed} ${n4(r.loss)}`).join(", "), n4(o.gap), o.accuracy === null ? "-" : fmt(o.accuracy, 3)];
    }),
  );
  const diffMd = md(
    ["engine", "budget", "a - b", "seeds", "mean", "std", "by seed"],
    diffs.map((d) => [d.engine, budgetLabel(d.budget), `${d.a} - ${d.b}`, String(d.bySeed.length), n4(d.mean), n4(d.std), d.bySeed.map((x) => `s${x.seed} ${n4(x.diff)}`).join(", ")]),
  );
  const crossMd = cross.length
    ? md(
        ["budget", "variant", `${cross[0]?.engines[0]} optimum`, `${cross[0]?.engines[1]} optimum`, `${cross[0]?.engines[0]} mean (std)`, `${cross[0]?.engines[1]} mean (std)`, "difference", "spread", "agree"],
        cross.map((c) => [budgetLabel(c.budget), c.variant, c.shapes[0], c.shapes[1], `${n4(c.means[0])} (${n4(c.stds[0])})`, `${n4(c.means[1])} (${n4(c.stds[1])})`, n4(c.diff), n4(c.spread), c.agree ? "yes" : c.sameShape ? "no (loss)" : "no (shape)"]),
      )
    : "Only one engine's results were given; run the smallest budget with the other engine (see Reproduce).";
  const wallMd = md(
    ["engine", "budget", "runs", "ms / step (mean)", "wall hours (sum of runs)", "machine", "load average at start (1 min, mean)", "from", "to"],
    walls.map((w) => [w.engine, budgetLabel(w.budget), String(w.runs), n4(w.msPerStep), w.hours === null ? "-" : fmt(w.hours, 3), w.machines.join("; ") || "-", w.loadavg === null ? "-" : fmt(w.loadavg, 3), w.from ?? "-", w.to ?? "-"]),
  );
  const edges = loaded.flatMap((l, i) =>
    edgeNotes(l.rows.filter((r) => r.phase === "grid").map((r) => ({ budget: r.budget, variant: r.variant, shape: r.shape, params: r.params, loss: r.loss }))).map((n) => `- ${l.rows[0]?.engine ?? dirs[i]}: ${edgeLine(n)}`),
  );
  const mod = optima.filter((o) => o.variant === "mod");
  const gapMd = md(
    ["engine", "budget", "shape", "top-k loss (mean)", "causal loss - top-k (mean)", "predictor accuracy (mean)"],
    mod.map((o) => [o.engine, budgetLabel(o.budget), shapeLabel(o.shape), n4(o.mean), n4(o.gap), o.accuracy === null ? "-" : fmt(o.accuracy, 3)]),
  );
  // Each sweep's record, its base config as a --config file, and the command that reruns it.
  const reproduce = dirs.map((d, i) => {
    const name = `${loaded[i]?.rows[0]?.engine ?? "sweep"}-${i}`;
    copyFileSync(join(resolve(d), "sweep.json"), join(out, "configs", `${name}-sweep.json`));
    const rec = JSON.parse(readFileSync(join(resolve(d), "sweep.json"), "utf8")) as { spec: SweepSpec; base: unknown };
    writeAtomic(join(out, "configs", `${name}-base.json`), JSON.stringify(rec.base, null, 2) + "\n");
    return `mixdepth ${sweepArgs(rec.spec, `${outDir}/configs/${name}-base.json`, loaded[i]?.rows[0]?.engine ?? "tfjs", d).join(" ")}`;
  });

  const readme = [
    "# isoFLOP study: dense vs Mixture-of-Depths",
    "",
    "Generated by `mixdepth sweep-report " + dirs.join(" ") + " --out " + outDir + "` from the sweeps' run folders; do not edit by hand (rerun the command).",
    "Every number below is a final top-k validation loss (nats/token) unless its column says otherwise; std is the sample standard deviation over seeds.",
    "",
    "## isoFLOP curves and optima",
    "",
    ...sections.map((s) => s + "\n"),
    "## Optima (mean, spread, per seed)",
    "",
    optimaMd,
    "",
    "## Paired seed differences (a - b at the same seed; negative: a is better)",
    "",
    diffMd,
    "",
    "## Cross-engine agreement (smallest budget both engines ran)",
    "",
    "agree: the same optimum shape and |difference| <= spread, spread = sqrt(std_a^2 + std_b^2) (a single seed counts 0).",
    "",
    crossMd,
    "",
    "## Causal routing of the MoD optima",
    "",
    gapMd,
    "",
    "## Wall time per step, machine and load",
    "",
    wallMd,
    "",
    "## Grid edges",
    "",
    edges.length ? edges.join("\n") : "No variant's optimum is the largest or smallest model of its grid.",
    "",
    "## Reproduce",
    "",
    "Each sweep again (finished runs are skipped; add `--budget <b>` for one budget, `--hours <h>` for one sitting, `--jobs 2` with the torch engine), then this report:",
    "",
    "```sh",
    ...reproduce,
    `mixdepth sweep-report ${dirs.join(" ")} --out ${outDir}`,
    "```",
    "",
    "## Files",
    "",
    "- `results.csv`: every finished run (engine, budget, variant, shape, seed, losses, ms/step, machine, load).",
    "- `configs/`: each sweep's `sweep.json` (the spec and the base config; `mixdepth sweep --budget <b>` with the same flags reproduces a budget).",
    "",
  ].join("\n");
  const readmePath = join(out, "README.md");
  const csvPath = join(out, "results.csv");
  writeAtomic(
    csvPath,
    toCsv(
      ["engine", "budget", "variant", "phase", "d_model", "n_layers", "seed", "params", "steps", "val_loss_topk", "val_loss_causal", "causal_accuracy", "ms_per_step", "machine", "loadavg_1m", "started", "ended"],
      rows.map((r) => [r.engine, r.budget, r.variant, r.phase, r.shape.dModel, r.shape.nLayers, r.seed, r.params, r.steps, r.loss, r.causal, r.accuracy, r.msPerStep, r.machine, r.loadavg, r.started, r.ended]),
    ),
  );
  writeAtomic(readmePath, readme);
  return { readme: readmePath, csv: csvPath, svgs };
}
