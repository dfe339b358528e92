// The README's Node setup, run as a user would: a plain Node script that imports the built
// package and lands on wasm (no native TensorFlow resolvable from this package), or on the native
// backend where one is, never on cpu. And
// every package README carries the Node setup paragraph with the call.
import { execFile } from "node:child_process";
import { readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const pkgDir = new URL("../", import.meta.url).pathname;
const readme = readFileSync(join(pkgDir, "README.md"), "utf8");
const jsBlocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe("README", () => {
  it("Node setup: the script from the README runs on wasm (or native where it loads), not cpu", async () => {
    const script = join(pkgDir, `.readme-node-setup-${process.pid}.mjs`); // inside the package: "@mixdepth/backend" resolves to itself
    writeFileSync(script, jsBlocks[0]!);
    try {
      const { stdout } = await promisify(execFile)("node", [script], { cwd: pkgDir });
      const last = stdout.trim().split("\n").at(-1);
      // Native only where tfjs-node(-gpu) resolves from here and its binding is built; then the line names the library.
      if (last?.startsWith("backend: tensorflow")) expect(last).toMatch(/^backend: tensorflow \(auto\) on TensorFlow \S+ (CPU|GPU) tensorflow$/);
      else expect(last).toBe("backend: wasm (auto) wasm");
    } finally {
      rmSync(script, { force: true });
    }
  });

  it("every package README has a Node setup paragraph with the call (tensor-free packages aside)", () => {
    const packages = join(pkgDir, "..");
    // @mixdepth/text: tokenizers, no tensors, no backend to set up. An exempt package must
    // indeed not depend on TensorFlow.js, so the exemption cannot hide one that does.
    const NO_TENSORS = new Set(["text"]);
    for (const name of NO_TENSORS) expect(readFileSync(join(packages, name, "package.json"), "utf8"), name).not.toMatch(/"@tensorflow\//);
    const checked = readdirSync(packages).filter((n) => !NO_TENSORS.has(n));
    expect(checked.length).toBeGreaterThanOrEqual(8);
    for (const name of checked) {
      const text = readFileSync(join(packages, name, "README.md"), "utf8");
      expect(text, name).toMatch(/^## Node setup$/m);
      expect(text, name).toContain("setupBackend");
    }
  });
});
