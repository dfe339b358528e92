import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, testBackends, useBackend } from "@mixdepth/vitest-config/tf";
import { CachedDecoder } from "./decoder.js";
import { RoutingCounter } from "./stats.js";
import { causalRoutingAgreement } from "./index.js";
import { MOD, tinyModel, tokenIds, tokenTensor } from "../test/models.js";

describe.each(testBackends())("routing stats on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it("realized routed fraction per routed block equals the routed caches' share of tokens", async () => {
    await expectNoLeaks(() => {
      const model = tinyModel("gpt2", MOD);
      const dec = new CachedDecoder(model);
      const counter = new RoutingCounter(model);
      const seq = tokenIds(20, 4);
      const first = dec.prefill(seq.slice(0, 5));
      counter.add(first.routing);
      first.logits.dispose();
      for (const t of seq.slice(5)) {
        const out = dec.step(t);
        counter.add(out.routing);
        out.logits.dispose();
      }
      const fr = counter.fractions();
      expect(fr.map((f) => f.layer)).toEqual([1, 3]);
      for (const f of fr) {
        expect(f.tokens).toBe(20);
        expect(f.processed).toBe(dec.cache.length(f.layer));
        expect(f.fraction).toBeCloseTo(f.processed / 20, 12);
        expect(f.ratio).toBeCloseTo(f.fraction / 0.25, 12);
      }
      dec.dispose();
      model.dispose();
    });
  });

  it("teacher-forced agreement of the threshold rule matches sigmoid(r) > 0.5 against the top-k trace", async () => {
    await expectNoLeaks(() => {
      const model = tinyModel("llama", MOD);
      const x = tokenTensor([tokenIds(16, 1), tokenIds(16, 2)]);
      const got = causalRoutingAgreement(model, x, { causal: "threshold" });
      const ref = model.forward(x, { routing: "topk", trace: true });
      tf.dispose([ref.logits, ...Object.values(ref.auxLosses)]);
      expect(got.blocks.map((b) => b.layer)).toEqual(ref.traces.map((t) => t.layer));
      ref.traces.forEach((t, i) => {
        let tp = 0, fp = 0, fn = 0, tn = 0;
        t.scores.forEach((row, b) =>
          row.forEach((r, s) => {
            const causal = r > 0;
            const target = t.processed[b]!.includes(s);
            if (causal && target) tp++;
            else if (causal) fp++;
            else if (target) fn++;
            else tn++;
          }),
        );
        expect(got.blocks[i]).toMatchObject({ tp, fp, fn, tn, targetFraction: 4 / 16 });
        expect(got.blocks[i]!.accuracy).toBeCloseTo((tp + tn) / 32, 12);
      });
      const sum = got.blocks.reduce((a, b) => a + b.tp, 0);
      expect(got.total.tp).toBe(sum);
      expect(got.total.layer).toBe(-1);
      // Predictor mode (the config's default rule), checked on block 1: its input is the same
      // under top-k and causal routing (block 0 is dense), so the causal-mode forward's trace
      // holds the predictor's decisions on the very input the top-k trace routed.
      const pred = causalRoutingAgreement(model, x);
      const causal = model.forward(x, { routing: "causal", causal: "predictor", trace: true });
      tf.dispose([causal.logits, ...Object.values(causal.auxLosses)]);
      const chosen = causal.traces[0]!;
      const target = ref.traces[0]!;
      expect([chosen.layer, target.layer]).toEqual([1, 1]);
      const c = { tp: 0, fp: 0, fn: 0, tn: 0 };
      for (let b = 0; b < 2; b++) {
        for (let s = 0; s < 16; s++) {
          const p = chosen.processed[b]!.includes(s);
          const t = target.processed[b]!.includes(s);
          c[p && t ? "tp" : p ? "fp" : t ? "fn" : "tn"]++;
        }
      }
      expect(pred.blocks[0]).toMatchObject({ layer: 1, ...c });
      // Not the threshold rule under another name: the two rules disagree on this block.
      expect([pred.blocks[0]!.tp, pred.blocks[0]!.fp]).not.toEqual([got.blocks[0]!.tp, got.blocks[0]!.fp]);
      x.dispose();
      model.dispose();
    });
  });
});
