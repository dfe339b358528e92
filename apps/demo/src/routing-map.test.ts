import { describe, expect, it } from "vitest";
import { countFractions, describeCell, type MapBlock, type MapColumn } from "./routing-map.js";

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
