import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { BackendError, loadBackend, parseBackendChoice } from "./load-backend.js";

describe("parseBackendChoice", () => {
  it("accepts the four choices, case-insensitively, and defaults to auto", () => {
    expect(parseBackendChoice("WASM")).toBe("wasm");
    expect(parseBackendChoice(undefined)).toBe("auto");
  });
  it("names the field and the bad value", () => {
    expect(() => parseBackendChoice("gpu", "MIXDEPTH_BACKEND")).toThrow(/MIXDEPTH_BACKEND: unknown backend "gpu"/);
  });
});

describe("loadBackend", () => {
  it("loads cpu and wasm when asked explicitly", async () => {
    const lines: string[] = [];
    for (const name of ["cpu", "wasm"] as const) {
      const got = await loadBackend(name, { log: (l) => lines.push(l) });
      expect(got.name).toBe(name);
      expect(tf.getBackend()).toBe(name);
    }
    expect(lines).toEqual([
      "backend: cpu via @tensorflow/tfjs (requested cpu)",
      "backend: wasm via @tensorflow/tfjs-backend-wasm (requested wasm)",
    ]);
  });

  it("auto prints one line naming the backend and why each earlier one was skipped", async () => {
    const got = await loadBackend("auto", { log: null });
    expect(["tensorflow", "wasm", "cpu"]).toContain(got.name);
    expect(got.line.split("\n")).toHaveLength(1);
    for (const s of got.skipped) {
      expect(s.reason.length).toBeGreaterThan(0);
      expect(got.line).toContain(`skipped ${s.name}: ${s.reason}`);
    }
    if (got.name !== "tensorflow") expect(got.skipped.map((s) => s.name)).toContain("@tensorflow/tfjs-node-gpu");
  });

  it("an explicit tensorflow request never falls back silently", async () => {
    const before = tf.getBackend();
    try {
      const got = await loadBackend("tensorflow", { log: null });
      expect(got.name).toBe("tensorflow"); // a machine where the native binding loads
    } catch (err) {
      expect(err).toBeInstanceOf(BackendError);
      expect((err as Error).message).toMatch(/backend "tensorflow" cannot be loaded: skipped @tensorflow\/tfjs-node-gpu: /);
      expect(tf.getBackend()).toBe(before);
    }
  });
});
