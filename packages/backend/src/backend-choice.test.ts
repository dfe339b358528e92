import { describe, expect, it } from "vitest";
import { BackendChoiceError, BackendError, parseBackendChoice, resolveBackendChoice } from "./backend-choice.js";

describe("parseBackendChoice", () => {
  it("accepts the four choices, case-insensitively, and defaults to auto", () => {
    expect(parseBackendChoice("WASM")).toBe("wasm");
    expect(parseBackendChoice(undefined)).toBe("auto");
  });
  it("names the field and the bad value", () => {
    expect(() => parseBackendChoice("gpu", "MIXDEPTH_BACKEND")).toThrow(/MIXDEPTH_BACKEND: unknown backend "gpu"; expected one of auto, tensorflow, wasm, cpu/);
    expect(() => parseBackendChoice("gpu", "MIXDEPTH_BACKEND")).toThrow(BackendChoiceError);
    expect(new BackendChoiceError("x")).toBeInstanceOf(BackendError);
  });
});

describe("resolveBackendChoice: flag > MIXDEPTH_BACKEND > config > preset > auto", () => {
  const all = { flag: "cpu", env: { MIXDEPTH_BACKEND: "wasm" }, config: "tensorflow", preset: "auto" };
  it("takes the first place that has a value", () => {
    expect(resolveBackendChoice(all)).toEqual({ choice: "cpu", source: "--backend" });
    expect(resolveBackendChoice({ ...all, flag: undefined })).toEqual({ choice: "wasm", source: "MIXDEPTH_BACKEND" });
    expect(resolveBackendChoice({ ...all, flag: undefined, env: {} })).toEqual({ choice: "tensorflow", source: "config" });
    expect(resolveBackendChoice({ ...all, flag: undefined, env: { MIXDEPTH_BACKEND: "" }, config: undefined })).toEqual({ choice: "auto", source: "preset" });
    expect(resolveBackendChoice({ env: {} })).toEqual({ choice: "auto", source: "default" });
  });
  it("reads process.env when no env is given", () => {
    const before = process.env.MIXDEPTH_BACKEND;
    process.env.MIXDEPTH_BACKEND = "cpu";
    try {
      expect(resolveBackendChoice({ config: "wasm" })).toEqual({ choice: "cpu", source: "MIXDEPTH_BACKEND" });
    } finally {
      if (before === undefined) delete process.env.MIXDEPTH_BACKEND;
      else process.env.MIXDEPTH_BACKEND = before;
    }
  });
  it("validates the environment with the flag's message, even under a flag", () => {
    expect(() => resolveBackendChoice({ env: { MIXDEPTH_BACKEND: "gpu" } })).toThrow('MIXDEPTH_BACKEND: unknown backend "gpu"; expected one of auto, tensorflow, wasm, cpu');
    expect(() => resolveBackendChoice({ flag: "cpu", env: { MIXDEPTH_BACKEND: "gpu" } })).toThrow(/MIXDEPTH_BACKEND: unknown backend "gpu"/);
    expect(() => resolveBackendChoice({ env: {}, config: "tpu" })).toThrow(/backend \(config\): unknown backend "tpu"/);
  });
});
