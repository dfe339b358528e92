import { describe, expect, it } from "vitest";
import { DEEP, SHALLOW, depthLegend, depthLevel, depthScale, depthStyle, describeDepth, processedBlocks, tokenDepth } from "./depth.js";
import type { MapBlock, MapCell } from "./routing-map.js";

// The bundled checkpoints' layout: 4 blocks, 1 and 3 routed ("every-other").
const blocks: MapBlock[] = [
  { index: 0, routed: false, capacity: 1 },
  { index: 1, routed: true, capacity: 0.125 },
  { index: 2, routed: false, capacity: 1 },
  { index: 3, routed: true, capacity: 0.125 },
];
const cells = (b1: boolean, b3: boolean): MapCell[] => [{ processed: true }, { processed: b1, score: 0.1 }, { processed: true }, { processed: b3, score: -0.2 }];

describe("per-token depth from a routing trace", () => {
  it("counts the blocks that processed the token: dense blocks always, routed ones when chosen", () => {
    expect(tokenDepth(blocks, cells(false, false))).toBe(2);
    expect(tokenDepth(blocks, cells(true, false))).toBe(3);
    expect(tokenDepth(blocks, cells(false, true))).toBe(3);
    expect(tokenDepth(blocks, cells(true, true))).toBe(4);
    expect(processedBlocks(blocks, cells(false, true))).toEqual([0, 2, 3]);
  });

  it("refuses a trace that does not match the model's blocks", () => {
    expect(() => tokenDepth(blocks, cells(true, true).slice(0, 3))).toThrow("3 cells for a model of 4 blocks");
  });

  it("reads the depth range from the blocks, whatever the model's size", () => {
    expect(depthScale(blocks)).toEqual({ min: 2, max: 4 });
    // 12 blocks, 4 routed: depths 8..12.
    const twelve = Array.from({ length: 12 }, (_, i): MapBlock => ({ index: i, routed: i % 3 === 2, capacity: i % 3 === 2 ? 0.25 : 1 }));
    expect(depthScale(twelve)).toEqual({ min: 8, max: 12 });
    expect(depthLevel(9, { min: 8, max: 12 })).toBe(0.25);
    // A dense model: every token has the full depth.
    expect(depthLevel(4, { min: 4, max: 4 })).toBe(1);
    expect(() => depthLevel(1, { min: 2, max: 4 })).toThrow("depth: 1 is outside this model's range 2..4");
    expect(() => depthLevel(2.5, { min: 2, max: 4 })).toThrow(RangeError);
  });

  it("colours depth from pale amber (shallowest) to blue (every block), linear in between", () => {
    const scale = { min: 2, max: 4 };
    expect(SHALLOW).toEqual([254, 240, 200]);
    expect(DEEP).toEqual([12, 92, 172]);
    expect(depthStyle(2, scale)).toEqual({ background: "rgb(254, 240, 200)", color: "#1b1f24", className: "depth-min" });
    // Halfway: (254+12)/2 = 133, (240+92)/2 = 166, (200+172)/2 = 186; luminance about 160 -> dark text.
    expect(depthStyle(3, scale)).toEqual({ background: "rgb(133, 166, 186)", color: "#1b1f24", className: "depth-mid" });
    // Luminance of (12, 92, 172) is about 81 -> white text.
    expect(depthStyle(4, scale)).toEqual({ background: "rgb(12, 92, 172)", color: "#ffffff", className: "depth-max" });
    // A quarter of the way on an 8..12 scale: 254 - 242/4 = 193.5 -> 194, 240 - 37 = 203, 200 - 7 = 193.
    expect(depthStyle(9, { min: 8, max: 12 }).background).toBe("rgb(194, 203, 193)");
  });

  it("has one legend entry per possible depth, shallowest first", () => {
    const legend = depthLegend({ min: 2, max: 4 });
    expect(legend.map((e) => [e.depth, e.label])).toEqual([
      [2, "2 of 4 blocks (dense blocks only, every routed block skipped)"],
      [3, "3 of 4 blocks (1 of 2 routed blocks)"],
      [4, "4 of 4 blocks (every block)"],
    ]);
    expect(legend[1]?.style.background).toBe("rgb(133, 166, 186)");
  });

  it("describes which blocks processed a token, or that none has yet", () => {
    expect(describeDepth("a", 7, blocks, cells(false, true))).toBe('token "a" (position 7): depth 3 of 4; processed by blocks 0, 2, 3; skipped blocks 1');
    expect(describeDepth("␣", 0, blocks, cells(true, true))).toBe('token "␣" (position 0): depth 4 of 4; processed by blocks 0, 1, 2, 3; skipped blocks none');
    expect(describeDepth("x", 9, blocks, null)).toBe('token "x" (position 9): sampled last, not fed back to the model yet, so no block has processed it');
  });
});
