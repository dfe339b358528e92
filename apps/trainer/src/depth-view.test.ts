// Per-token depth from the model's forward traces: dense blocks count every token, each routed
// block exactly k tokens under top-k, and the causal view equals what sampling does: the same
// tokens decoded one at a time through the model's KV cache, counted from each step's traces.
import { describe, expect, it } from "vitest";
import { expectNoLeaks } from "@mixdepth/vitest-config/tf";
import { createTransformer } from "@mixdepth/transformer";
import { routedTokens } from "@mixdepth/core";
import * as tf from "@tensorflow/tfjs";
import { auxLossesByName, depthView, tokenDepths } from "./depth-view.js";
import { depthSection } from "./run-report.js";
import { byteTokenizer } from "@mixdepth/text";

const cfg = { vocabSize: 256, dModel: 16, nHeads: 2, nLayers: 4, contextLength: 32, routing: { blocks: "every-other" as const, capacity: 0.25 } };

describe("depth view", () => {
  it("top-k: every token gets the 2 dense blocks, each routed block adds exactly k tokens", async () => {
    const model = createTransformer(cfg, { seed: 1 });
    const ids = Array.from(byteTokenizer().encode("The jury said it did find that many of the city"));
    const s = Math.min(ids.length, 32);
    await expectNoLeaks(() => {
      const { depth, routedBlocks } = tokenDepths(model, ids.slice(0, s), "topk");
      expect(routedBlocks).toEqual([1, 3]);
      expect(depth).toHaveLength(s);
      expect(Math.min(...depth)).toBeGreaterThanOrEqual(2);
      expect(Math.max(...depth)).toBeLessThanOrEqual(4);
      const k = routedTokens(0.25, s);
      expect(depth.reduce((a, b) => a + b, 0)).toBe(2 * s + 2 * k); // not vacuous: k = 8 > 0
      expect(k).toBe(8);
    });
    model.dispose();
  });

  it("causal: each token's depth is what one-token-at-a-time cached decoding gives it", async () => {
    const model = createTransformer(cfg, { seed: 1 });
    const ids = Array.from(byteTokenizer().encode("The jury said it did find that")).slice(0, 24);
    await expectNoLeaks(() => {
      const { depth } = tokenDepths(model, ids, "causal");
      const cache = model.createCache();
      const decoded = ids.map((id) => {
        const x = tf.tensor2d([[id]], [1, 1], "int32");
        const out = model.forward(x, { routing: "causal", cache, trace: true });
        tf.dispose([x, out.logits, ...Object.values(out.auxLosses)]);
        return 2 + out.traces.reduce((a, t) => a + (t.processed[0] ?? []).length, 0); // 2 dense blocks
      });
      cache.dispose();
      expect(depth).toEqual(decoded);
      // Not vacuous: the causal rule took some tokens through a routed block and skipped others.
      expect(Math.max(...depth)).toBeGreaterThan(2);
      expect(Math.min(...depth)).toBeLessThan(4);
    });
    model.dispose();
  });

  it("depthView: a dense model is all nLayers and has only the top-k view; a routed model has both", async () => {
    const dense = createTransformer({ ...cfg, routing: { blocks: "none" } }, { seed: 1 });
    const routed = createTransformer(cfg, { seed: 1 });
    const passage = byteTokenizer().encode("x".repeat(40));
    await expectNoLeaks(() => {
      const d = depthView(dense, passage, byteTokenizer(), 7);
      expect(d.modes.map((m) => m.mode)).toEqual(["topk"]);
      expect(new Set(d.modes[0]!.depth)).toEqual(new Set([4]));
      expect(d.tokens).toHaveLength(32); // clipped to the context length
      const r = depthView(routed, passage, byteTokenizer(), 7);
      expect(r.modes.map((m) => m.mode)).toEqual(["topk", "causal"]);
      expect(r.step).toBe(7);
      expect(r.tokens[0]).toBe("x");
    });
    dense.dispose();
    routed.dispose();
  });

  it("MoE blocks: per-expert load, exact k per expert under top-k, and the tokens no expert took; shown in the report", async () => {
    const moe = createTransformer({ ...cfg, experts: { blocks: [0, 1], count: 2, noop: 1, capacity: 0.25 } }, { seed: 3 });
    const passage = byteTokenizer().encode("The jury said it did find that many of the city's voters");
    await expectNoLeaks(() => {
      const v = depthView(moe, passage, byteTokenizer(), 5);
      const topk = v.modes.find((m) => m.mode === "topk")!;
      // Block 0 (integrated MoDE): 32 tokens enter, each expert takes k = 8; block 1 (staged): the 8 the MoD router let in, k = 2 each.
      expect(topk.experts!.map((e) => [e.layer, e.load, e.tokens])).toEqual([[0, [8, 8], 32], [1, [2, 2], 8]]);
      for (const e of topk.experts!) expect(e.skipped).toBeGreaterThanOrEqual(e.tokens - e.load[0]! - e.load[1]!);
      expect(v.modes.find((m) => m.mode === "causal")!.experts).toHaveLength(2);
      const html = depthSection(v).html;
      expect(html).toContain("block 0: expert 0 8, expert 1 8; no expert");
      expect(html).toContain("of 32 tokens");
    });
    moe.dispose();
  });

  it("auxLossesByName: the named terms add up to the aux loss the training objective sums", async () => {
    const model = createTransformer(cfg, { seed: 2 });
    const dense = createTransformer({ ...cfg, routing: { blocks: "none" } }, { seed: 2 });
    const ids = Int32Array.from({ length: 64 }, (_, i) => (i * 37) % 256);
    const batch = { inputs: ids, targets: ids.map((v) => (v + 1) % 256) };
    await expectNoLeaks(() => {
      const named = auxLossesByName(model, batch, 2, 32);
      expect(Object.keys(named).sort()).toEqual(["aux_bce", "predictor_bce"]);
      const x = tf.tensor2d(batch.inputs, [2, 32], "int32");
      const y = tf.tensor2d(batch.targets, [2, 32], "int32");
      const l = model.loss(x, y);
      const sum = l.aux.dataSync()[0] as number;
      tf.dispose([x, y, l.total, l.lm, l.aux]);
      expect(sum).toBeGreaterThan(0);
      expect(Math.abs((named.aux_bce as number) + (named.predictor_bce as number) - sum)).toBeLessThan(1e-5);
      expect(auxLossesByName(dense, batch, 2, 32)).toEqual({});
    });
    model.dispose();
    dense.dispose();
  });
});
