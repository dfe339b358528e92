// The native-backend postinstall against fake native packages in a fake pnpm store: offline
// it prints one line (not the install script's stack trace) and keeps the trace in the log;
// online it reports the built addon; an addon already built is not rebuilt.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { addonBuilt, findNativePackages, installNative, reasonOf } from "./install.js";

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL("./install.js", import.meta.url));

// What @tensorflow/tfjs-node-gpu's install script prints offline (abridged, same shape).
const OFFLINE = `
console.log("GPU-linux-4.22.0.tar.gz");
console.warn("* Downloading libtensorflow");
const e = new Error("getaddrinfo ENOTFOUND storage.googleapis.com");
e.code = "ENOTFOUND"; e.hostname = "storage.googleapis.com";
console.error(e); console.error("    at GetAddrInfoReqWrap.onlookupall (node:dns:122:26)");
process.exit(1);
`;
const ONLINE = `
const fs = require("node:fs");
fs.mkdirSync("lib/napi-v8", { recursive: true });
fs.writeFileSync("lib/napi-v8/tfjs_binding.node", "");
console.log("* Building TensorFlow Node.js bindings");
`;
const MARK = `require("node:fs").writeFileSync("ran", ""); process.exit(1);`;

let roots = [];
afterEach(async () => {
  await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
  roots = [];
});

async function fakeWorkspace(name, script, { built = false } = {}) {
  const root = await mkdtemp(join(tmpdir(), "native-install-"));
  roots.push(root);
  const store = name === "@tensorflow/tfjs-node-gpu" ? "@tensorflow+tfjs-node-gpu@4.22.0_seedrandom@3.0.5" : "@tensorflow+tfjs-node@4.22.0";
  const dir = join(root, "node_modules", ".pnpm", store, "node_modules", ...name.split("/"));
  await mkdir(join(dir, "scripts"), { recursive: true });
  await writeFile(join(dir, "package.json"), JSON.stringify({ name, version: "4.22.0" }));
  await writeFile(join(dir, "scripts", "install.js"), script);
  if (built) {
    await mkdir(join(dir, "lib", "napi-v8"), { recursive: true });
    await writeFile(join(dir, "lib", "napi-v8", "tfjs_binding.node"), "");
  }
  return { root, dir, log: join(root, "node_modules", ".cache", "mixdepth", "native-backend.log") };
}

describe("native backend postinstall", () => {
  it("offline: one line naming the cause, exit 0 as postinstall, the trace only in the log", async () => {
    const ws = await fakeWorkspace("@tensorflow/tfjs-node-gpu", OFFLINE);
    expect(findNativePackages(ws.root).map((p) => p.name)).toEqual(["@tensorflow/tfjs-node-gpu"]);
    const { stdout, stderr } = await run(process.execPath, [SCRIPT, "--postinstall", "--root", ws.root]);
    expect(stderr).toBe("");
    const lines = stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^native backend: @tensorflow\/tfjs-node-gpu not installed, could not download libtensorflow \(ENOTFOUND storage\.googleapis\.com: no network\?\); the apps use wasm or cpu instead\. Log: node_modules\/\.cache\/mixdepth\/native-backend\.log\. Retry online with `pnpm native:install`, or offline from a local TensorFlow: `pnpm native:install --from-pip` \(or --from-wheel <file> \/ --from-dir <dir>\)\.$/);
    expect(await readFile(ws.log, "utf8")).toMatch(/GetAddrInfoReqWrap/);
    // Asked for explicitly (`pnpm native:install`), the same failure is an error.
    await expect(run(process.execPath, [SCRIPT, "--root", ws.root])).rejects.toMatchObject({ code: 1 });
  });

  it("online: runs the package's script and reports the built addon", async () => {
    const ws = await fakeWorkspace("@tensorflow/tfjs-node", ONLINE);
    expect(addonBuilt(ws.dir)).toBe(false);
    const res = await installNative({ root: ws.root, log: ws.log });
    expect(res).toEqual({ ok: true, lines: ["native backend: @tensorflow/tfjs-node installed (libtensorflow downloaded, addon built)"] });
    expect(addonBuilt(ws.dir)).toBe(true);
  });

  it("an addon already built is left alone; MIXDEPTH_NATIVE=0 skips silently", async () => {
    const ws = await fakeWorkspace("@tensorflow/tfjs-node-gpu", MARK, { built: true });
    expect(await installNative({ root: ws.root, log: ws.log })).toEqual({ ok: true, lines: ["native backend: @tensorflow/tfjs-node-gpu ready"] });
    expect(existsSync(join(ws.dir, "ran"))).toBe(false);
    const skip = await fakeWorkspace("@tensorflow/tfjs-node-gpu", MARK);
    const { stdout } = await run(process.execPath, [SCRIPT, "--postinstall", "--root", skip.root], { env: { ...process.env, MIXDEPTH_NATIVE: "0" } });
    expect(stdout).toBe("");
    expect(existsSync(join(skip.dir, "ran"))).toBe(false);
  });

  it("names a non-network failure by its last error line", () => {
    expect(reasonOf("gyp info ok\ngyp ERR! build error\nnode-pre-gyp install failed with error: 1\n")).toBe("node-pre-gyp install failed with error: 1");
  });
});
