// Self-contained reports: line charts as inline SVG (no scripts, no CDN, opens offline) and an
// HTML page with the curves, tables of evaluations and routing statistics, and the per-token
// depth view (text coloured by how many blocks processed each token).

export interface Series {
  name: string;
  points: [number, number][];
  /** Stroke colour; default: the palette by series index. */
  color?: string;
  /** SVG stroke-dasharray, e.g. "5 3". */
  dash?: string;
  /** Draw a dot per point (with a hover title): for sparse series such as evaluations. */
  markers?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  width?: number;
  height?: number;
}

export const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];

export function escapeHtml(s: string): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);
}

/** Short number: 1.23e12, 0.0123, 4567. */
export function fmt(v: number, digits = 3): string {
  // Values come from files a user may have edited: a non-number prints as NaN, never as its text.
  if (typeof v !== "number") return "NaN";
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(digits - 1);
  return Number(v.toPrecision(digits)).toString();
}

/**
 * About n round tick values in [lo, hi]. Counted by index, not by adding the step, so a step
 * below the values' precision (two values one ulp apart) cannot loop forever; at most 2n + 2.
 */
function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo) || !Number.isFinite(hi - lo)) return Number.isFinite(lo) ? [lo] : [];
  const step0 = (hi - lo) / n;
  const mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0;
  const first = Math.ceil(lo / step);
  const out: number[] = [];
  for (let i = 0; i <= 2 * n + 1; i++) {
    const t = Number(((first + i) * step).toPrecision(12));
    if (t > hi + step * 1e-9) break;
    if (out[out.length - 1] !== t) out.push(t);
  }
  return out;
}

/** [min, max] of xs without spreading them into arguments (a long run has millions of points). */
function extent(xs: number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of xs) {
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  return [lo, hi];
}

/**
 * A line chart as a standalone SVG document (also valid inline in HTML). The legend sits
 * below the plot, so it never hides a curve; evaluation-like series get dots with titles.
 */
export function lineChart(series: Series[], o: ChartOptions): string {
  const W = o.width ?? 640;
  const m = { l: 64, r: 16, t: 32, b: 48 };
  const plotH = (o.height ?? 360) - m.t - m.b;
  // Legend entries flow left to right at their text's width (about 6.5 px per character at
  // 11 px) and wrap at the chart's right edge.
  const slots: [number, number][] = [];
  let [cx, row] = [m.l, 0];
  for (const s of series) {
    const w = Math.max(120, 36 + s.name.length * 6.5);
    if (cx > m.l && cx + w > W - m.r) [cx, row] = [m.l, row + 1];
    slots.push([cx, row]);
    cx += w;
  }
  const legendRows = series.length ? row + 1 : 0;
  const H = m.t + plotH + m.b + legendRows * 16 + (legendRows ? 6 : 0);
  const bottom = m.t + plotH;
  const tx = (x: number) => (o.logX ? Math.log10(Math.max(x, 1e-300)) : x);
  const finite = (p: [number, number]) => Number.isFinite(tx(p[0])) && Number.isFinite(p[1]);
  const pts = series.flatMap((s) => s.points).filter(finite);
  const xs = pts.map(([x]) => tx(x));
  const ys = pts.map(([, y]) => y);
  let [x0, x1] = xs.length ? extent(xs) : [0, 1];
  let [y0, y1] = ys.length ? extent(ys) : [0, 1];
  // A span below float precision (values a few ulps apart) is drawn as flat.
  const flat = (a: number, b: number) => !(b - a > Math.max(Math.abs(a), Math.abs(b)) * 1e-12);
  if (flat(x0, x1)) [x0, x1] = [x0 - Math.max(Math.abs(x0) * 0.1, 1), x1 + Math.max(Math.abs(x1) * 0.1, 1)];
  if (flat(y0, y1)) [y0, y1] = [y0 - Math.max(Math.abs(y0) * 0.1, 1e-9), y1 + Math.max(Math.abs(y1) * 0.1, 1e-9)];
  const pad = (y1 - y0) * 0.05;
  [y0, y1] = [y0 - pad, y1 + pad];
  const px = (x: number) => m.l + ((tx(x) - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number) => bottom - ((y - y0) / (y1 - y0)) * plotH;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${escapeHtml(o.title)}</text>`);
  for (const t of ticks(y0, y1)) {
    const y = py(t).toFixed(1);
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y}" y2="${y}" stroke="#eee"/><text x="${m.l - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`);
  }
  for (const t of ticks(x0, x1)) {
    const xv = o.logX ? Math.pow(10, t) : t;
    const x = px(xv).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${m.t}" y2="${bottom}" stroke="#eee"/><text x="${x}" y="${bottom + 16}" text-anchor="middle">${fmt(xv)}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${plotH}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${bottom + 34}" text-anchor="middle">${escapeHtml(o.xLabel)}${o.logX ? " (log scale)" : ""}</text>`);
  parts.push(`<text transform="translate(14 ${(m.t + bottom) / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(o.yLabel)}</text>`);
  series.forEach((s, i) => {
    const c = escapeHtml(s.color ?? (COLORS[i % COLORS.length] as string));
    const p = s.points.filter(finite);
    const dash = s.dash ? ` stroke-dasharray="${escapeHtml(s.dash)}"` : "";
    const d = p.map(([x, y], j) => `${j ? "L" : "M"}${px(x).toFixed(1)} ${py(y).toFixed(1)}`).join("");
    if (d) parts.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="1.5"${dash}/>`);
    if (s.markers) {
      for (const [x, y] of p) parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${c}"><title>${escapeHtml(s.name)}: ${fmt(y, 4)} at ${fmt(x)}</title></circle>`);
    }
    const [lx, slotRow] = slots[i] as [number, number];
    const ly = bottom + 52 + slotRow * 16;
    parts.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${c}" stroke-width="2"${dash}/>`);
    if (s.markers) parts.push(`<circle cx="${lx + 9}" cy="${ly - 4}" r="3" fill="${c}"/>`);
    parts.push(`<text x="${lx + 24}" y="${ly}">${escapeHtml(s.name)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n");
}

/** Moving average over `window` points (for noisy per-step training loss). */
export function smooth(points: [number, number][], window: number): [number, number][] {
  if (window <= 1) return points;
  const out: [number, number][] = [];
  let sum = 0;
  points.forEach(([x, y], i) => {
    sum += y;
    if (i >= window) sum -= (points[i - window] as [number, number])[1];
    out.push([x, sum / Math.min(i + 1, window)]);
  });
  return out;
}

export interface Table {
  title: string;
  head: string[];
  rows: (string | number)[][];
}

export function tableHtml(t: Table): string {
  const cell = (v: string | number) => (typeof v === "number" ? fmt(v, 4) : escapeHtml(String(v)));
  return `<h2>${escapeHtml(t.title)}</h2>\n<table><thead><tr>${t.head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead><tbody>${t.rows
    .map((r) => `<tr>${r.map((c) => `<td>${cell(c)}</td>`).join("")}</tr>`)
    .join("")}</tbody></table>`;
}

/** A titled block of raw HTML placed after the charts (e.g. the depth view). */
export interface Section {
  title: string;
  html: string;
}

/** A complete offline HTML page: inline CSS and SVG, no scripts, no external resources. */
export function reportHtml(title: string, intro: string[], charts: string[], tables: Table[], sections: Section[] = []): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;max-width:1340px;margin:24px auto;padding:0 16px;color:#222}
.charts{display:flex;flex-wrap:wrap;gap:12px}table{border-collapse:collapse;margin:8px 0 20px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}
p{margin:4px 0;overflow-wrap:anywhere}code{background:#f4f4f4;padding:1px 4px}
.depth{font-family:monospace;font-size:14px;line-height:1.9;white-space:pre-wrap;border:1px solid #ddd;padding:8px}
.depth span{padding:1px 0}.key span{display:inline-block;min-width:2.2em;text-align:center;font-family:monospace;margin-right:2px}</style></head>
<body><h1>${escapeHtml(title)}</h1>
${intro.map((l) => `<p>${escapeHtml(l)}</p>`).join("\n")}
<div class="charts">${charts.join("\n")}</div>
${sections.map((s) => `<h2>${escapeHtml(s.title)}</h2>\n${s.html}`).join("\n")}
${tables.map(tableHtml).join("\n")}
</body></html>
`;
}

/**
 * A CSV document (RFC 4180 quoting); numbers at full precision, missing values empty. Text
 * that a spreadsheet would run as a formula (starting with = + - @, tab or CR) gets a leading
 * apostrophe (OWASP's advice on CSV injection); numbers are written as numbers.
 */
export function toCsv(head: string[], rows: (string | number | null | undefined)[][]): string {
  const cell = (v: string | number | null | undefined) => {
    if (v === null || v === undefined || (typeof v === "number" && !Number.isFinite(v))) return "";
    const s = typeof v === "number" ? String(v) : String(v).replace(/^[=+\-@\t\r]/, "'$&");
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [head, ...rows].map((r) => r.map(cell).join(",")).join("\n") + "\n";
}
