import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, maxAbsDiff, testBackends, useBackend } from "@mixdepth/vitest-config/tf";
import type { Transformer } from "@mixdepth/transformer";
import { CachedDecoder, ContextLengthError } from "./decoder.js";
import { MOD, tinyModel, tokenIds, tokenTensor, type Family } from "../test/models.js";

/** Prefill `prompt`, then feed the rest one token at a time; logits of every position [S, V] and processed positions per routed layer. */
function decodeAll(model: Transformer, seq: number[], promptLength: number, causal?: "threshold" | "predictor") {
  const dec = new CachedDecoder(model, causal ? { causal } : {});
  const processed = new Map<number, number[]>();
  const note = (routing: { layer: number; processed: boolean[] }[], start: number) => {
    for (const r of routing) {
      const list = processed.get(r.layer) ?? [];
      r.processed.forEach((p, i) => p && list.push(start + i));
      processed.set(r.layer, list);
    }
  };
  const parts: tf.Tensor2D[] = [];
  const first = dec.prefill(seq.slice(0, promptLength), { allLogits: true });
  parts.push(first.logits);
  note(first.routing, first.start);
  for (let i = promptLength; i < seq.length; i++) {
    const out = dec.step(seq[i] as number);
    parts.push(out.logits);
    note(out.routing, out.start);
  }
  const logits = tf.concat(parts, 0);
  tf.dispose(parts);
  const lengths = dec.cache.lengths();
  dec.dispose();
  return { logits, processed, lengths };
}

describe.each(testBackends())("cached decoding on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  const cases: [string, Family, boolean, "threshold" | "predictor" | undefined][] = [
    ["gpt2 dense", "gpt2", false, undefined],
    ["gpt2 MoD, predictor", "gpt2", true, "predictor"],
    ["gpt2 MoD, threshold", "gpt2", true, "threshold"],
    ["llama dense", "llama", false, undefined],
    ["llama MoD, predictor", "llama", true, "predictor"],
    ["llama MoD, threshold", "llama", true, "threshold"],
  ];

  it.each(cases)("%s: step-by-step logits equal the causal forward within 1e-4; routed caches hold only routed tokens", async (_name, family, mod, causal) => {
    await expectNoLeaks(() => {
      const model = tinyModel(family, mod ? MOD : null);
      const seqs = [tokenIds(20, 7), tokenIds(20, 8)];
      const x = tokenTensor(seqs);
      const ref = model.forward(x, { routing: "causal", trace: true, ...(causal ? { causal } : {}) });
      let routedSomewhere = 0;
      let skippedSomewhere = 0;
      seqs.forEach((seq, b) => {
        for (const promptLength of [1, 6]) {
          const got = decodeAll(model, seq, promptLength, causal);
          const want = tf.tidy(() => tf.reshape(tf.slice(ref.logits, [b, 0, 0], [1, -1, -1]), [seq.length, -1]));
          expect(maxAbsDiff(got.logits, want)).toBeLessThan(1e-4);
          for (const trace of ref.traces) {
            const mine = got.processed.get(trace.layer) ?? [];
            expect(mine).toEqual(trace.processed[b]);
            // The routed block's cache holds exactly the tokens routed there.
            expect(got.lengths[trace.layer]).toBe(mine.length);
            routedSomewhere += mine.length;
            skippedSomewhere += seq.length - mine.length;
          }
          model.config.layers.forEach((l, i) => {
            if (!l.routed) expect(got.lengths[i]).toBe(seq.length);
          });
          tf.dispose([got.logits, want]);
        }
      });
      if (mod) {
        // Otherwise the comparison would not exercise skipping.
        expect(routedSomewhere).toBeGreaterThan(0);
        expect(skippedSomewhere).toBeGreaterThan(0);
      }
      tf.dispose([x, ref.logits, ...Object.values(ref.auxLosses)]);
      model.dispose();
    });
  });

  it("a prompt shorter than k and a single-token prompt work (docs/method.md section 8)", async () => {
    await expectNoLeaks(() => {
      // capacity 0.5 of contextLength 24 is k = 12 in top-k mode; causal decoding needs no k.
      const model = tinyModel("gpt2", { blocks: "all", capacity: 0.5 });
      for (const n of [1, 2, 3]) {
        const dec = new CachedDecoder(model);
        const out = dec.prefill(tokenIds(n, n));
        expect(out.logits.shape).toEqual([1, 13]);
        out.logits.dispose();
        const next = dec.step(1);
        expect(next.logits.shape).toEqual([1, 13]);
        expect(next.routing).toHaveLength(4);
        next.logits.dispose();
        dec.dispose();
      }
      model.dispose();
    });
  });

  it("the context limit throws a ContextLengthError naming contextLength before any work", async () => {
    await expectNoLeaks(() => {
      const model = tinyModel("gpt2", MOD);
      const dec = new CachedDecoder(model);
      expect(() => dec.prefill(tokenIds(25, 1))).toThrow(ContextLengthError);
      dec.prefill(tokenIds(24, 1)).logits.dispose();
      expect(() => dec.step(0)).toThrow(/contextLength 24.*maxNewTokens/);
      expect(() => dec.step(99)).toThrow(/token ids must be integers in \[0, 12\]/);
      expect(dec.position).toBe(24);
      dec.dispose();
      model.dispose();
    });
  });
});
