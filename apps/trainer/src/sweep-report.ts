// The sweep's one report (<out>/report.html, results.csv): isoFLOP curves (final validation
// loss vs parameters, one curve per grid variant and budget: the paper's figure 3), the optima
// with seed mean, spread and seed-by-seed differences, loss vs FLOPs of the optima, wall time
// per step, and for MoD optima the causal-vs-top-k loss gap and the causal rule's accuracy.
// Built from the runs' metrics.jsonl alone, so it can be rebuilt after the fact.
import { join } from "node:path";
import { writeAtomic } from "@mixdepth/train/node";
import { COLORS, fmt, lineChart, reportHtml, toCsv, type Series, type Table } from "./report.js";
import { runCurves, type RunCurves } from "./run-report.js";
import { budgetLabel, shapeLabel, type SweepRun, type Variant } from "./sweep-plan.js";

export interface RunResult {
  run: SweepRun;
  curves: RunCurves;
  /** Final top-k validation loss (NaN when the run has no final evaluation). */
  loss: number;
  causal: number | null;
  /** Mean over routed blocks of the causal rule's accuracy against top-k. */
  accuracy: number | null;
  msPerStep: number;
}

const VARIANTS: Variant[] = ["dense", "mod", "stochastic", "dense-half", "stochastic-noise"];

function result(run: SweepRun): RunResult {
  const curves = runCurves(run.valid.config.output.dir, run.name);
  const last = curves.evals.filter((e) => e.step === run.steps).pop();
  const acc = last?.routing.length ? last.routing.reduce((a, l) => a + l.accuracy, 0) / last.routing.length : null;
  const ms = curves.train.length ? curves.train.reduce((a, t) => a + t.msPerStep, 0) / curves.train.length : Number.NaN;
  return { run, curves, loss: last?.topk.loss ?? Number.NaN, causal: last?.causal?.loss ?? null, accuracy: acc, msPerStep: ms };
}

export function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Sample standard deviation (n - 1); NaN for one value. */
export function std(xs: number[]): number {
  if (xs.length < 2) return Number.NaN;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

/** The runs at each (budget, variant) optimum, by seed: the grid's best shape plus its extra seeds. */
export function optimumSeeds(results: RunResult[]): Map<string, RunResult[]> {
  const out = new Map<string, RunResult[]>();
  for (const r of results.filter((x) => x.run.phase === "seeds")) {
    const key = `${r.run.budget}|${r.run.variant}`;
    out.set(key, [...(out.get(key) ?? []), r]);
  }
  // Seed 0 of a routed/dense optimum is the grid run of the same shape.
  for (const [key, rs] of out) {
    const [b, v] = key.split("|") as [string, Variant];
    if (v === "dense-half") continue;
    const shape = (rs[0] as RunResult).run.shape;
    const g = results.find((x) => x.run.phase === "grid" && x.run.budget === Number(b) && x.run.variant === v && shapeLabel(x.run.shape) === shapeLabel(shape));
    if (g) out.set(key, [g, ...rs]);
  }
  for (const [k, rs] of out) out.set(k, rs.sort((a, b) => a.run.seed - b.run.seed));
  return out;
}

export function writeSweepReport(out: string, runs: SweepRun[], backendLine: string): { html: string; csv: string } {
  const results = runs.map(result);
  const budgets = [...new Set(runs.map((r) => r.budget))].sort((a, b) => a - b);
  const dashes = [undefined, "6 3", "2 2", "8 3 2 3"];
  const style = (v: Variant, bi: number): Partial<Series> => ({ color: COLORS[VARIANTS.indexOf(v)] as string, ...(dashes[bi % dashes.length] ? { dash: dashes[bi % dashes.length] as string } : {}) });

  // isoFLOP curves: final loss vs params over the grid, per variant and budget.
  const iso: Series[] = budgets.flatMap((b, bi) =>
    (["dense", "mod"] as Variant[]).filter((v) => runs.some((r) => r.variant === v && r.phase === "grid" && r.budget === b)).map((v) => ({
      name: `${v} @ ${budgetLabel(b)}`,
      points: results.filter((r) => r.run.phase === "grid" && r.run.budget === b && r.run.variant === v).map((r): [number, number] => [r.run.params, r.loss]).sort((p, q) => p[0] - q[0]),
      markers: true,
      ...style(v, bi),
    })),
  );
  const seeds = optimumSeeds(results);
  const optimaSeries: Series[] = budgets.flatMap((b, bi) =>
    VARIANTS.flatMap((v) => {
      const first = seeds.get(`${b}|${v}`)?.[0];
      return first ? [{ name: `${v} ${shapeLabel(first.run.shape)} @ ${budgetLabel(b)}`, points: first.curves.evals.map((e): [number, number] => [e.flops, e.topk.loss]), markers: true, ...style(v, bi) }] : [];
    }),
  );
  const charts = [
    lineChart(iso, { title: "isoFLOP curves: final validation loss (top-k) vs parameters", xLabel: "parameters", yLabel: "final val loss (nats/token)", logX: true }),
    lineChart(optimaSeries, { title: "validation loss vs training FLOPs of the optima (seed 0)", xLabel: "training FLOPs", yLabel: "val loss (nats/token)" }),
  ];

  const optimaTable: Table = {
    title: "optima: final validation loss over seeds (top-k; mean, standard deviation, each seed)",
    head: ["budget", "variant", "shape", "params", "steps", "seeds", "mean", "std", "min", "max", "by seed", "ms / step", "causal - top-k gap", "causal-rule accuracy"],
    rows: budgets.flatMap((b) =>
      VARIANTS.flatMap((v) => {
        const rs = seeds.get(`${b}|${v}`);
        if (!rs?.length) return [];
        const losses = rs.map((r) => r.loss);
        const first = rs[0] as RunResult;
        const gaps = rs.filter((r) => r.causal !== null).map((r) => (r.causal as number) - r.loss);
        const accs = rs.filter((r) => r.accuracy !== null).map((r) => r.accuracy as number);
        return [[budgetLabel(b), v, shapeLabel(first.run.shape), String(first.run.params), String(first.run.steps), String(rs.length), mean(losses), std(losses), Math.min(...losses), Math.max(...losses), losses.map((l) => fmt(l, 4)).join(" / "), mean(rs.map((r) => r.msPerStep)), gaps.length ? mean(gaps) : "-", accs.length ? mean(accs) : "-"]];
      }),
    ),
  };
  // Paired by seed: same seed means the same data order, so differences cancel part of the noise.
  const pairs: [Variant, Variant][] = [["mod", "dense"], ["stochastic", "dense"], ["mod", "stochastic"], ["dense-half", "mod"], ["stochastic-noise", "stochastic"]];
  const diffTable: Table = {
    title: "seed-by-seed differences of the optima (final val loss, a - b; negative: a is better)",
    head: ["budget", "a - b", "seeds", "mean", "by seed"],
    rows: budgets.flatMap((b) =>
      pairs.flatMap(([a, c]) => {
        const ra = seeds.get(`${b}|${a}`) ?? [];
        const rc = new Map((seeds.get(`${b}|${c}`) ?? []).map((r) => [r.run.seed, r.loss]));
        const d = ra.filter((r) => rc.has(r.run.seed)).map((r) => r.loss - (rc.get(r.run.seed) as number));
        return d.length ? [[budgetLabel(b), `${a} - ${c}`, String(d.length), mean(d), d.map((x) => fmt(x, 3)).join(" / ")]] : [];
      }),
    ),
  };
  const gridTable: Table = {
    title: "every run",
    head: ["budget", "run", "phase", "params", "steps", "final val loss top-k", "causal", "ms / step"],
    rows: results.map((r) => [budgetLabel(r.run.budget), r.run.name, r.run.phase, String(r.run.params), String(r.run.steps), r.loss, r.causal ?? "-", r.msPerStep]),
  };
  // The MoD variants' routing is the config's (sweep-plan.ts keeps it): say what it was.
  const mod = runs.find((r) => r.variant === "mod");
  const spec = mod?.valid.config.model.routing?.blocks; // "every-other" or a list: one spec, every shape
  const routed = mod ? `${+(mod.valid.model.routing.capacity * 100).toFixed(1)} % capacity, blocks ${typeof spec === "string" ? spec : JSON.stringify(spec)}, ${mod.valid.model.routing.router} router` : "the config's routing";
  const html = reportHtml(
    "mixdepth isoFLOP sweep: dense vs learned MoD vs stochastic routing",
    [
      `Budgets: ${budgets.map((b) => b.toExponential(3)).join(", ")} training FLOPs per run (steps from the isoFLOP planner of @mixdepth/flops-accounting).`,
      `Variants: dense; mod (${routed}); stochastic (the same blocks, top-k of Gaussian noise, r = 1); stochastic-noise, when trained (the Gaussian scores also scale the branch); dense-half (the dense optimum's width at half its depth, same FLOPs).`,
      `Backend: ${backendLine}. Runs: ${out}/<budget>/<run>/ (each with its own report.html).`,
    ],
    charts,
    [optimaTable, diffTable, gridTable],
  );
  const htmlPath = join(out, "report.html");
  const csvPath = join(out, "results.csv");
  writeAtomic(htmlPath, html);
  writeAtomic(
    csvPath,
    toCsv(
      ["budget", "run", "phase", "variant", "d_model", "n_layers", "seed", "params", "steps", "val_loss_topk", "val_loss_causal", "causal_accuracy", "ms_per_step"],
      results.map((r) => [r.run.budget, r.run.name, r.run.phase, r.run.variant, r.run.shape.dModel, r.run.shape.nLayers, r.run.seed, r.run.params, r.run.steps, r.loss, r.causal, r.accuracy, r.msPerStep]),
    ),
  );
  return { html: htmlPath, csv: csvPath };
}
