// Generation through @mixdepth/sampler (docs/method.md sections 3-4): the prompt is prefilled once,
// then one token per step with the sparse KV cache and causal routing. The page draws what
// the sampler reports: which blocks processed each token the model consumed, and the
// realized routed fraction per routed block.
//
// Timing: a step's sampled token is routed when it is fed back, so the sampler's event for
// step s reports the blocks that processed the token fed at step s - 1 (the last prompt
// token at step 0). The last generated token is sampled but never fed, so it has no
// routing. The prompt's own per-token decisions come from the sampler's CachedDecoder
// prefill (the same computation generateStream runs first).
import type { Transformer } from "@mixdepth/transformer";
import { CachedDecoder, generateStream, processorsFor, type RoutedFraction as SamplerFraction } from "@mixdepth/sampler";
import type { MapCell, RoutedFraction } from "./routing-map.js";
import type { SamplingSettings } from "./sampling.js";

/** The sampler's fractions in the map's terms (block, realized, nominal, counts). */
export function fromSampler(fs: readonly SamplerFraction[]): RoutedFraction[] {
  return fs.map((f) => ({ block: f.layer, realized: f.tokens ? f.fraction : 0, nominal: f.capacity, processed: f.processed, total: f.tokens }));
}

/** Per prompt token, one cell per block (a BlockVisit is a cell): the sampler's causal prefill decisions. */
export function prefillCells(model: Transformer, ids: readonly number[]): MapCell[][] {
  const dec = new CachedDecoder(model);
  try {
    const out = dec.prefill(ids);
    out.logits.dispose();
    return out.tokens.map((t) => t.blocks);
  } finally {
    dec.dispose();
  }
}

export interface DecodeStep {
  step: number;
  /** The token sampled at this step. */
  token: number;
  /** The token the model consumed during this step (the one sampled at the previous step) and how each block handled it. */
  fed: { position: number; cells: MapCell[] } | null;
  /** Wall time of this step (step 0 includes the prompt's prefill), ms. */
  ms: number;
  /** Realized fractions so far, as the sampler reports them (prefill included). */
  fractions: RoutedFraction[];
}

export interface DecodeResult {
  tokens: number[];
  /** The sampler's final statistics: realized routed fraction per routed block (prefill and decode). */
  fractions: RoutedFraction[];
  /** Per step wall time, ms; [0] includes the prefill. */
  ms: number[];
  /**
   * Wall time of the plain decode steps (sample one token, feed it through the model): every
   * step but the first (it includes the prefill) and a final one that only samples.
   */
  decodeMs: number[];
}

/** Largest max-tokens that fits the context after a prompt of `promptLength` tokens. */
export function maxNewTokens(model: Transformer, promptLength: number): number {
  return model.config.contextLength - promptLength + 1; // the last token is never fed back
}

/**
 * Streams generation with the sampler; `onStep` is awaited after every step (so the page
 * can paint). Stops early when `signal` aborts; the sampler frees its cache either way.
 */
export async function decode(
  model: Transformer,
  ids: readonly number[],
  settings: SamplingSettings,
  onStep: (s: DecodeStep) => void | Promise<void>,
  signal?: AbortSignal,
): Promise<DecodeResult> {
  const it = generateStream(model, ids, { maxNewTokens: settings.maxTokens, seed: settings.seed, processors: processorsFor(settings) });
  const tokens: number[] = [];
  const ms: number[] = [];
  const decodeMs: number[] = [];
  let fractions: RoutedFraction[] = [];
  let done = false;
  try {
    for (;;) {
      const t0 = performance.now();
      const r = await it.next();
      if (r.done) {
        done = true;
        fractions = fromSampler(r.value.routing);
        break;
      }
      const dt = performance.now() - t0;
      const e = r.value;
      const token = e.tokens[0];
      if (token === null || token === undefined) break;
      tokens.push(token);
      ms.push(dt);
      // A sequence that finished at this step is not fed back: that step only sampled.
      if (e.step > 0 && e.finished[0] === null) decodeMs.push(dt);
      fractions = fromSampler(e.routing);
      const visit = e.visits[0];
      // Step 0 reports the last prompt token, already drawn from the prefill.
      const fed = e.step > 0 && visit ? { position: visit.position, cells: visit.blocks } : null;
      await onStep({ step: e.step, token, fed, ms: dt, fractions });
      if (signal?.aborted) break;
    }
  } finally {
    // Stopped early: returning from the generator runs its finally, which frees the cache.
    if (!done) await it.return({ sequences: [], routing: [], slides: 0 });
  }
  return { tokens, fractions, ms, decodeMs };
}
