// What a router returns is checked on the host before the block uses it. A custom router (a
// plugin) that returns duplicate, descending or out-of-range positions, the wrong k, scores of
// the wrong shape or a causal decision of the wrong length would otherwise be used as it is
// (a duplicate position double-counts a token in the scatter) or fail deep inside a kernel as
// an "internal error". The decisions are host arrays already (router.ts), so the checks cost
// one pass over B * S numbers and no readback. Errors name the router kind and the block.
import * as tf from "@tensorflow/tfjs-core";
import type { CausalRouteResult, RouteResult } from "@mixdepth/router";

/** A router broke its contract (packages/router/src/router.ts); the message names kind and block. */
export class RouterOutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RouterOutputError";
  }
}

const shapeOf = (t: unknown) => (t instanceof tf.Tensor ? `[${t.shape.join(", ")}]` : JSON.stringify(typeof t));
const isLen = (a: unknown, n: number) => ArrayBuffer.isView(a) && (a as unknown as ArrayLike<number>).length === n;

function checkScores(r: { scores: unknown; hostScores: unknown }, fail: (m: string) => never, b: number, s: number): void {
  const t = r.scores;
  if (!(t instanceof tf.Tensor) || t.rank !== 2 || t.shape[0] !== b || t.shape[1] !== s || t.dtype !== "float32") {
    fail(`scores must be a float32 tensor [${b}, ${s}] (got ${t instanceof tf.Tensor ? `${t.dtype} ` : ""}${shapeOf(t)})`);
  }
  if (!isLen(r.hostScores, b * s)) fail(`hostScores must hold ${b * s} numbers (B * S, row-major; got ${ArrayBuffer.isView(r.hostScores) ? (r.hostScores as unknown as ArrayLike<number>).length : typeof r.hostScores})`);
}

/** Every tensor a router result holds (to free them when the result is refused). */
export function resultTensors(r: unknown): tf.Tensor[] {
  if (r === null || typeof r !== "object") return [];
  const o = r as { scores?: unknown; auxLosses?: unknown };
  const aux = o.auxLosses !== null && typeof o.auxLosses === "object" ? Object.values(o.auxLosses as object) : [];
  return [o.scores, ...aux].filter((t): t is tf.Tensor => t instanceof tf.Tensor);
}

/**
 * Throws RouterOutputError unless `r` is a valid top-k result for x [b, s]: positions [b * k]
 * integers in [0, s), strictly ascending within each row; scores [b, s]; aux losses scalars.
 */
export function checkRouteResult(r: RouteResult, kind: string, block: number, b: number, s: number, k: number): void {
  const fail = (m: string): never => {
    throw new RouterOutputError(`block ${block}: the "${kind}" router's route(x, k = ${k}) ${m}`);
  };
  if (r === null || typeof r !== "object") fail(`returned ${JSON.stringify(r)}, not a RouteResult`);
  checkScores(r, fail, b, s);
  const p = r.positions as unknown;
  if (!ArrayBuffer.isView(p)) fail(`positions must be an Int32Array of ${b} x ${k} (got ${typeof p})`);
  const pos = p as ArrayLike<number>;
  if (pos.length !== b * k) fail(`returned ${pos.length} positions; expected ${b} x ${k} = ${b * k} (k tokens per sequence)`);
  for (let row = 0; row < b; row++) {
    for (let j = 0; j < k; j++) {
      const v = pos[row * k + j] as number;
      if (!Number.isInteger(v) || v < 0 || v >= s) fail(`returned position ${v} in sequence ${row}; positions must be integers in [0, ${s})`);
      if (j > 0 && v <= (pos[row * k + j - 1] as number)) {
        fail(`returned positions ${pos[row * k + j - 1]}, ${v} in sequence ${row}; each sequence's positions must be strictly ascending (no duplicates)`);
      }
    }
  }
  const aux = r.auxLosses as unknown;
  if (aux === null || typeof aux !== "object") fail(`auxLosses must be an object of scalars (got ${JSON.stringify(aux)})`);
  for (const [name, t] of Object.entries(aux as object)) {
    if (!(t instanceof tf.Tensor) || t.rank !== 0) fail(`auxLosses.${name} must be a scalar tensor (got ${shapeOf(t)})`);
  }
}

/** Throws RouterOutputError unless `r` is a valid causal decision for x [b, s]: selected 0/1 [b * s], probability [b * s], scores [b, s]. */
export function checkCausalResult(r: CausalRouteResult, kind: string, block: number, b: number, s: number): void {
  const fail = (m: string): never => {
    throw new RouterOutputError(`block ${block}: the "${kind}" router's routeCausal(x) ${m}`);
  };
  if (r === null || typeof r !== "object") fail(`returned ${JSON.stringify(r)}, not a CausalRouteResult`);
  checkScores(r, fail, b, s);
  const sel = r.selected as unknown;
  if (!isLen(sel, b * s)) fail(`selected must hold ${b * s} decisions (B * S, row-major; got ${ArrayBuffer.isView(sel) ? (sel as unknown as ArrayLike<number>).length : typeof sel})`);
  const bad = Array.prototype.findIndex.call(sel, (v: number) => v !== 0 && v !== 1);
  if (bad >= 0) fail(`selected[${bad}] is ${(sel as ArrayLike<number>)[bad]}; decisions must be 0 or 1`);
  if (!isLen(r.probability, b * s)) fail(`probability must hold ${b * s} numbers (B * S, row-major)`);
}
