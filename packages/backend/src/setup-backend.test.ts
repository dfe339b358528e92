import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { BackendError } from "./backend-choice.js";
import { describeNative, setupBackend } from "./setup-backend.js";
import { wasmCopyFixInstalled } from "./wasm-copy.js";
import { wasmMatMulFixInstalled } from "./wasm-matmul.js";
import { wasmSumFixInstalled } from "./wasm-sum.js";

// The app in this workspace that lists @tensorflow/tfjs-node-gpu (this package does not).
const TRAINER = new URL("../../../apps/trainer/", import.meta.url).pathname;

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
    if (got.name === "tensorflow") {
      // The real library, not just the package name: tfjs-node-gpu built against a CPU-only TensorFlow says CPU.
      expect(got.native?.tfVersion).toMatch(/^\d+\.\d+\.\d+/);
      expect(got.line).toBe(`backend: tensorflow (auto) on TensorFlow ${got.native?.tfVersion} ${got.native?.device}`);
      expect(got.details).toContain(`${got.line} via ${got.provider}`);
    } else {
      expect(got.native).toBeNull();
      expect(got.line).toBe(`backend: ${got.name} (auto)`);
    }
    for (const s of got.skipped) expect(got.details).toContain(`skipped ${s.name}: ${s.reason}`);
    if (got.name === "wasm") expect(got.skipped.map((s) => s.name)).toEqual(["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]);
  });

  it("names the native library that runs: package, TensorFlow version, CPU or GPU", () => {
    expect(describeNative({ package: "@tensorflow/tfjs-node-gpu", tfVersion: "2.21.0", device: "CPU" })).toBe(
      "@tensorflow/tfjs-node-gpu (TensorFlow 2.21.0, CPU: the GPU package, running on the CPU (no GPU device, or a CPU-only TensorFlow library))",
    );
    expect(describeNative({ package: "@tensorflow/tfjs-node-gpu", tfVersion: "2.9.1", device: "GPU" })).toBe("@tensorflow/tfjs-node-gpu (TensorFlow 2.9.1, GPU)");
    expect(describeNative({ package: "@tensorflow/tfjs-node", tfVersion: "2.21.0", device: "CPU" })).toBe("@tensorflow/tfjs-node (TensorFlow 2.21.0, CPU)");
  });

  it("rejects an unknown name before touching the backend", async () => {
    await setupBackend({ backend: "cpu" });
    await expect(setupBackend({ backend: "gpu" })).rejects.toThrow('backend: unknown backend "gpu"; expected one of auto, tensorflow, wasm, cpu');
    expect(tf.getBackend()).toBe("cpu");
  });

  it("an explicit tensorflow request never falls back silently", async () => {
    const before = tf.getBackend();
    try {
      const got = await setupBackend({ backend: "tensorflow", resolveFrom: [TRAINER] });
      expect(got.name).toBe("tensorflow"); // a machine where the native binding loads (pnpm native:install --from-pip)
      expect(got.native?.package).toBe(got.provider);
      expect(got.details).toMatch(/^backend: tensorflow \(tensorflow\) on TensorFlow \S+ (CPU|GPU) via @tensorflow\/tfjs-node(-gpu)?(; the GPU package, running on the CPU \(no GPU device, or a CPU-only TensorFlow library\))?(;|$)/);
    } catch (err) {
      expect(err).toBeInstanceOf(BackendError);
      expect((err as Error).message).toMatch(/backend "tensorflow" cannot be loaded: skipped @tensorflow\/tfjs-node-gpu: .+; skipped @tensorflow\/tfjs-node: /);
      expect(tf.getBackend()).toBe(before);
    }
  });
});
