// Routing statistics (docs/method.md section 3): the realized routed fraction of each routed block
// against its nominal capacity, counted over decoder outputs. How well the causal decision
// agrees with top-k under teacher forcing is the model's own measure
// (causalRoutingAgreement from @mixdepth/transformer, re-exported by this package).
import type { Transformer } from "@mixdepth/transformer";
import type { TokenRouting } from "./decoder.js";

/** Realized vs nominal routing of one routed block. */
export interface RoutedFraction {
  layer: number;
  /** Nominal capacity (fraction of tokens top-k routes in training). */
  capacity: number;
  /** Tokens the block processed. */
  processed: number;
  /** Tokens that reached the block (processed or skipped). */
  tokens: number;
  /** processed / tokens (NaN before any token). */
  fraction: number;
  /** fraction / capacity: 1 means the causal decision routes exactly the nominal share. */
  ratio: number;
}

/** Counts processed/seen tokens per routed block over decoder outputs. */
export class RoutingCounter {
  private readonly counts = new Map<number, { processed: number; tokens: number }>();

  constructor(private readonly model: Transformer) {
    for (const l of model.config.layers) if (l.routed) this.counts.set(l.index, { processed: 0, tokens: 0 });
  }

  /** Adds the decisions of one decoder call. */
  add(routing: readonly TokenRouting[]): void {
    for (const r of routing) {
      const c = this.counts.get(r.layer);
      if (!c) throw new RangeError(`RoutingCounter: block ${r.layer} is not a routed block of this model`);
      c.tokens += r.processed.length;
      c.processed += r.processed.filter(Boolean).length;
    }
  }

  /** One entry per routed block, in layer order. */
  fractions(): RoutedFraction[] {
    return [...this.counts.entries()].map(([layer, c]) => {
      const capacity = this.model.config.layers[layer]?.capacity ?? NaN;
      const fraction = c.tokens ? c.processed / c.tokens : NaN;
      return { layer, capacity, processed: c.processed, tokens: c.tokens, fraction, ratio: fraction / capacity };
    });
  }
}

