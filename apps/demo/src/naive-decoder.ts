// Stand-in decoder used until @mixdepth/sampler ships its streaming API: every step runs a
// full causal-routing forward pass over the sequence so far (no KV cache, so it is slower
// than the sampler, but its routing decisions are the same by mod-spec section 3: causal
// routing of a token depends only on the tokens before it). Sampling follows the usual
// order: repetition penalty, temperature, top-k, top-p, then a seeded draw.
import * as tf from "@tensorflow/tfjs-core";
import { mulberry32 } from "@mixdepth/router";
import type { Transformer } from "@mixdepth/transformer";
import { countFractions, type MapCell } from "./routing-map.js";
import { mapBlocks, type GenerationResult, type StepReport } from "./generate.js";
import type { SamplingSettings } from "./sampling.js";

/** Picks the next token from one row of logits (not modified). */
export function sampleToken(logits: Float32Array, history: readonly number[], s: SamplingSettings, rand: () => number): number {
  const v = Float64Array.from(logits);
  if (s.repetitionPenalty !== 1) {
    for (const id of new Set(history)) {
      const x = v[id];
      if (x !== undefined) v[id] = x > 0 ? x / s.repetitionPenalty : x * s.repetitionPenalty;
    }
  }
  let best = 0;
  for (let i = 1; i < v.length; i++) if ((v[i] as number) > (v[best] as number)) best = i;
  if (s.temperature === 0) return best;
  const order = Array.from(v.keys()).sort((a, b) => (v[b] as number) - (v[a] as number));
  const keep = order.slice(0, s.topK > 0 ? Math.min(s.topK, order.length) : order.length);
  const max = v[best] as number;
  const w = keep.map((i) => Math.exp(((v[i] as number) - max) / s.temperature));
  const total = w.reduce((a, b) => a + b, 0);
  let cum = 0;
  let n = 0;
  while (n < keep.length && (n === 0 || cum < s.topP * total)) cum += w[n++] as number;
  let u = rand() * cum;
  for (let i = 0; i < n; i++) {
    u -= w[i] as number;
    if (u <= 0) return keep[i] as number;
  }
  return keep[n - 1] as number;
}

/** One causal forward pass over the window: the last position's logits and its routing cells. */
function feed(model: Transformer, window: readonly number[]): { logits: Float32Array; cells: MapCell[] } {
  const input = tf.tensor2d([window as number[]], [1, window.length], "int32");
  try {
    const out = model.forward(input, { routing: "causal", trace: true });
    const last = window.length - 1;
    const logits = tf.tidy(() => tf.slice(out.logits, [0, last, 0], [1, 1, -1]).dataSync() as Float32Array);
    tf.dispose([out.logits, ...Object.values(out.auxLosses)]);
    const byLayer = new Map(out.traces.map((t) => [t.layer, t]));
    const cells = model.config.layers.map((l): MapCell => {
      const t = byLayer.get(l.index);
      if (!l.routed || !t) return { processed: true };
      const score = t.scores[0]?.[last];
      const probability = t.probability?.[0]?.[last];
      return { processed: (t.processed[0] ?? []).includes(last), ...(score === undefined ? {} : { score }), ...(probability === undefined ? {} : { probability }) };
    });
    return { logits, cells };
  } finally {
    input.dispose();
  }
}

/**
 * Generates settings.maxTokens tokens. Like a cached decoder, each step samples from the
 * current logits, then feeds the new token through the model: that pass decides which
 * blocks process the token (its cells) and gives the next logits. onStep runs after each
 * step (awaited, so the page can paint).
 */
export async function naiveGenerate(
  model: Transformer,
  promptIds: readonly number[],
  settings: SamplingSettings,
  onStep: (step: StepReport) => void | Promise<void>,
  signal?: AbortSignal,
): Promise<GenerationResult> {
  const rand = mulberry32(settings.seed);
  const ctx = model.config.contextLength;
  const seq = [...promptIds];
  const generated: number[] = [];
  const columns: MapCell[][] = [];
  let { logits } = feed(model, seq.slice(-ctx)); // prefill
  for (let step = 0; step < settings.maxTokens && !signal?.aborted; step++) {
    const t0 = performance.now();
    const token = sampleToken(logits, seq, settings, rand);
    seq.push(token);
    generated.push(token);
    const fed = feed(model, seq.slice(-ctx)); // sliding window past the context length
    logits = fed.logits;
    columns.push(fed.cells);
    await onStep({ step, token, position: seq.length - 1, cells: fed.cells, ms: performance.now() - t0 });
  }
  const fractions = countFractions(
    mapBlocks(model),
    columns.map((cells, i) => ({ label: "", position: i, cells })),
  );
  return { tokens: generated, fractions, source: "counted by the demo's stand-in decoder" };
}
