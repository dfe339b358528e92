// The CLI's backend flag, end to end through the built entry point (`pnpm build` first).
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const run = async (args: string[]) => {
  try {
    const { stdout, stderr } = await promisify(execFile)("node", [cli, ...args], { env: { ...process.env, MIXDEPTH_BACKEND: "" } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
};

describe("mixdepth --backend", () => {
  it.each(["cpu", "wasm"])("runs on %s and prints the backend line", async (name) => {
    const res = await run(["info", "--backend", name]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(new RegExp(`^backend: ${name} via `, "m"));
  });

  it("auto says which backend runs and why the others were skipped", async () => {
    const res = await run(["info", "--backend", "auto"]);
    expect(res.code).toBe(0);
    const line = res.stdout.split("\n").find((l) => l.startsWith("backend: "));
    expect(line).toBeDefined();
    if (!line!.startsWith("backend: tensorflow")) expect(line).toMatch(/skipped @tensorflow\/tfjs-node-gpu: \S/);
  });

  it("an explicit tensorflow request that cannot load exits non-zero with the reason", async () => {
    const res = await run(["info", "--backend", "tensorflow"]);
    if (res.code === 0) {
      expect(res.stdout).toMatch(/^backend: tensorflow via /m); // native binding present on this machine
    } else {
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/backend "tensorflow" cannot be loaded: skipped @tensorflow\/tfjs-node-gpu: .+/);
    }
  });

  it("rejects an unknown backend with exit code 2, naming the flag and value", async () => {
    const res = await run(["info", "--backend", "tpu"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--backend.*"tpu"/);
  });
});
