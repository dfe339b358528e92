// The CLI's backend choice, end to end through the built entry point (`pnpm build` first):
// one precedence (flag, MIXDEPTH_BACKEND, config, preset; @mixdepth/backend), one
// validation message for the flag and the environment, one short printed line.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { run, tinySetup } from "./cli-test-helpers.js";

describe("mixdepth info", () => {
  it.each(["cpu", "wasm"])("runs on %s and prints the details", async (name) => {
    const res = await run(["info", "--backend", name]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(new RegExp(`^backend: ${name} \\(${name}\\) via `, "m"));
    expect(res.stdout).toMatch(/^chosen by: --backend;/m);
    if (name === "wasm") expect(res.stdout).toContain("fix: matmuls on XNNPACK (transposed, batched)");
  });

  it("auto says which backend runs and why the others were skipped", async () => {
    const res = await run(["info"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^chosen by: default;/m);
    if (!/^backend: tensorflow/m.test(res.stdout)) expect(res.stdout).toMatch(/skipped @tensorflow\/tfjs-node-gpu: \S/);
  });

  it("an explicit tensorflow request that cannot load exits non-zero with the reason", async () => {
    const res = await run(["info", "--backend", "tensorflow"]);
    if (res.code === 0) {
      expect(res.stdout).toMatch(/^backend: tensorflow /m); // native binding present on this machine
    } else {
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/backend "tensorflow" cannot be loaded: skipped @tensorflow\/tfjs-node-gpu: .+/);
    }
  });

  it("MIXDEPTH_BACKEND picks the backend when no flag does; the flag wins over it", async () => {
    const env = await run(["info"], { MIXDEPTH_BACKEND: "cpu" });
    expect(env.code).toBe(0);
    expect(env.stdout).toMatch(/^backend: cpu \(cpu\) via /m);
    expect(env.stdout).toMatch(/^chosen by: MIXDEPTH_BACKEND;/m);
    const flag = await run(["info", "--backend", "wasm"], { MIXDEPTH_BACKEND: "cpu" });
    expect(flag.stdout).toMatch(/^backend: wasm \(wasm\) via /m);
  });

  it("rejects an unknown backend from the flag or the environment with exit code 2 and the same message", async () => {
    const flag = await run(["info", "--backend", "gpu"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('--backend: unknown backend "gpu"; expected one of auto, tensorflow, wasm, cpu');
    const env = await run(["info"], { MIXDEPTH_BACKEND: "gpu" });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('error: MIXDEPTH_BACKEND: unknown backend "gpu"; expected one of auto, tensorflow, wasm, cpu');
    expect(env.stderr).not.toMatch(/TypeError/);
  });
});

describe("mixdepth train picks its backend by the same precedence", () => {
  it("MIXDEPTH_BACKEND beats the config; the flag beats MIXDEPTH_BACKEND; one short line", async () => {
    const { dir } = tinySetup();
    const base = ["train", "--config", join(dir, "tiny.yaml"), "--steps", "2", "--set", "backend=wasm"];
    const env = await run([...base, "--out", join(dir, "a")], { MIXDEPTH_BACKEND: "cpu" });
    expect(env.code).toBe(0);
    expect(env.stdout.split("\n").filter((l) => l.startsWith("backend"))).toEqual(["backend: cpu (cpu)"]);
    const flag = await run([...base, "--out", join(dir, "b"), "--backend", "cpu"], { MIXDEPTH_BACKEND: "wasm" });
    expect(flag.stdout).toMatch(/^backend: cpu \(cpu\)$/m);
    const config = await run([...base, "--out", join(dir, "c")]);
    expect(config.stdout).toMatch(/^backend: wasm \(wasm\)$/m);
  });
});
