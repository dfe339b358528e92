import { describe, expect, it } from "vitest";
import { ConfigInvalid, loadConfig, merge, parseSet, PRESETS, validateConfig } from "./config.js";

describe("config", () => {
  it("presets are valid", () => {
    for (const name of Object.keys(PRESETS)) expect(() => loadConfig({ preset: name })).not.toThrow();
    expect(loadConfig({}).config.output.dir).toBe("runs/quick");
  });

  it("names the field path and the bad value", () => {
    expect(() => loadConfig({ overrides: [parseSet("training.lr=abc")] })).toThrow(/training\.lr: Expected number, received string \(got "abc"\)/);
    expect(() => loadConfig({ overrides: [parseSet("training.steps=0")] })).toThrow(/training\.steps: .*\(got 0\)/);
    expect(() => loadConfig({ overrides: [parseSet("training.minLr=1")] })).toThrow(/training\.minLr: must be <= training\.lr \(got 1\)/);
    expect(() => loadConfig({ overrides: [parseSet("training.bogus=1")] })).toThrow(/training: unknown field\(s\) "bogus"/);
    expect(() => loadConfig({ overrides: [parseSet("backend=tpu")] })).toThrow(/backend: .*\(got "tpu"\)/);
  });

  it("checks the model with resolveModelConfig and the cross-field rules", () => {
    expect(() => loadConfig({ overrides: [parseSet("model.nHeads=3")] })).toThrow(/model\.nHeads: must divide dModel=128 \(got 3\)/);
    expect(() => loadConfig({ overrides: [parseSet("model.routing.capacity=2")] })).toThrow(/model\.routing\.capacity: must be in \(0, 1\] \(got 2\)/);
    expect(() => loadConfig({ overrides: [parseSet("model.vocabSize=300")] })).toThrow(/model\.vocabSize: must equal the tokenizer's vocabulary 256 \(got 300\)/);
    expect(() => loadConfig({ overrides: [parseSet("training.seqLen=4096")] })).toThrow(/training\.seqLen: must be <= model\.contextLength/);
    expect(() => validateConfig({})).toThrow(ConfigInvalid);
  });

  it("--set parses YAML scalars and lists; merge replaces arrays", () => {
    expect(parseSet("a.b=3")).toEqual({ a: { b: 3 } });
    expect(parseSet("a=true")).toEqual({ a: true });
    expect(parseSet("a=[1, 3]")).toEqual({ a: [1, 3] });
    expect(parseSet("data.source=some/path.txt")).toEqual({ data: { source: "some/path.txt" } });
    expect(merge({ a: { b: 1, c: [1, 2] } }, { a: { c: [3] } })).toEqual({ a: { b: 1, c: [3] } });
    expect(() => parseSet("novalue")).toThrow(/expected path=value/);
  });
});
