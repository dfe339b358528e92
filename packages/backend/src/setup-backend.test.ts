import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { BackendError } from "./backend-choice.js";
import { setupBackend } from "./setup-backend.js";
import { wasmCopyFixInstalled } from "./wasm-copy.js";
import { wasmMatMulFixInstalled } from "./wasm-matmul.js";
import { wasmSumFixInstalled } from "./wasm-sum.js";

describe("setupBackend", () => {
  it("loads cpu and wasm when asked explicitly; the wasm fix follows the backend", async () => {
    const lines: string[] = [];
    const wasm = await setupBackend({ backend: "wasm", log: (l) => lines.push(l) });
    expect(tf.getBackend()).toBe("wasm");
    expect(wasm.fixes).toEqual(["matmuls on XNNPACK (transposed, batched)", "slice/split/concat copy runs in place", "sums over leading axes on XNNPACK"]);
    expect(wasmMatMulFixInstalled()).toBe(true);
    expect(wasmCopyFixInstalled()).toBe(true);
    expect(wasmSumFixInstalled()).toBe(true);
    const cpu = await setupBackend({ backend: "CPU", log: (l) => lines.push(l) });
    expect(cpu.name).toBe("cpu");
    expect(tf.getBackend()).toBe("cpu");
    expect(wasmMatMulFixInstalled()).toBe(false);
    expect(wasmCopyFixInstalled()).toBe(false);
    expect(wasmSumFixInstalled()).toBe(false);
    expect(lines).toEqual(["backend: wasm (wasm)", "backend: cpu (cpu)"]);
    expect(wasm.details).toBe("backend: wasm (wasm) via @tensorflow/tfjs-backend-wasm; fix: matmuls on XNNPACK (transposed, batched); fix: slice/split/concat copy runs in place; fix: sums over leading axes on XNNPACK");
  });

  it("wasmFixes: false leaves tfjs' kernels in place", async () => {
    const got = await setupBackend({ backend: "wasm", wasmFixes: false });
    expect(got.fixes).toEqual([]);
    expect(wasmMatMulFixInstalled()).toBe(false);
    expect(wasmCopyFixInstalled()).toBe(false);
    expect(wasmSumFixInstalled()).toBe(false);
  });

  it("auto picks the fastest loadable backend: one short line, the reasons in details", async () => {
    const got = await setupBackend();
    // This machine has no libtensorflow (no network at install), so auto lands on wasm.
    expect(["tensorflow", "wasm"]).toContain(got.name);
    expect(got.line).toBe(`backend: ${got.name} (auto)`);
    for (const s of got.skipped) expect(got.details).toContain(`skipped ${s.name}: ${s.reason}`);
    if (got.name === "wasm") expect(got.skipped.map((s) => s.name)).toEqual(["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]);
  });

  it("rejects an unknown name before touching the backend", async () => {
    await setupBackend({ backend: "cpu" });
    await expect(setupBackend({ backend: "gpu" })).rejects.toThrow('backend: unknown backend "gpu"; expected one of auto, tensorflow, wasm, cpu');
    expect(tf.getBackend()).toBe("cpu");
  });

  it("an explicit tensorflow request never falls back silently", async () => {
    const before = tf.getBackend();
    try {
      const got = await setupBackend({ backend: "tensorflow" });
      expect(got.name).toBe("tensorflow"); // a machine where the native binding loads
    } catch (err) {
      expect(err).toBeInstanceOf(BackendError);
      expect((err as Error).message).toMatch(/backend "tensorflow" cannot be loaded: skipped @tensorflow\/tfjs-node-gpu: .+; skipped @tensorflow\/tfjs-node: /);
      expect(tf.getBackend()).toBe(before);
    }
  });
});
