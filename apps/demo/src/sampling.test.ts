import { describe, expect, it } from "vitest";
import { DEFAULT_SETTINGS, parseSettings } from "./sampling.js";

const asStrings = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, String(v)]));

describe("parseSettings", () => {
  it("parses the defaults back", () => {
    expect(parseSettings(asStrings({ ...DEFAULT_SETTINGS }) as never)).toEqual(DEFAULT_SETTINGS);
  });
  it("names the field and quotes the bad value", () => {
    expect(() => parseSettings(asStrings({ ...DEFAULT_SETTINGS, topK: 2.5 }) as never)).toThrow('topK: must be an integer in [0, 100000] (got "2.5")');
    expect(() => parseSettings({ ...asStrings({ ...DEFAULT_SETTINGS }), temperature: "" } as never)).toThrow(/temperature/);
  });
});
