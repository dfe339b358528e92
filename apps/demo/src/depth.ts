// Per-token depth (docs/method.md section 2, the paper's figure of text coloured by depth):
// how many blocks processed each token. A dense block processes every token; a routed
// block only the tokens its router chose, so a token's depth runs from the number of dense
// blocks (it skipped every routed one) to the number of blocks (it took every one). These
// pure functions turn one token's routing cells (the sampler's trace, one cell per block)
// into its depth, the blocks behind it, and a colour on a scale read from the model's own
// blocks, so the page works for any depth, width or family of checkpoint.
import type { MapBlock, MapCell } from "./routing-map.js";

/** The depths a token of this model can have: dense blocks only .. every block. */
export interface DepthScale {
  min: number;
  max: number;
}

export function depthScale(blocks: readonly MapBlock[]): DepthScale {
  return { min: blocks.filter((b) => !b.routed).length, max: blocks.length };
}

/** Blocks that processed the token (block indices, in block order). */
export function processedBlocks(blocks: readonly MapBlock[], cells: readonly MapCell[]): number[] {
  if (cells.length !== blocks.length) throw new Error(`depth: ${cells.length} cells for a model of ${blocks.length} blocks`);
  return blocks.filter((_, i) => cells[i]?.processed).map((b) => b.index);
}

/** How many blocks processed the token. */
export function tokenDepth(blocks: readonly MapBlock[], cells: readonly MapCell[]): number {
  return processedBlocks(blocks, cells).length;
}

/** Position of `depth` on the scale, 0 (shallowest possible) .. 1 (every block); 1 when the model has no routed block. */
export function depthLevel(depth: number, scale: DepthScale): number {
  if (!Number.isInteger(depth) || depth < scale.min || depth > scale.max) {
    throw new RangeError(`depth: ${depth} is outside this model's range ${scale.min}..${scale.max}`);
  }
  return scale.max === scale.min ? 1 : (depth - scale.min) / (scale.max - scale.min);
}

type Rgb = readonly [number, number, number];
/** Shallow end: pale amber (the token skipped every routed block). */
export const SHALLOW: Rgb = [254, 240, 200];
/** Deep end: the map's blue (the token went through every block). */
export const DEEP: Rgb = [12, 92, 172];

export interface DepthStyle {
  /** Background, `rgb(r, g, b)`: SHALLOW..DEEP, linear in the depth level. */
  background: string;
  /** Text colour readable on that background. */
  color: string;
  /** CSS class: `depth-min`, `depth-max`, or `depth-mid` in between. */
  className: string;
}

export function depthStyle(depth: number, scale: DepthScale): DepthStyle {
  const t = depthLevel(depth, scale);
  const [r, g, b] = SHALLOW.map((lo, i) => Math.round(lo + ((DEEP[i] as number) - lo) * t)) as [number, number, number];
  // Relative luminance (sRGB weights, no gamma: enough to pick black or white text).
  const light = 0.2126 * r + 0.7152 * g + 0.0722 * b > 140;
  const className = t === 1 ? "depth-max" : t === 0 ? "depth-min" : "depth-mid";
  return { background: `rgb(${r}, ${g}, ${b})`, color: light ? "#1b1f24" : "#ffffff", className };
}

export interface LegendEntry {
  depth: number;
  label: string;
  style: DepthStyle;
}

/** One legend entry per depth the model allows, shallowest first. */
export function depthLegend(scale: DepthScale): LegendEntry[] {
  const out: LegendEntry[] = [];
  for (let d = scale.min; d <= scale.max; d++) {
    const note = d === scale.max ? "every block" : d === scale.min ? "dense blocks only, every routed block skipped" : `${d - scale.min} of ${scale.max - scale.min} routed blocks`;
    out.push({ depth: d, label: `${d} of ${scale.max} blocks (${note})`, style: depthStyle(d, scale) });
  }
  return out;
}

/** Hover / focus text of one token: its depth and the blocks that processed and skipped it. */
export function describeDepth(label: string, position: number, blocks: readonly MapBlock[], cells: readonly MapCell[] | null): string {
  const where = `token ${JSON.stringify(label)} (position ${position})`;
  if (!cells) return `${where}: sampled last, not fed back to the model yet, so no block has processed it`;
  const took = processedBlocks(blocks, cells);
  const skipped = blocks.map((b) => b.index).filter((i) => !took.includes(i));
  const list = (xs: number[]) => (xs.length ? xs.join(", ") : "none");
  return `${where}: depth ${took.length} of ${blocks.length}; processed by blocks ${list(took)}; skipped blocks ${list(skipped)}`;
}
