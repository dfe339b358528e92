// report.html for one run, or several overlaid (`mixdepth report <run> [<run>...]`), built
// from metrics.jsonl (and depth.json, the per-token depth view saved at the end of training)
// so it can be regenerated after the fact; metrics.csv beside it for spreadsheets.
import { basename, join, resolve } from "node:path";
import { writeAtomic } from "@mixdepth/train/node";
import type { DepthView } from "./depth-view.js";
import type { EvalRecord, TrainRecord } from "./metrics.js";
import { readDepthView, readReportMetrics } from "./report-input.js";
import { COLORS, escapeHtml, fmt, lineChart, reportHtml, smooth, toCsv, type Section, type Series, type Table } from "./report.js";

export interface RunCurves {
  name: string;
  train: TrainRecord[];
  evals: EvalRecord[];
  backend: string;
  config: unknown;
  flopsPerStep: number;
  forwardFlopsPerSequence: number;
  paramCount: number;
  depth: DepthView | null;
  /** What was wrong with the files read (invalid records skipped, depth.json left out). */
  problems: string[];
}

export function runCurves(runDir: string, name: string): RunCurves {
  const m = readReportMetrics(join(runDir, "metrics.jsonl"));
  // Later records win (a resumed run rewrote the steps after its checkpoint).
  const byStep = <T extends { step: number }>(rs: T[]) => [...new Map(rs.map((r) => [r.step, r])).values()].sort((a, b) => a.step - b.step);
  const depth = readDepthView(join(runDir, "depth.json"), m.problems);
  return {
    name,
    train: byStep(m.train),
    evals: byStep(m.evals),
    backend: m.start?.backend ?? "?",
    config: m.start?.config,
    flopsPerStep: m.start?.flopsPerStep ?? Number.NaN,
    forwardFlopsPerSequence: m.start?.forwardFlopsPerSequence ?? Number.NaN,
    paramCount: m.start?.paramCount ?? Number.NaN,
    depth,
    problems: m.problems,
  };
}

/** Moving-average window: about 50 points per curve. */
const windowOf = (r: RunCurves) => Math.max(1, Math.round(r.train.length / 50));

/**
 * Series styling: one run colours its curves by kind; several runs colour by run and tell the
 * kinds apart by dash, so an overlay stays readable.
 */
function styler(runs: RunCurves[]) {
  const overlay = runs.length > 1;
  return (runIndex: number, kindIndex: number, name: string, points: [number, number][], extra: Partial<Series> = {}): Series => {
    const r = runs[runIndex] as RunCurves;
    const dashes = [undefined, "6 3", "2 2", "8 3 2 3"];
    return {
      name: overlay ? `${r.name} ${name}` : name,
      points,
      color: COLORS[(overlay ? runIndex : kindIndex) % COLORS.length] as string,
      ...(overlay && dashes[kindIndex % dashes.length] ? { dash: dashes[kindIndex % dashes.length] as string } : {}),
      ...extra,
    };
  };
}

function valSeries(runs: RunCurves[], x: "step" | "flops", kindOffset: number): Series[] {
  const s = styler(runs);
  return runs.flatMap((r, i) => [
    s(i, kindOffset, "val top-k", r.evals.map((e) => [e[x], e.topk.loss]), { markers: true }),
    ...(r.evals.some((e) => e.causal) ? [s(i, kindOffset + 1, "val causal", r.evals.filter((e) => e.causal).map((e) => [e[x], e.causal!.loss] as [number, number]), { markers: true })] : []),
  ]);
}

/** Loss-vs-step and loss-vs-FLOPs charts (train moving average and both validation curves). */
export function lossCharts(runs: RunCurves[]): { step: string; flops: string } {
  const s = styler(runs);
  const train = (x: "step" | "flops") => runs.map((r, i) => s(i, 0, "train", smooth(r.train.map((t) => [t[x], t.loss]), windowOf(r))));
  const step = lineChart([...train("step"), ...valSeries(runs, "step", 1)], { title: "loss vs step (train: moving average; validation: dots)", xLabel: "step", yLabel: "loss (nats/token)" });
  const flops = lineChart([...train("flops"), ...valSeries(runs, "flops", 1)], { title: "loss vs training FLOPs", xLabel: "training FLOPs", yLabel: "loss (nats/token)" });
  return { step, flops };
}

/** Every chart of the run report: losses, validation alone, lr, gradient norm, aux loss, tokens/s, routing. */
export function runCharts(runs: RunCurves[]): string[] {
  const s = styler(runs);
  const { step, flops } = lossCharts(runs);
  const perStep = (name: string, f: (t: TrainRecord) => number, smoothed: boolean) =>
    runs.map((r, i) => {
      const pts = r.train.map((t): [number, number] => [t.step, f(t)]);
      return s(i, 0, name, smoothed ? smooth(pts, windowOf(r)) : pts);
    });
  const charts = [
    step,
    flops,
    lineChart(valSeries(runs, "step", 1), { title: "validation loss: top-k and causal routing", xLabel: "step", yLabel: "loss (nats/token)" }),
    lineChart(perStep("learning rate", (t) => t.lr, false), { title: "learning rate (warmup, cosine decay)", xLabel: "step", yLabel: "learning rate" }),
    lineChart(perStep("gradient norm", (t) => t.gradNorm, true), { title: "global gradient norm before clipping (moving average)", xLabel: "step", yLabel: "L2 norm" }),
    lineChart(
      [
        ...perStep("auxiliary loss, sum (moving average)", (t) => t.aux, true),
        // By name at evaluations (the training step only reads the sum back).
        ...runs.flatMap((r, i) => {
          const names = [...new Set(r.evals.flatMap((e) => Object.keys(e.auxLosses ?? {})))].sort();
          return names.map((n, j) => s(i, j + 1, n, r.evals.filter((e) => e.auxLosses?.[n] !== undefined).map((e): [number, number] => [e.step, e.auxLosses?.[n] as number]), { markers: true }));
        }),
      ],
      { title: "auxiliary losses, weighted: router BCE + predictor BCE", xLabel: "step", yLabel: "loss (nats)" },
    ),
    lineChart(
      // Tokens of this step over its own wall time (tokensPerSec in the log is the running mean).
      perStep("tokens/s", (t) => (t.tokens / t.step / t.msPerStep) * 1000, true),
      { title: "training throughput (moving average)", xLabel: "step", yLabel: "tokens/s" },
    ),
  ];
  const routed = runs.filter((r) => r.evals.some((e) => e.routing.length));
  if (routed.length) {
    const byBlock = (pick: (l: EvalRecord["routing"][number]) => number, withNominal: boolean) =>
      runs.flatMap((r, i) => {
        const layers = [...new Set(r.evals.flatMap((e) => e.routing.map((l) => l.layer)))].sort((a, b) => a - b);
        return layers.flatMap((layer, j) => {
          const pts = (f: (l: EvalRecord["routing"][number]) => number) =>
            r.evals.flatMap((e) => e.routing.filter((l) => l.layer === layer).map((l): [number, number] => [e.step, f(l)]));
          const color = runs.length > 1 ? undefined : (COLORS[j % COLORS.length] as string);
          return [
            { ...s(i, j, `block ${layer}`, pts(pick), { markers: true }), ...(color ? { color } : {}) },
            ...(withNominal && j === 0 ? [{ ...s(i, j, "nominal k/S (top-k)", pts((l) => l.nominalFraction)), color: "#999", dash: "4 4" }] : []),
          ];
        });
      });
    charts.push(
      lineChart(byBlock((l) => l.causalFraction, true), { title: "routed fraction per block (causal rule; top-k routes exactly k/S)", xLabel: "step", yLabel: "fraction of tokens routed" }),
      lineChart(byBlock((l) => l.accuracy, false), { title: "causal rule (predictor or threshold) vs top-k: accuracy per block", xLabel: "step", yLabel: "accuracy" }),
    );
  }
  return charts;
}

export function routingTable(r: RunCurves): Table | null {
  const last = r.evals[r.evals.length - 1];
  if (!last || last.routing.length === 0) return null;
  return {
    title: `${r.name}: routing at step ${last.step} (causal rule vs top-k on the same block input)`,
    head: ["block", "nominal fraction (k/S)", "causal routed fraction", "accuracy", "precision", "recall"],
    rows: last.routing.map((l) => [`block ${l.layer}`, l.nominalFraction, l.causalFraction, l.accuracy, l.precision ?? Number.NaN, l.recall ?? Number.NaN]),
  };
}

/** Background colour for a depth between `lo` (light) and `hi` (dark blue). */
function depthColor(d: number, lo: number, hi: number): string {
  const f = hi > lo ? (d - lo) / (hi - lo) : 1;
  const mix = (a: number, b: number) => Math.round(a + (b - a) * f);
  return `rgb(${mix(247, 33)},${mix(251, 102)},${mix(255, 172)})`;
}

/** The passage as text coloured by how many blocks processed each token, one paragraph per routing mode. */
export function depthSection(v: DepthView, name = ""): Section {
  // depth.json is validated (report-input.ts); every value is escaped here all the same.
  const e = (x: unknown) => escapeHtml(String(x));
  const lo = v.nLayers - v.routedBlocks.length;
  const key = Array.from({ length: v.nLayers - lo + 1 }, (_, i) => lo + i)
    .map((d) => `<span style="background:${depthColor(d, lo, v.nLayers)};color:${d - lo > (v.nLayers - lo) / 2 ? "white" : "black"}">${e(d)}</span>`)
    .join("");
  const label = { topk: "top-k routing (training time: each routed block takes the k highest-scoring tokens of the sequence)", causal: "causal routing (sampling time: each token decided from its own input)" };
  const body = v.modes
    .map((m) => {
      const mean = m.depth.reduce((a, b) => a + b, 0) / Math.max(1, m.depth.length);
      const spans = v.tokens
        .map((t, i) => {
          const d = m.depth[i] as number;
          return `<span style="background:${depthColor(d, lo, v.nLayers)};color:${d - lo > (v.nLayers - lo) / 2 ? "white" : "black"}" title="token ${i}: ${e(d)} of ${e(v.nLayers)} blocks">${escapeHtml(t)}</span>`;
        })
        .join("");
      // MoE blocks: tokens per real expert, and those no expert took (their MLP skipped: the no-op path).
      const experts = (m.experts ?? [])
        .map((x) => `<li>block ${e(x.layer)}: ${x.load.map((n, i) => `expert ${i} ${e(n)}`).join(", ")}; no expert ${e(x.skipped)} of ${e(x.tokens)} tokens</li>`)
        .join("");
      return `<p><b>${escapeHtml(label[m.mode] ?? m.mode)}</b>: mean depth ${fmt(mean)} of ${e(v.nLayers)} blocks</p>\n<div class="depth">${spans}</div>${experts ? `\n<p>Per-expert load (MoE MLPs):</p><ul class="experts">${experts}</ul>` : ""}`;
    })
    .join("\n");
  return {
    title: `${name ? name + ": " : ""}per-token depth on a validation passage (step ${v.step})`,
    html: `<p class="key">Blocks that processed each token (routed blocks: ${v.routedBlocks.length ? e(v.routedBlocks.join(", ")) : "none, a dense model"}): ${key}</p>\n${body}`,
  };
}

/** metrics.csv: one row per training step; evaluation columns filled at evaluation steps. */
export function metricsCsv(runs: RunCurves[]): string {
  const layers = [...new Set(runs.flatMap((r) => r.evals.flatMap((e) => e.routing.map((l) => l.layer))))].sort((a, b) => a - b);
  const auxNames = [...new Set(runs.flatMap((r) => r.evals.flatMap((e) => Object.keys(e.auxLosses ?? {}))))].sort();
  const head = [
    ...(runs.length > 1 ? ["run"] : []),
    "step", "train_loss", "total_loss", "aux_loss", "lr", "grad_norm", "tokens", "training_flops", "ms_per_step", "tokens_per_sec",
    "val_loss_topk", "val_bpb_topk", "val_loss_causal", "val_bpb_causal",
    ...auxNames.map((n) => `eval_${n}`),
    ...layers.flatMap((l) => [`block${l}_causal_fraction`, `block${l}_accuracy`, `block${l}_precision`, `block${l}_recall`]),
  ];
  const rows = runs.flatMap((r) => {
    const evals = new Map(r.evals.map((e) => [e.step, e]));
    const steps = [...new Set([...r.train.map((t) => t.step), ...evals.keys()])].sort((a, b) => a - b);
    const train = new Map(r.train.map((t) => [t.step, t]));
    return steps.map((st) => {
      const t = train.get(st);
      const e = evals.get(st);
      return [
        ...(runs.length > 1 ? [r.name] : []),
        st, t?.loss, t?.total, t?.aux, t?.lr, t?.gradNorm, t?.tokens, t?.flops ?? e?.flops, t?.msPerStep, t?.tokensPerSec,
        e?.topk.loss, e?.topk.bpb, e?.causal?.loss, e?.causal?.bpb,
        ...auxNames.map((n) => e?.auxLosses?.[n]),
        ...layers.flatMap((l) => {
          const x = e?.routing.find((y) => y.layer === l);
          return [x?.causalFraction, x?.accuracy, x?.precision, x?.recall];
        }),
      ];
    });
  });
  return toCsv(head, rows);
}

function evalTable(r: RunCurves, prefix: string): Table {
  return {
    title: `${prefix}evaluations`,
    head: ["step", "training FLOPs", "val loss top-k", "bpb top-k", "val loss causal", "bpb causal", "eval tokens/s"],
    rows: r.evals.map((e) => [String(e.step), e.flops, e.topk.loss, e.topk.bpb, e.causal?.loss ?? "-", e.causal?.bpb ?? "-", e.tokensPerSec]),
  };
}

function summary(r: RunCurves): string {
  const last = r.evals[r.evals.length - 1];
  const lastTrain = r.train[r.train.length - 1];
  const ms = r.train.length ? r.train.reduce((a, x) => a + x.msPerStep, 0) / r.train.length : Number.NaN;
  return `Steps: ${lastTrain?.step ?? 0}; mean ${fmt(ms)} ms/step; final train loss ${lastTrain ? fmt(lastTrain.loss, 4) : "-"}; final val loss top-k ${last ? fmt(last.topk.loss, 4) : "-"}${last?.causal ? `, causal ${fmt(last.causal.loss, 4)}` : ""}`;
}

/**
 * Writes report.html, metrics.csv and the loss SVGs into the run folder. `depth` (computed by
 * the trainer while it still holds the model) is saved as depth.json for later regeneration.
 */
export function writeRunReport(runDir: string, extras: { depth?: DepthView | null } = {}): string {
  if (extras.depth) writeAtomic(join(runDir, "depth.json"), JSON.stringify(extras.depth) + "\n");
  const r = runCurves(runDir, "run");
  const charts = runCharts([r]);
  writeAtomic(join(runDir, "loss-vs-step.svg"), charts[0] as string);
  writeAtomic(join(runDir, "loss-vs-flops.svg"), charts[1] as string);
  writeAtomic(join(runDir, "metrics.csv"), metricsCsv([r]));
  const tables: Table[] = [evalTable(r, "")];
  const rt = routingTable(r);
  if (rt) tables.push(rt);
  const html = reportHtml(
    "mixdepth training run",
    [
      `Run folder: ${runDir}`,
      `Backend: ${r.backend}`,
      `Parameters: ${r.paramCount}; training FLOPs per step: ${fmt(r.flopsPerStep)}; forward FLOPs per sequence: ${fmt(r.forwardFlopsPerSequence)}`,
      summary(r),
      `Metrics: metrics.jsonl (every record) and metrics.csv (one row per step) in the run folder.`,
      `Config: ${JSON.stringify(r.config)}`,
      ...r.problems.map((p) => `Warning: ${p}`),
    ],
    charts,
    tables,
    r.depth ? [depthSection(r.depth)] : [],
  );
  const path = join(runDir, "report.html");
  writeAtomic(path, html);
  return path;
}

/** Run names for an overlay: folder names, made unique with their parent when they clash. */
export function runNames(dirs: string[]): string[] {
  const base = dirs.map((d) => basename(resolve(d)));
  return dirs.map((d, i) => (base.filter((b) => b === base[i]).length > 1 ? `${basename(resolve(d, ".."))}/${base[i]}` : (base[i] as string)));
}

/** One page overlaying several runs (colour per run), and a CSV of all their steps. Returns the paths written. */
export function writeOverlayReport(runDirs: string[], outFile: string): { html: string; csv: string } {
  const names = runNames(runDirs);
  const runs = runDirs.map((d, i) => runCurves(d, names[i] as string));
  runs.forEach((r, i) => {
    if (r.train.length === 0) throw new Error(`${runDirs[i]}: no training records in metrics.jsonl (is it a run folder?)`);
  });
  const tables: Table[] = [
    {
      title: "runs",
      head: ["run", "params", "steps", "training FLOPs", "ms / step", "final val loss top-k", "final val loss causal"],
      rows: runs.map((r) => {
        const e = r.evals[r.evals.length - 1];
        const t = r.train[r.train.length - 1];
        const ms = r.train.reduce((a, x) => a + x.msPerStep, 0) / r.train.length;
        return [r.name, r.paramCount, String(t?.step ?? 0), t?.flops ?? Number.NaN, ms, e?.topk.loss ?? Number.NaN, e?.causal?.loss ?? "-"];
      }),
    },
    ...runs.map(routingTable).filter((x): x is Table => x !== null),
  ];
  const html = reportHtml(
    `mixdepth: ${runs.length} runs overlaid`,
    [...runs.map((r, i) => `${r.name}: ${runDirs[i]} (${r.backend}); ${summary(r)}`), ...runs.flatMap((r) => r.problems.map((p) => `Warning: ${r.name}: ${p}`)), `Metrics of every run: ${basename(outFile).replace(/\.html?$/, "")}.csv beside this page.`],
    runCharts(runs),
    tables,
    runs.filter((r) => r.depth).map((r) => depthSection(r.depth as DepthView, r.name)),
  );
  const csv = outFile.replace(/\.html?$/, "") + ".csv";
  writeAtomic(outFile, html);
  writeAtomic(csv, metricsCsv(runs));
  return { html: outFile, csv };
}
