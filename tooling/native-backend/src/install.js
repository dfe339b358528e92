#!/usr/bin/env node
// The native TensorFlow backend for the workspace, installed without noise.
//
// `@tensorflow/tfjs-node-gpu` (and `@tensorflow/tfjs-node`) download libtensorflow from
// storage.googleapis.com in their install script. Offline, that script dies with a
// 20-line stack trace in the middle of `pnpm install`, although nothing is wrong: the apps
// fall back to wasm or cpu. So the root package.json tells pnpm not to run those scripts
// (`pnpm.ignoredBuiltDependencies`) and runs this one as its `postinstall` instead: for each
// native package installed in the workspace whose addon is not built yet, it runs the
// package's own install script with the output captured, and prints one line saying what
// happened. The full output goes to a log file. With internet the result is the same as
// before (the script downloads libtensorflow and the prebuilt addon); without, one line.
//
//   node tooling/native-backend/src/install.js --postinstall   never fails the install
//   pnpm native:install                                         retry; exit 1 on failure
//   MIXDEPTH_NATIVE=0                                           skip entirely
//   --root <dir>                                                another workspace (tests)
import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { delimiter, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Native tfjs packages and the argument their install script takes. */
export const NATIVE_PACKAGES = [
  { name: "@tensorflow/tfjs-node-gpu", store: "@tensorflow+tfjs-node-gpu@", libType: "gpu" },
  { name: "@tensorflow/tfjs-node", store: "@tensorflow+tfjs-node@", libType: "cpu" },
];

/** Installed copies of the native packages in a pnpm workspace: `{ name, libType, dir }`. */
export function findNativePackages(root) {
  const store = join(root, "node_modules", ".pnpm");
  if (!existsSync(store)) return [];
  const out = [];
  for (const entry of readdirSync(store).sort()) {
    const pkg = NATIVE_PACKAGES.find((p) => entry.startsWith(p.store));
    if (!pkg) continue;
    const dir = join(store, entry, "node_modules", ...pkg.name.split("/"));
    if (existsSync(join(dir, "package.json"))) out.push({ name: pkg.name, libType: pkg.libType, dir });
  }
  return out;
}

/** Whether the package's native addon has been built (`lib/napi-v<N>/tfjs_binding.node`). */
export function addonBuilt(dir) {
  const lib = join(dir, "lib");
  if (!existsSync(lib)) return false;
  return readdirSync(lib).some((d) => d.startsWith("napi-v") && existsSync(join(lib, d, "tfjs_binding.node")));
}

/** The one-line reason behind a failed install script's output. */
export function reasonOf(output) {
  const net = /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH)\b[^\n]*/.exec(output);
  if (net) {
    const host = /hostname: '([^']+)'/.exec(output)?.[1] ?? /getaddrinfo \w+ (\S+)/.exec(output)?.[1];
    return `could not download libtensorflow (${net[1]}${host ? ` ${host}` : ""}: no network?)`;
  }
  const line = output.split("\n").map((l) => l.trim()).filter((l) => /error|fail/i.test(l)).pop();
  return line ? line.slice(0, 160) : "its install script failed";
}

function run(cmd, args, options) {
  return new Promise((done) => {
    execFile(cmd, args, { ...options, maxBuffer: 1 << 26 }, (err, stdout, stderr) => {
      done({ ok: !err, output: `${stdout}${stderr}${err && !stderr ? String(err) : ""}` });
    });
  });
}

/**
 * Builds every installed native package whose addon is missing. Returns one line per
 * package (what happened) and whether all succeeded. `log` is where full outputs go.
 */
export async function installNative({ root, log, env = process.env, timeoutMs = 20 * 60_000 }) {
  const lines = [];
  let ok = true;
  for (const pkg of findNativePackages(root)) {
    if (addonBuilt(pkg.dir)) {
      lines.push(`native backend: ${pkg.name} ready`);
      continue;
    }
    // The script calls `node-pre-gyp` through the shell, as a package manager would run it.
    const bins = [join(pkg.dir, "node_modules", ".bin")];
    try {
      const req = createRequire(join(pkg.dir, "package.json"));
      bins.push(join(dirname(req.resolve("@mapbox/node-pre-gyp/package.json")), "bin"));
    } catch {
      // Not resolvable: the script will say so, and the line below reports it.
    }
    const res = await run(process.execPath, ["scripts/install.js", pkg.libType, "download"], {
      cwd: pkg.dir,
      env: { ...env, PATH: [...bins, env.PATH ?? ""].join(delimiter) },
      timeout: timeoutMs,
    });
    await mkdir(dirname(log), { recursive: true });
    await writeFile(log, `$ ${pkg.name}: node scripts/install.js ${pkg.libType} download\n${res.output}\n`, { flag: "a" });
    if (res.ok && addonBuilt(pkg.dir)) {
      lines.push(`native backend: ${pkg.name} installed (libtensorflow downloaded, addon built)`);
    } else {
      ok = false;
      lines.push(
        `native backend: ${pkg.name} not installed, ${reasonOf(res.output)}; the apps use wasm or cpu instead. ` +
          `Log: ${relative(root, log)}. Retry online with \`pnpm native:install\`.`,
      );
    }
  }
  return { ok, lines };
}

async function main() {
  const postinstall = process.argv.includes("--postinstall");
  if (process.env.MIXDEPTH_NATIVE === "0") {
    if (!postinstall) console.log("native backend: skipped (MIXDEPTH_NATIVE=0)");
    return;
  }
  const at = process.argv.indexOf("--root");
  const root = at > 0 && process.argv[at + 1] ? resolve(process.argv[at + 1]) : resolve(fileURLToPath(new URL("../../..", import.meta.url)));
  const log = join(root, "node_modules", ".cache", "mixdepth", "native-backend.log");
  const { ok, lines } = await installNative({ root, log });
  for (const line of lines) console.log(line);
  if (!ok && !postinstall) process.exitCode = 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.log(`native backend: not installed (${err instanceof Error ? err.message : String(err)})`);
    if (!process.argv.includes("--postinstall")) process.exitCode = 1;
  });
}
