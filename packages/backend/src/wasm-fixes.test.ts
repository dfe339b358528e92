// The browser-safe entry: @mixdepth/backend/wasm-fixes reaches no Node built-in, in its
// sources and in the built files a bundler would take; it installs the same three fixes that
// setupBackend does, sharing their state with the Node entry.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { setupBackend } from "./setup-backend.js";
import { installWasmFixes, uninstallWasmFixes, wasmCopyFixInstalled, wasmMatMulFixInstalled, wasmSumFixInstalled } from "./wasm-fixes.js";

const pkgDir = new URL("../", import.meta.url).pathname;
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Every module specifier `file` reaches: relative ones followed, the rest returned. */
function externalImports(file: string, resolveRelative: (from: string, spec: string) => string): Set<string> {
  const seen = new Set<string>();
  const out = new Set<string>();
  const visit = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    const text = readFileSync(f, "utf8");
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["']([^"']+)["']/g)) {
      const spec = m[1]!;
      if (spec.startsWith(".")) visit(resolveRelative(f, spec));
      else out.add(spec);
    }
  };
  visit(file);
  return out;
}

describe("@mixdepth/backend/wasm-fixes", () => {
  it("imports no Node built-in, from its sources or its built ESM and CJS files", () => {
    const src = externalImports(join(pkgDir, "src", "wasm-fixes.ts"), (from, spec) => join(dirname(from), spec.replace(/\.js$/, ".ts")));
    expect([...src]).toEqual(["@tensorflow/tfjs"]);
    // The guard can fail: the Node entry's sources do reach Node built-ins.
    const index = externalImports(join(pkgDir, "src", "index.ts"), (from, spec) => join(dirname(from), spec.replace(/\.js$/, ".ts")));
    expect([...index].filter((s) => BUILTINS.has(s)).length).toBeGreaterThan(0);
    for (const built of ["wasm-fixes.js", "wasm-fixes.cjs"]) {
      const file = join(pkgDir, "dist", built);
      expect(existsSync(file), `${file} (run the build first)`).toBe(true);
      const reached = externalImports(file, (from, spec) => join(dirname(from), spec));
      expect([...reached].filter((s) => BUILTINS.has(s)), built).toEqual([]);
      expect([...reached].every((s) => s.startsWith("@tensorflow/")), built).toBe(true);
    }
  });

  it("installs the three fixes setupBackend installs, and removes them", async () => {
    const viaSetup = await setupBackend({ backend: "wasm" });
    uninstallWasmFixes();
    expect([wasmMatMulFixInstalled(), wasmCopyFixInstalled(), wasmSumFixInstalled()]).toEqual([false, false, false]);
    expect(installWasmFixes()).toEqual(viaSetup.fixes);
    expect([wasmMatMulFixInstalled(), wasmCopyFixInstalled(), wasmSumFixInstalled()]).toEqual([true, true, true]);
    expect(installWasmFixes()).toEqual(viaSetup.fixes); // again: nothing changes
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const y = tf.matMul(x, x, false, true); // through the fixed kernel
    expect(Array.from(await y.data())).toEqual([14, 32, 32, 77]);
    tf.dispose([x, y]);
    uninstallWasmFixes();
    expect([wasmMatMulFixInstalled(), wasmCopyFixInstalled(), wasmSumFixInstalled()]).toEqual([false, false, false]);
    await setupBackend({ backend: "cpu" });
  });

  it("built: the subpath and the Node entry share one state", async () => {
    const code = `import * as tf from "@tensorflow/tfjs";
import { setupBackend, wasmMatMulFixInstalled } from "@mixdepth/backend";
import { installWasmFixes } from "@mixdepth/backend/wasm-fixes";
await setupBackend({ backend: "wasm", wasmFixes: false });
console.log(wasmMatMulFixInstalled(), installWasmFixes().length, wasmMatMulFixInstalled(), tf.getBackend());`;
    const { stdout } = await promisify(execFile)("node", ["--input-type=module", "-e", code], { cwd: pkgDir });
    expect(stdout.trim()).toBe("false 3 true wasm");
  });
});
