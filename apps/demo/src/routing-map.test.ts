import { describe, expect, it } from "vitest";
import { resolveModelConfig } from "@mixdepth/core";
import { cellsFromTraces, mapBlocks } from "./prompt-routing.js";
import { countFractions, describeCell, expertLabel, type MapBlock, type MapColumn } from "./routing-map.js";

const blocks: MapBlock[] = [
  { index: 0, routed: false, capacity: 1 },
  { index: 1, routed: true, capacity: 0.125 },
];
const col = (position: number, on: boolean): MapColumn => ({
  label: "a",
  position,
  cells: [{ processed: true }, { processed: on, score: 0.5, probability: 0.7 }],
});

describe("routing map data", () => {
  it("counts realized fractions per routed block only", () => {
    expect(countFractions(blocks, [col(0, true), col(1, false), col(2, false), col(3, true)])).toEqual([
      { block: 1, realized: 0.5, nominal: 0.125, processed: 2, total: 4 },
    ]);
    expect(countFractions(blocks, [])).toEqual([{ block: 1, realized: 0, nominal: 0.125, processed: 0, total: 0 }]);
  });
  it("describes a cell with its score and decision probability", () => {
    const c = col(3, false);
    expect(describeCell(blocks[1] as MapBlock, c, c.cells[1] as never)).toBe('token "a" (position 3), block 1 (routed): skipped, router score r=0.500, p=0.700');
    expect(describeCell(blocks[0] as MapBlock, c, c.cells[0] as never)).toBe('token "a" (position 3), block 0 (dense): processed');
  });
});

describe("routing map of MoE / MoDE blocks", () => {
  it("cells name the experts that processed the token, or the no-op path", () => {
    const config = resolveModelConfig({ vocabSize: 5, dModel: 4, nHeads: 1, nLayers: 2, contextLength: 4, routing: { blocks: [1], capacity: 0.5 }, experts: { blocks: [0, 1], count: 2, noop: 1 } });
    expect(mapBlocks({ config }).map((b) => b.experts)).toEqual([2, 2]);
    const traces = [{ layer: 1, mode: "topk" as const, processed: [[0, 3]], scores: [[1, 0, 0, 2]] }];
    // Block 0 (integrated): expert 0 took 0 and 2, expert 1 took 2; block 1 (staged): expert 1 took 3.
    const expertTraces = [
      { layer: 0, mode: "topk" as const, processed: [[[0, 2]], [[2]]] },
      { layer: 1, mode: "topk" as const, processed: [[[]], [[3]]] },
    ];
    const cells = cellsFromTraces(config, 4, traces, expertTraces);
    expect(cells.map((c) => c[0]!.experts)).toEqual([[0], [], [0, 1], []]);
    expect(cells.map((c) => [c[1]!.processed, c[1]!.experts])).toEqual([[true, []], [false, []], [false, []], [true, [1]]]);
    expect(cells.map((c) => expertLabel(c[0]!))).toEqual(["0", "-", "01", "-"]);
    expect(expertLabel(cells[1]![1]!)).toBe(""); // skipped by the MoD router: no MLP at all
    const b0: MapBlock = { index: 0, routed: false, capacity: 1, experts: 2 };
    const column: MapColumn = { label: "a", position: 1, cells: cells[1]! };
    expect(describeCell(b0, column, cells[1]![0]!)).toBe('token "a" (position 1), block 0 (dense): processed; MLP skipped (no expert: no-op path)');
    expect(describeCell(b0, { ...column, position: 2, cells: cells[2]! }, cells[2]![0]!)).toBe('token "a" (position 2), block 0 (dense): processed; MLP experts 0, 1');
  });
});
