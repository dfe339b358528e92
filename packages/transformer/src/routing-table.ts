// Per-token depth (docs/method.md section 2, the paper's figure of text coloured by depth):
// the routing traces of one forward pass, which are per routed block (layer-major), turned
// into one column per token with one visit per block of the model (token-major). Dense blocks
// process every token; a routed block the tokens its trace lists. Blocks with an MoE MLP
// (section 6) also say which real experts processed each token. This is the one place that
// reads traces this way: the sampler's decoder and generation, the demo's maps and the
// trainer's depth view all take their columns from here.
import { expertsAt, type ResolvedModelConfig } from "@mixdepth/core";
import type { ExpertTrace, RoutingTrace } from "@mixdepth/mod-block";

/** How one block handled one token (dense blocks always process it). */
export interface BlockVisit {
  layer: number;
  routed: boolean;
  processed: boolean;
  /** Routed blocks: router score r (multiplies the branch when processed). */
  score?: number;
  /** Routed blocks under causal routing: probability behind the decision. */
  probability?: number;
  /** Blocks with an MoE MLP: the real experts that processed the token, ascending ([]: none, the no-op path or a skipped block). */
  experts?: number[];
}

/** One token of a forward pass: its absolute position, its depth and one visit per block, in block order. */
export interface TokenVisits {
  position: number;
  /** Blocks that processed the token: from the number of dense blocks to nLayers. */
  depth: number;
  blocks: BlockVisit[];
}

/** The tokens of the forward pass the traces come from. */
export interface RoutingTableShape {
  /** Tokens per sequence in that pass (S of the [B, S] input). */
  length: number;
  /** Sequences in that pass (B). Default 1. */
  batch?: number;
  /** Absolute position of the first token: the cache's position before a cached call. Default 0. */
  start?: number;
}

/**
 * `traces` (and, for a model with MoE MLPs, `expertTraces`) of one
 * `forward(tokens, { trace: true })` (any routing mode, with or without a cache) -> per
 * sequence, per token, one {@link BlockVisit} per block: [B][S]. Plain arrays;
 * throws a RangeError when the traces do not fit the model or the shape (a routed block
 * without its trace included: a pass without `trace: true` has nothing to tabulate).
 */
export function routingTable(
  model: { readonly config: ResolvedModelConfig },
  traces: readonly RoutingTrace[],
  shape: RoutingTableShape,
  expertTraces: readonly ExpertTrace[] = [],
): TokenVisits[][] {
  const c = model.config;
  const { length, batch = 1, start = 0 } = shape;
  if (!Number.isInteger(length) || length < 1) throw new RangeError(`routingTable: length must be an integer >= 1 (got ${JSON.stringify(length)})`);
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`routingTable: batch must be an integer >= 1 (got ${JSON.stringify(batch)})`);
  if (!Number.isInteger(start) || start < 0) throw new RangeError(`routingTable: start must be an integer >= 0 (got ${JSON.stringify(start)})`);
  const inRange = (p: number) => Number.isInteger(p) && p >= start && p < start + length;
  const byLayer = new Map<number, { trace: RoutingTrace; processed: Set<number>[] }>();
  for (const t of traces) {
    if (!c.layers[t.layer]?.routed) throw new RangeError(`routingTable: a trace of block ${JSON.stringify(t.layer)}, which is not a routed block of this model (routed: ${JSON.stringify(c.routing.blocks)})`);
    if (byLayer.has(t.layer)) throw new RangeError(`routingTable: two traces of block ${t.layer}; pass the traces of one forward pass`);
    if (t.processed.length !== batch || t.scores.length !== batch) {
      throw new RangeError(`routingTable: the trace of block ${t.layer} has ${t.scores.length} sequences, the shape says batch ${batch}`);
    }
    const processed = t.processed.map((row, b) => {
      if ((t.scores[b] as number[]).length !== length) {
        throw new RangeError(`routingTable: the trace of block ${t.layer} scores ${(t.scores[b] as number[]).length} tokens of sequence ${b}, the shape says length ${length}`);
      }
      for (const p of row) {
        if (!inRange(p)) {
          throw new RangeError(`routingTable: block ${t.layer} processed position ${JSON.stringify(p)}, outside this pass's positions ${start}..${start + length - 1}`);
        }
      }
      return new Set(row);
    });
    byLayer.set(t.layer, { trace: t, processed });
  }
  const missing = c.routing.blocks.filter((l) => !byLayer.has(l));
  if (missing.length) throw new RangeError(`routingTable: no trace of routed block${missing.length > 1 ? "s" : ""} ${missing.join(", ")}; pass the traces of forward(tokens, { trace: true })`);
  // Per MoE block, per sequence: position -> the real experts that processed it.
  const experts = new Map<number, Map<number, number[]>[]>();
  for (const t of expertTraces) {
    const e = expertsAt(c, t.layer);
    if (!e) throw new RangeError(`routingTable: an expert trace of block ${JSON.stringify(t.layer)}, which has no MoE MLP in this model (MoE blocks: ${JSON.stringify(c.experts?.blocks ?? [])})`);
    if (experts.has(t.layer)) throw new RangeError(`routingTable: two expert traces of block ${t.layer}; pass the traces of one forward pass`);
    if (t.processed.length !== e.count) throw new RangeError(`routingTable: the expert trace of block ${t.layer} has ${t.processed.length} experts, the model ${e.count} real ones`);
    const rows = Array.from({ length: batch }, () => new Map<number, number[]>());
    t.processed.forEach((perSeq, x) => {
      if (perSeq.length !== batch) throw new RangeError(`routingTable: the expert trace of block ${t.layer} has ${perSeq.length} sequences for expert ${x}, the shape says batch ${batch}`);
      perSeq.forEach((row, b) => {
        for (const p of row) {
          if (!inRange(p)) throw new RangeError(`routingTable: expert ${x} of block ${t.layer} processed position ${JSON.stringify(p)}, outside this pass's positions ${start}..${start + length - 1}`);
          const m = rows[b] as Map<number, number[]>;
          m.set(p, [...(m.get(p) ?? []), x]);
        }
      });
    });
    experts.set(t.layer, rows);
  }
  const noExperts = (c.experts?.blocks ?? []).filter((l) => !experts.has(l));
  if (noExperts.length) throw new RangeError(`routingTable: no expert trace of MoE block${noExperts.length > 1 ? "s" : ""} ${noExperts.join(", ")}; pass forward's expertTraces too`);
  return Array.from({ length: batch }, (_, b) =>
    Array.from({ length }, (_, i): TokenVisits => {
      const position = start + i;
      const blocks = c.layers.map((l): BlockVisit => {
        const r = byLayer.get(l.index);
        const e = experts.get(l.index);
        const took = e ? { experts: (e[b] as Map<number, number[]>).get(position) ?? [] } : {};
        if (!r) return { layer: l.index, routed: false, processed: true, ...took };
        const visit: BlockVisit = { layer: l.index, routed: true, processed: (r.processed[b] as Set<number>).has(position), score: r.trace.scores[b]?.[i] as number };
        const probability = r.trace.probability?.[b]?.[i];
        if (probability !== undefined) visit.probability = probability;
        return { ...visit, ...took };
      });
      return { position, depth: blocks.filter((v) => v.processed).length, blocks };
    }),
  );
}
