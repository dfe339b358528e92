// The trainer's config: one validation point (zod, resolveModelConfig, the router registry),
// unknown keys rejected at every level, preset defaults adjusted with a note.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createLearnedRouter, registerRouter, unregisterRouter } from "@mixdepth/router";
import { assembleConfig, ConfigInvalid, loadConfig, merge, parseSet, PRESETS, readConfigFile, validateConfig } from "./config.js";

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

  it("model.experts (MoE / MoDE) by --set, checked by resolveModelConfig naming the field", () => {
    const v = loadConfig({ overrides: [parseSet("model.experts.count=2"), parseSet("model.experts.noop=1"), parseSet("model.experts.blocks=[1, 3]")] });
    expect(v.model.experts).toMatchObject({ blocks: [1, 3], count: 2, noop: 1, capacity: 0.5 });
    expect(() => loadConfig({ overrides: [parseSet("model.experts.count=0")] })).toThrow(/model\.experts\.count: must be a positive integer \(got 0\)/);
    expect(() => loadConfig({ overrides: [parseSet("model.experts.routing=hash")] })).toThrow(/model\.experts\.routing: .*\(got "hash"\)/);
    expect(loadConfig({ preset: "mode" }).model.experts).toMatchObject({ blocks: [1, 3], count: 4, noop: 4, capacity: 0.125 });
    expect(loadConfig({ preset: "mode" }).model.routing.blocks).toEqual([]);
  });

  it("--set parses YAML scalars and lists; merge replaces arrays", () => {
    expect(parseSet("a.b=3")).toEqual({ a: { b: 3 } });
    expect(parseSet("a=true")).toEqual({ a: true });
    expect(parseSet("a=[1, 3]")).toEqual({ a: [1, 3] });
    expect(parseSet("data.source=some/path.txt")).toEqual({ data: { source: "some/path.txt" } });
    expect(merge({ a: { b: 1, c: [1, 2] } }, { a: { c: [3] } })).toEqual({ a: { b: 1, c: [3] } });
    expect(() => parseSet("novalue")).toThrow(/expected path=value/);
  });

  it("asks the router registry: an unknown kind or a misspelt option is a config error", () => {
    expect(() => loadConfig({ overrides: [parseSet("model.routing.router=unknown")] })).toThrow(ConfigInvalid);
    expect(() => loadConfig({ overrides: [parseSet("model.routing.router=unknown")] })).toThrow(
      /model\.routing\.router: unknown router kind; registered: learned, stochastic \(got "unknown"\)\n.*--plugin/,
    );
    expect(() => loadConfig({ overrides: [parseSet("model.routing.routerOptions.initstd=0.1")] })).toThrow(
      /model\.routing\.routerOptions\.initstd: unknown option of the learned router \(known: initStd, activation, alpha\) \(got 0\.1\)/,
    );
    expect(() => loadConfig({ overrides: [parseSet("model.routing.routerOptions.initStd=-1")] })).toThrow(/model\.routing\.routerOptions\.initStd: must be a number >= 0 \(got -1\)/);
    expect(() => loadConfig({ overrides: [parseSet("model.routing.router=stochastic"), parseSet("model.routing.routerOptions.p=1")] })).toThrow(/model\.routing\.routerOptions\.p: unknown option of the stochastic router \(known: scale\)/);
    expect(loadConfig({ overrides: [parseSet("model.routing.routerOptions.initStd=0.02")] }).model.routing.routerOptions).toEqual({ initStd: 0.02 });
  });

  it("gives the declared router cost with the valid config (stochastic: none)", () => {
    const learned = loadConfig({});
    const stochastic = loadConfig({ overrides: [parseSet("model.routing.router=stochastic")] });
    const cost = (v: typeof learned) => (typeof v.routerCost === "function" ? v.routerCost(1) : v.routerCost);
    expect(cost(learned)).toEqual({ params: 128 + (128 * 64 + 64 + 64 + 1), flopsPerToken: 256, predictorFlopsPerToken: 2 * (128 * 64 + 64) });
    expect(cost(stochastic)).toEqual({ params: 0, flopsPerToken: 0 });
  });

  it("rejects unknown keys at every level, __proto__ and constructor included", () => {
    expect(() => loadConfig({ overrides: [parseSet("model.routing.capacty=0.5")] })).toThrow(/model\.routing\.capacty: unknown field \(known: blocks, capacity/);
    expect(() => loadConfig({ overrides: [parseSet("model.routing.predictor.hiden=4")] })).toThrow(/model\.routing\.predictor\.hiden: unknown field/);
    expect(() => loadConfig({ overrides: [parseSet("model.dmodel=4")] })).toThrow(/model: unknown field\(s\) "dmodel"/);
    expect(() => loadConfig({ overrides: [parseSet("data.sorce=x")] })).toThrow(/data: unknown field\(s\) "sorce"/);
    expect(() => loadConfig({ overrides: [parseSet("output.folder=x")] })).toThrow(/output: unknown field\(s\) "folder"/);
    expect(() => loadConfig({ overrides: [parseSet("colour=1")] })).toThrow(/unknown field\(s\) "colour"/);
    for (const bad of ["__proto__.x=1", "model.__proto__.dModel=8", "model.routing.constructor=1", "training.prototype.x=1"]) {
      expect(() => parseSet(bad), bad).toThrow(/--set: .* is not a config field path/);
    }
    // As JSON.parse and YAML make them: own keys, which an assignment would turn into a prototype.
    const proto = JSON.parse('{"model": {"routing": {"__proto__": {"capacity": 0.5}}}}') as unknown;
    expect(() => loadConfig({ overrides: [proto] })).toThrow(/model\.routing\.__proto__: not allowed as a config field/);
    expect(() => loadConfig({ overrides: [{ training: { constructor: { steps: 1 } } }] })).toThrow(/training\.constructor: not allowed/);
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-config-"));
    writeFileSync(join(dir, "a.json"), '{"__proto__": {"backend": "cpu"}}');
    expect(() => readConfigFile(join(dir, "a.json"))).toThrow(/__proto__: not allowed as a config field/);
    writeFileSync(join(dir, "b.yaml"), "model:\n  routing:\n    __proto__: { capacity: 0.5 }\n");
    expect(() => loadConfig({ file: join(dir, "b.yaml") })).toThrow(/__proto__/);
    expect(({} as Record<string, unknown>).capacity).toBeUndefined(); // nothing reached Object.prototype
  });

  it("clamps a preset's warmup to a short run with a note; a warmup the user set is validated", () => {
    const v = loadConfig({ overrides: [{ training: { steps: 10 } }] });
    expect(v.config.training.warmupSteps).toBe(10);
    expect(v.notes).toEqual(["note: training.warmupSteps 100 (preset quick) clamped to training.steps 10"]);
    expect(loadConfig({ overrides: [{ training: { steps: 150 } }] }).notes).toEqual([]);
    expect(() => loadConfig({ overrides: [{ training: { steps: 10, warmupSteps: 15 } }] })).toThrow(/training\.warmupSteps: must be <= training\.steps \(got 15\)/);
  });

  it("plugins: a list; relative paths in a config file are relative to that file", () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-config-"));
    writeFileSync(join(dir, "c.yaml"), "plugins: [./my-router.mjs, /abs/r.mjs, some-package]\n");
    expect(readConfigFile(join(dir, "c.yaml"))).toEqual({ plugins: [join(dir, "my-router.mjs"), "/abs/r.mjs", "some-package"] });
    expect(assembleConfig({ file: join(dir, "c.yaml") }).raw.plugins).toEqual([join(dir, "my-router.mjs"), "/abs/r.mjs", "some-package"]);
    expect(() => validateConfig({ ...structuredClone(PRESETS.quick), plugins: "x" })).toThrow(/plugins: Expected array/);
  });

  it("a router kind whose declared cost throws is a config error naming the kind and block (not an internal error later)", () => {
    registerRouter("costly", createLearnedRouter, { override: true, cost: (c) => { if (c.layerIndex === 1) throw new Error("no cost for you"); return { params: 0, flopsPerToken: 0 }; } });
    try {
      const load = () => loadConfig({ overrides: [parseSet("model.routing.router=costly")] });
      expect(load).toThrow(ConfigInvalid);
      expect(load).toThrow(/model\.routing\.router: the router's declared cost threw for block 1: no cost for you \(got "costly"\)/);
    } finally {
      unregisterRouter("costly");
    }
  });
});
