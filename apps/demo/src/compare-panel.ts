// Dense vs MoD, side by side: measured decode time per token (each step's wall time, drawn
// as a small line chart) and FLOPs per decode step from @mixdepth/flops-accounting at the
// routed fraction the run realized. Without a dense checkpoint the dense column shows the
// FLOPs of the same architecture with routing off, and no time. Routers count what their kind
// declares (@mixdepth/router's registry: the stochastic control costs nothing).
import { type ResolvedModelConfig } from "@mixdepth/core";
import { denseCounterpart, paramCounts, samplingFlopsPerToken } from "@mixdepth/flops-accounting";
import { registerBuiltinRouters, routerCost } from "@mixdepth/router";
import { el } from "./routing-map.js";

export interface CompareRun {
  label: string;
  config: ResolvedModelConfig;
  /** Measured ms per decode step; empty when not run. */
  ms: number[];
  /** Mean realized routed fraction over the routed blocks (ignored for dense configs). */
  routedFraction: number;
  /** Context position of the first generated token (the prompt length). */
  startPosition: number;
  /** Checkpoint loaded (false: analytic only). */
  measured: boolean;
}

export function median(xs: readonly number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** The declared cost of a config's routers (the built-in kinds are registered first; idempotent). */
function declaredCost(config: ResolvedModelConfig) {
  registerBuiltinRouters();
  return { routerCost: routerCost(config) };
}

/** Mean expected FLOPs per decode step over the run's positions. */
export function flopsPerToken(run: Pick<CompareRun, "config" | "routedFraction" | "startPosition">, steps: number): number {
  const n = Math.max(1, steps);
  const routed = run.config.routing.blocks.length > 0;
  const cost = declaredCost(run.config);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const position = Math.min(run.startPosition + i, run.config.contextLength - 1);
    total += samplingFlopsPerToken(run.config, { position, ...cost, ...(routed ? { routedFraction: run.routedFraction } : {}) }).perToken;
  }
  return total / n;
}

function si(x: number): string {
  if (!Number.isFinite(x)) return "–";
  const units: [number, string][] = [[1e9, "G"], [1e6, "M"], [1e3, "k"]];
  for (const [v, u] of units) if (Math.abs(x) >= v) return `${(x / v).toFixed(2)} ${u}`;
  return x.toFixed(0);
}

function sparkline(series: readonly { ms: readonly number[]; cls: string }[]): SVGSVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const w = 360;
  const h = 80;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("class", "spark");
  svg.setAttribute("role", "img");
  const max = Math.max(1e-9, ...series.flatMap((s) => s.ms));
  const n = Math.max(2, ...series.map((s) => s.ms.length));
  for (const s of series) {
    if (!s.ms.length) continue;
    const pts = s.ms.map((v, i) => `${((i / (n - 1)) * (w - 4) + 2).toFixed(1)},${(h - 2 - (v / max) * (h - 4)).toFixed(1)}`);
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", pts.join(" "));
    line.setAttribute("class", s.cls);
    svg.append(line);
  }
  const title = document.createElementNS(ns, "title");
  title.textContent = `decode time per token, ms (max ${max.toFixed(1)} ms)`;
  svg.append(title);
  return svg;
}

/** Renders the panel into `host` (replacing its content). */
export function renderCompare(host: HTMLElement, mod: CompareRun, dense: CompareRun): void {
  const steps = Math.max(mod.ms.length, dense.ms.length, 1);
  const rows: [string, (r: CompareRun) => string][] = [
    ["parameters", (r) => si(paramCounts(r.config, declaredCost(r.config)).total)],
    ["MoD blocks", (r) => (r.config.routing.blocks.length ? `${r.config.routing.blocks.join(", ")} at ${(100 * r.config.routing.capacity).toFixed(1)} %` : "none")],
    ["routed fraction (realized)", (r) => (r.config.routing.blocks.length ? `${(100 * r.routedFraction).toFixed(1)} %` : "–")],
    ["FLOPs per token (decode, expected)", (r) => si(flopsPerToken(r, steps))],
    ["median ms per token", (r) => (r.ms.length ? median(r.ms).toFixed(2) : r.measured ? "not run yet" : "load a dense checkpoint")],
    ["tokens timed", (r) => String(r.ms.length)],
  ];
  const table = el("table", "compare");
  const cap = el("caption", undefined, "Decode cost per generated token");
  table.append(cap);
  const head = table.createTHead().insertRow();
  head.append(el("th", undefined, ""), el("th", "mod", mod.label), el("th", "dense", dense.label));
  for (const th of head.cells) th.setAttribute("scope", "col");
  const body = table.createTBody();
  for (const [name, f] of rows) {
    const tr = body.insertRow();
    const th = el("th", undefined, name);
    th.setAttribute("scope", "row");
    tr.append(th, el("td", undefined, f(mod)), el("td", undefined, f(dense)));
  }
  const fMod = flopsPerToken(mod, steps);
  const fDense = flopsPerToken(dense, steps);
  const ratio = el("p", "ratio");
  ratio.dataset.flopsRatio = String(fMod / fDense);
  const tm = median(mod.ms);
  const td = median(dense.ms);
  ratio.textContent =
    `MoD / dense FLOPs per token: ${(fMod / fDense).toFixed(3)}` +
    (mod.ms.length && dense.ms.length ? `; measured time ratio: ${(tm / td).toFixed(3)}` : "");
  const chart = el("figure", "chart");
  const svg = sparkline([
    { ms: mod.ms, cls: "mod" },
    { ms: dense.ms, cls: "dense" },
  ]);
  chart.append(svg, el("figcaption", undefined, `Decode time per token (ms): ${mod.label} (solid) and ${dense.label} (dashed).`));
  const shape = (c: ResolvedModelConfig) => `${c.family} L=${c.nLayers} d=${c.dModel} heads=${c.nHeads} ctx=${c.contextLength} V=${c.vocabSize}`;
  const nodes: Node[] = [table, ratio, chart];
  if (shape(mod.config) !== shape(dense.config)) {
    const warn = el("p", "error", `The two checkpoints differ in shape (${shape(mod.config)} vs ${shape(dense.config)}): this is not a like-for-like comparison.`);
    nodes.splice(1, 0, warn);
  }
  host.dataset.modMs = JSON.stringify(mod.ms.map((x) => +x.toFixed(3)));
  host.dataset.denseMs = JSON.stringify(dense.ms.map((x) => +x.toFixed(3)));
  host.replaceChildren(...nodes);
}

/** The analytic dense run of an MoD config (no checkpoint). */
export function analyticDense(config: ResolvedModelConfig, startPosition: number): CompareRun {
  return { label: "dense (same shape, analytic)", config: denseCounterpart(config), ms: [], routedFraction: 1, startPosition, measured: false };
}
