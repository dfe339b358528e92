// report.html for one run (and its standalone SVG plots), built from metrics.jsonl alone so
// it can be regenerated after the fact.
import { join } from "node:path";
import { writeAtomic } from "./atomic.js";
import { readMetrics, type EvalRecord, type TrainRecord } from "./metrics.js";
import { fmt, lineChart, reportHtml, smooth, type Series, type Table } from "./report.js";

export interface RunCurves {
  name: string;
  train: TrainRecord[];
  evals: EvalRecord[];
  backend: string;
  config: unknown;
  flopsPerStep: number;
  forwardFlopsPerSequence: number;
  paramCount: number;
}

export function runCurves(runDir: string, name: string): RunCurves {
  const records = readMetrics(join(runDir, "metrics.jsonl"));
  const starts = records.filter((r) => r.type === "start");
  const start = starts[starts.length - 1];
  // Later records win (a resumed run rewrote the steps after its checkpoint).
  const byStep = <T extends { step: number }>(rs: T[]) => [...new Map(rs.map((r) => [r.step, r])).values()].sort((a, b) => a.step - b.step);
  return {
    name,
    train: byStep(records.filter((r): r is TrainRecord => r.type === "train")),
    evals: byStep(records.filter((r): r is EvalRecord => r.type === "eval")),
    backend: start?.backend ?? "?",
    config: start?.config,
    flopsPerStep: start?.flopsPerStep ?? Number.NaN,
    forwardFlopsPerSequence: start?.forwardFlopsPerSequence ?? Number.NaN,
    paramCount: start?.paramCount ?? Number.NaN,
  };
}

/** Loss-vs-step and loss-vs-FLOPs charts for one or more runs (side by side for compare). */
export function lossCharts(runs: RunCurves[]): { step: string; flops: string } {
  const window = (r: RunCurves) => Math.max(1, Math.round(r.train.length / 50));
  const trainStep = (r: RunCurves): Series => ({ name: `${r.name} train`, points: smooth(r.train.map((x) => [x.step, x.loss]), window(r)) });
  const trainFlops = (r: RunCurves): Series => ({ name: `${r.name} train`, points: smooth(r.train.map((x) => [x.flops, x.loss]), window(r)) });
  const val = (r: RunCurves, x: "step" | "flops"): Series[] => [
    { name: `${r.name} val top-k`, points: r.evals.map((e) => [e[x], e.topk.loss]) },
    ...(r.evals.some((e) => e.causal) ? [{ name: `${r.name} val causal`, points: r.evals.filter((e) => e.causal).map((e) => [e[x], e.causal!.loss] as [number, number]) }] : []),
  ];
  const step = lineChart(runs.flatMap((r) => [trainStep(r), ...(runs.length === 1 ? val(r, "step") : [])]), {
    title: "loss vs step (train, moving average)" + (runs.length === 1 ? "; validation" : ""),
    xLabel: "step",
    yLabel: "loss (nats/token)",
  });
  const flops = lineChart(runs.flatMap((r) => (runs.length === 1 ? [trainFlops(r), ...val(r, "flops")] : [trainFlops(r), val(r, "flops")[0] as Series])), {
    title: "loss vs training FLOPs",
    xLabel: "training FLOPs",
    yLabel: "loss (nats/token)",
  });
  return { step, flops };
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

export function writeRunReport(runDir: string): string {
  const r = runCurves(runDir, "run");
  const charts = lossCharts([r]);
  writeAtomic(join(runDir, "loss-vs-step.svg"), charts.step);
  writeAtomic(join(runDir, "loss-vs-flops.svg"), charts.flops);
  const last = r.evals[r.evals.length - 1];
  const lastTrain = r.train[r.train.length - 1];
  const ms = r.train.length ? r.train.reduce((a, x) => a + x.msPerStep, 0) / r.train.length : Number.NaN;
  const tables: Table[] = [
    {
      title: "evaluations",
      head: ["step", "training FLOPs", "val loss top-k", "bpb top-k", "val loss causal", "bpb causal", "eval tokens/s"],
      rows: r.evals.map((e) => [String(e.step), e.flops, e.topk.loss, e.topk.bpb, e.causal?.loss ?? "-", e.causal?.bpb ?? "-", e.tokensPerSec]),
    },
  ];
  const rt = routingTable(r);
  if (rt) tables.push(rt);
  const html = reportHtml(
    "mixdepth training run",
    [
      `Run folder: ${runDir}`,
      `Backend: ${r.backend}`,
      `Parameters: ${r.paramCount}; training FLOPs per step: ${fmt(r.flopsPerStep)}; forward FLOPs per sequence: ${fmt(r.forwardFlopsPerSequence)}`,
      `Steps: ${lastTrain?.step ?? 0}; mean ${fmt(ms)} ms/step; final train loss ${lastTrain ? fmt(lastTrain.loss, 4) : "-"}; final val loss (top-k) ${last ? fmt(last.topk.loss, 4) : "-"}`,
      `Config: ${JSON.stringify(r.config)}`,
    ],
    [charts.step, charts.flops],
    tables,
  );
  const path = join(runDir, "report.html");
  writeAtomic(path, html);
  return path;
}
