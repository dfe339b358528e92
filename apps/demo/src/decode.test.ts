import { describe, expect, it } from "vitest";
import { fromSampler, processorsFor } from "./decode.js";
import { DEFAULT_SETTINGS } from "./sampling.js";

describe("settings -> sampler", () => {
  it("builds only the processors that do something", () => {
    expect(processorsFor({ ...DEFAULT_SETTINGS, temperature: 0.8, topK: 40, topP: 0.95, repetitionPenalty: 1.1 })).toHaveLength(4);
    expect(processorsFor({ ...DEFAULT_SETTINGS, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 })).toHaveLength(1);
    // temperature 0 is greedy: top-k and top-p would change nothing
    expect(processorsFor({ ...DEFAULT_SETTINGS, temperature: 0, repetitionPenalty: 1 })).toHaveLength(1);
  });
  it("maps the sampler's fractions to the map's terms", () => {
    expect(fromSampler([{ layer: 1, capacity: 0.125, processed: 3, tokens: 12, fraction: 0.25, ratio: 2 }])).toEqual([
      { block: 1, realized: 0.25, nominal: 0.125, processed: 3, total: 12 },
    ]);
    expect(fromSampler([{ layer: 3, capacity: 0.125, processed: 0, tokens: 0, fraction: NaN, ratio: NaN }])[0]?.realized).toBe(0);
  });
});
