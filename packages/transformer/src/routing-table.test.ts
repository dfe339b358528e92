// routingTable: the traces of one forward pass as per-token columns. Expected tables are
// written out by hand from hand-made traces; on a real model the column sums are checked
// against k = routedTokens(capacity, S), which the table does not compute.
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { expectNoLeaks } from "@mixdepth/vitest-config/tf";
import { resolveModelConfig, routedTokens } from "@mixdepth/core";
import type { ExpertTrace, RoutingTrace } from "@mixdepth/mod-block";
import { createTransformer, routingTable } from "./index.js";

// 3 blocks, block 1 routed.
const model = { config: resolveModelConfig({ vocabSize: 8, dModel: 4, nHeads: 2, nLayers: 3, contextLength: 8, routing: { blocks: [1], capacity: 0.5 } }) };
const dense = (layer: number) => ({ layer, routed: false, processed: true });

describe("routingTable", () => {
  it("turns a hand-made causal trace (a cached call at position 5) into columns", () => {
    const trace: RoutingTrace = { layer: 1, mode: "causal", processed: [[6]], scores: [[-0.5, 0.25]], probability: [[0.3, 0.7]] };
    expect(routingTable(model, [trace], { length: 2, start: 5 })).toEqual([
      [
        { position: 5, depth: 2, blocks: [dense(0), { layer: 1, routed: true, processed: false, score: -0.5, probability: 0.3 }, dense(2)] },
        { position: 6, depth: 3, blocks: [dense(0), { layer: 1, routed: true, processed: true, score: 0.25, probability: 0.7 }, dense(2)] },
      ],
    ]);
  });

  it("keeps sequences apart and leaves probability out under top-k", () => {
    const trace: RoutingTrace = { layer: 1, mode: "topk", processed: [[0], [1]], scores: [[0.9, 0.1], [0.2, 0.8]] };
    const t = routingTable(model, [trace], { length: 2, batch: 2 });
    expect(t.map((row) => row.map((c) => c.depth))).toEqual([[3, 2], [2, 3]]);
    expect(t[1]?.[1]?.blocks[1]).toEqual({ layer: 1, routed: true, processed: true, score: 0.8 });
  });

  it("a dense model: every token at full depth, no traces needed", () => {
    const d = { config: resolveModelConfig({ vocabSize: 8, dModel: 4, nHeads: 2, nLayers: 2, contextLength: 8 }) };
    expect(routingTable(d, [], { length: 3 })[0]?.map((c) => [c.position, c.depth])).toEqual([[0, 2], [1, 2], [2, 2]]);
  });

  it("MoE blocks: each token's cell names the real experts that processed it", () => {
    // Block 0 integrated MoDE (dense attention), block 1 routed and staged; 2 real experts.
    const moe = { config: resolveModelConfig({ vocabSize: 5, dModel: 4, nHeads: 1, nLayers: 2, contextLength: 4, routing: { blocks: [1], capacity: 0.5 }, experts: { blocks: [0, 1], count: 2, noop: 1 } }) };
    const traces: RoutingTrace[] = [{ layer: 1, mode: "topk", processed: [[0, 3]], scores: [[1, 0, 0, 2]] }];
    const expertTraces: ExpertTrace[] = [
      { layer: 0, mode: "topk", processed: [[[0, 2]], [[2]]] }, // expert 0 took 0 and 2, expert 1 took 2
      { layer: 1, mode: "topk", processed: [[[]], [[3]]] }, // expert 1 took 3
    ];
    const [row] = routingTable(moe, traces, { length: 4 }, expertTraces);
    expect(row?.map((t) => t.blocks[0]?.experts)).toEqual([[0], [], [0, 1], []]);
    expect(row?.map((t) => [t.blocks[1]?.processed, t.blocks[1]?.experts])).toEqual([[true, []], [false, []], [false, []], [true, [1]]]);
    expect(row?.map((t) => t.depth)).toEqual([2, 1, 1, 2]);
    expect(() => routingTable(moe, traces, { length: 4 })).toThrow(/no expert trace of MoE blocks 0, 1; pass forward's expertTraces too/);
    expect(() => routingTable(model, [{ layer: 1, mode: "topk", processed: [[0]], scores: [[1, 0]] }], { length: 2 }, [{ layer: 1, mode: "topk", processed: [] }])).toThrow(/expert trace of block 1, which has no MoE MLP/);
    expect(() => routingTable(moe, traces, { length: 4 }, [expertTraces[0]!, { layer: 1, mode: "topk", processed: [[[4]], [[]]] }])).toThrow(/expert 0 of block 1 processed position 4, outside/);
  });

  it("rejects traces that do not fit, naming what is wrong", () => {
    const ok: RoutingTrace = { layer: 1, mode: "topk", processed: [[0]], scores: [[0.9, 0.1]] };
    expect(() => routingTable(model, [], { length: 2 })).toThrow(/no trace of routed block 1; pass the traces of forward\(tokens, \{ trace: true \}\)/);
    expect(() => routingTable(model, [{ ...ok, layer: 0 }], { length: 2 })).toThrow(/block 0, which is not a routed block of this model \(routed: \[1\]\)/);
    expect(() => routingTable(model, [ok, ok], { length: 2 })).toThrow(/two traces of block 1/);
    expect(() => routingTable(model, [ok], { length: 3 })).toThrow(/scores 2 tokens of sequence 0, the shape says length 3/);
    expect(() => routingTable(model, [ok], { length: 2, batch: 2 })).toThrow(/has 1 sequences, the shape says batch 2/);
    expect(() => routingTable(model, [ok], { length: 2, start: 1 })).toThrow(/processed position 0, outside this pass's positions 1\.\.2/);
    expect(() => routingTable(model, [ok], { length: 0 })).toThrow(/length must be an integer >= 1 \(got 0\)/);
    expect(() => routingTable(model, [ok], { length: 2, start: -1 })).toThrow(/start must be an integer >= 0 \(got -1\)/);
  });

  it("on a real model: top-k columns add up to dense blocks plus k per routed block", async () => {
    const m = createTransformer({ vocabSize: 11, dModel: 8, nHeads: 2, nLayers: 4, contextLength: 8, routing: { blocks: "every-other", capacity: 0.25 } }, { seed: 3 });
    await expectNoLeaks(() => {
      const x = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8], [8, 7, 6, 5, 4, 3, 2, 1]], [2, 8], "int32");
      const out = m.forward(x, { trace: true });
      tf.dispose([x, out.logits, ...Object.values(out.auxLosses)]);
      const table = routingTable(m, out.traces, { length: 8, batch: 2 });
      const k = routedTokens(0.25, 8);
      expect(k).toBe(2); // not vacuous: each routed block takes 2 of 8
      for (const row of table) {
        expect(row.reduce((a, c) => a + c.depth, 0)).toBe(2 * 8 + 2 * k);
        expect(row.every((c) => c.depth >= 2 && c.depth <= 4)).toBe(true);
        expect(row.map((c) => c.blocks.map((v) => v.routed))).toEqual(Array.from({ length: 8 }, () => [false, true, false, true]));
      }
    });
    m.dispose();
  });
});
