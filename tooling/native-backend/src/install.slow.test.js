// The offline path for real: a copy of this workspace's @tensorflow/tfjs-node-gpu in a scratch
// workspace, its binding built by `install.js --from-pip` against the tensorflow-cpu wheel of
// pip's wheel store (extracted once into the shared cache, ~/.cache/mixdepth/native, and reused
// after), then loaded in a fresh Node. Where pip cannot provide the wheel and the cache has no
// copy, it says so in one line and skips.
import { execFile } from "node:child_process";
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, realpathSync, symlinkSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { findNativePackages } from "./install.js";

const SCRIPT = fileURLToPath(new URL("./install.js", import.meta.url));
const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

/** A scratch pnpm layout holding a copy of the package (no lib/, build folders or deps/) and links to its dependencies. */
function scratchCopy(pkg, root) {
  const storeEntry = join(pkg.dir, "..", "..");
  const entry = join(root, "node_modules", ".pnpm", storeEntry.split("/").at(-2) ?? "pkg", "node_modules");
  const linkAll = (from, to) => {
    mkdirSync(to, { recursive: true });
    for (const name of readdirSync(from)) {
      const src = join(from, name);
      if (name.startsWith("@") && !lstatSync(src).isSymbolicLink()) linkAll(src, join(to, name));
      else if (realpathSync(src) === realpathSync(pkg.dir)) {
        cpSync(src, join(to, name), { recursive: true, filter: (f) => !/\/(lib|deps|build|build-tmp-[^/]+)$/.test(f) });
      } else symlinkSync(realpathSync(src), join(to, name));
    }
  };
  linkAll(storeEntry, entry);
  return join(entry, ...pkg.name.split("/"));
}

let scratch;
afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe("pnpm native:install --from-pip, for real", () => {
  it("builds the binding against the wheel store's TensorFlow and loads it as the tensorflow backend", async (ctx) => {
    const pkg = findNativePackages(ROOT)[0];
    if (!pkg) {
      console.log("native backend slow test: skipped, no @tensorflow/tfjs-node(-gpu) installed in this workspace");
      ctx.skip();
    }
    scratch = await mkdtemp(join(tmpdir(), "native-real-"));
    const copy = scratchCopy(pkg, scratch);
    expect(existsSync(join(copy, "binding.gyp"))).toBe(true);
    expect(existsSync(join(copy, "lib"))).toBe(false);
    const res = await new Promise((done) => execFile(process.execPath, [SCRIPT, "--from-pip", "--root", scratch], { maxBuffer: 1 << 24, timeout: 15 * 60_000 }, (err, stdout, stderr) => done({ code: err ? err.code : 0, stdout, stderr })));
    process.stdout.write(res.stdout);
    if (res.code !== 0 && /pip could not provide|needs python3 with pip/.test(res.stdout)) {
      console.log(`native backend slow test: skipped, the wheel store is unreachable (${res.stdout.trim().split("\n").at(-1)})`);
      ctx.skip();
    }
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.stdout.trim().split("\n").at(-1)).toMatch(new RegExp(`^native backend: ${pkg.name.replace("/", "\\/")} built against TensorFlow 2\\.21\\.0 from tensorflow_cpu-2\\.21\\.0-\\S+\\.whl; loads as "tensorflow" on the (CPU|GPU)`));
    expect(lstatSync(join(copy, "deps")).isSymbolicLink()).toBe(true); // the shared folder, not a copy
    expect(readdirSync(join(copy, "lib")).some((d) => existsSync(join(copy, "lib", d, "tfjs_binding.node")))).toBe(true);
  }, 16 * 60_000);
});
