// The page's decode loop against the model itself: greedy tokens, the per-step "fed" cells
// and the final fractions are checked against one plain causal forward pass over the whole
// sequence (no cache, no sampler), read straight from its traces.
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks } from "@mixdepth/vitest-config/tf";
import { createTransformer, type Transformer } from "@mixdepth/transformer";
import { decode, fromSampler, prefillCells, type DecodeStep } from "./decode.js";
import { DEFAULT_SETTINGS } from "./sampling.js";

/** One causal forward over `ids`: the greedy next token after each prefix, and per routed block the processed positions. */
function reference(model: Transformer, ids: number[]): { next: number[]; processed: Map<number, Set<number>> } {
  const x = tf.tensor2d([ids], [1, ids.length], "int32");
  const out = model.forward(x, { routing: "causal", trace: true });
  const next = tf.tidy(() => Array.from(tf.argMax(out.logits, 2).dataSync()));
  tf.dispose([x, out.logits, ...Object.values(out.auxLosses)]);
  return { next, processed: new Map(out.traces.map((t) => [t.layer, new Set(t.processed[0])])) };
}

describe("decode", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it("greedy: each token is the model's argmax, each fed token's cells are the full causal pass's decisions", async () => {
    const model = createTransformer({ vocabSize: 16, dModel: 8, nHeads: 2, nLayers: 4, contextLength: 16, routing: { blocks: "every-other", capacity: 0.25, causal: "threshold" } }, { seed: 5 });
    const prompt = [1, 2, 3];
    const steps: DecodeStep[] = [];
    const result = await expectNoLeaks(() => decode(model, prompt, { ...DEFAULT_SETTINGS, temperature: 0, repetitionPenalty: 1, maxTokens: 5 }, (s) => void steps.push(s)));
    const seq = [...prompt, ...result.tokens];
    const ref = reference(model, seq);
    // Greedy: token j follows from the logits at position prompt.length - 1 + j.
    expect(result.tokens).toEqual(ref.next.slice(prompt.length - 1, prompt.length - 1 + 5));
    // Step 0 reports nothing new (the prompt's last token comes from the prefill); step s the token sampled at s - 1.
    expect(steps.map((s) => s.fed?.position ?? null)).toEqual([null, 3, 4, 5, 6]);
    const routed = [1, 3];
    for (const s of steps.slice(1)) {
      const fed = s.fed as NonNullable<DecodeStep["fed"]>;
      expect(fed.cells.map((c) => c.processed)).toEqual([0, 1, 2, 3].map((l) => (routed.includes(l) ? (ref.processed.get(l) as Set<number>).has(fed.position) : true)));
    }
    const prefill = await expectNoLeaks(() => prefillCells(model, prompt));
    expect(prefill.map((cells) => cells.map((c) => c.processed))).toEqual(prompt.map((_, p) => [0, 1, 2, 3].map((l) => (routed.includes(l) ? (ref.processed.get(l) as Set<number>).has(p) : true))));
    // The last token is never fed back: 7 of the 8 positions reached the model.
    expect(result.fractions.map((f) => [f.block, f.processed, f.total])).toEqual(routed.map((l) => [l, [...(ref.processed.get(l) as Set<number>)].filter((p) => p < 7).length, 7]));
    // Not vacuous: the causal rule routed some tokens and skipped others.
    const counts = result.fractions.map((f) => f.processed);
    expect(counts.some((n) => n > 0) && counts.some((n) => n < 7)).toBe(true);
    // Timed decode steps: not step 0 (prefill) and not the last (it only samples).
    expect(result.decodeMs).toHaveLength(3);
    model.dispose();
  });

  it("maps the sampler's fractions to the map's terms", () => {
    expect(fromSampler([{ layer: 1, capacity: 0.125, processed: 3, tokens: 12, fraction: 0.25, ratio: 2 }])).toEqual([
      { block: 1, realized: 0.25, nominal: 0.125, processed: 3, total: 12 },
    ]);
    expect(fromSampler([{ layer: 3, capacity: 0.125, processed: 0, tokens: 0, fraction: NaN, ratio: NaN }])[0]?.realized).toBe(0);
  });
});
