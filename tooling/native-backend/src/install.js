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
// Offline and air-gapped, from a local TensorFlow instead of the download (./offline-install.js):
//   pnpm native:install --from-wheel <tensorflow*.whl>          a TensorFlow Python wheel
//   pnpm native:install --from-pip [--tf-version 2.21.0]        the tensorflow-cpu wheel from pip's index or wheel store
//   pnpm native:install --from-dir <dir>                        a libtensorflow folder (include/, lib/)
//     with --cache <dir> (shared libraries; default ~/.cache/mixdepth/native), --no-strip, --force
import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { delimiter, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { addonBuilt, defaultCacheDir } from "./local-tf.js";
import { brokenDepsLink, installFromLocal } from "./offline-install.js";

export { addonBuilt };

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
      const gone = brokenDepsLink(pkg.dir);
      if (gone) {
        ok = false;
        lines.push(`native backend: ${pkg.name} built, but its TensorFlow library is gone (deps -> ${gone}); the apps use wasm or cpu instead. Rebuild with \`pnpm native:install --from-pip\` (or --from-wheel / --from-dir).`);
      } else lines.push(`native backend: ${pkg.name} ready`);
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
          `Log: ${relative(root, log)}. Retry online with \`pnpm native:install\`, or offline from a local TensorFlow: \`pnpm native:install --from-pip\` (or --from-wheel <file> / --from-dir <dir>).`,
      );
    }
  }
  return { ok, lines };
}

/** Flags of `pnpm native:install`; throws naming an unknown or incomplete flag. */
export function parseArgs(argv) {
  const opts = { postinstall: false, root: null, from: null, cache: null, strip: true, force: false };
  const value = (i, flag) => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith("--")) throw new Error(`${flag} needs a value`);
    return v;
  };
  const setFrom = (from, flag) => {
    if (opts.from) throw new Error(`${flag}: give one of --from-wheel, --from-pip, --from-dir (got two)`);
    opts.from = from;
  };
  let tfVersion = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--postinstall") opts.postinstall = true;
    else if (a === "--root") opts.root = resolve(value(i++, a));
    else if (a === "--from-wheel") setFrom({ kind: "wheel", path: value(i++, a) }, a);
    else if (a === "--from-dir") setFrom({ kind: "dir", path: value(i++, a) }, a);
    else if (a === "--from-pip") setFrom({ kind: "pip" }, a);
    else if (a === "--tf-version") tfVersion = value(i++, a);
    else if (a === "--cache") opts.cache = resolve(value(i++, a));
    else if (a === "--no-strip") opts.strip = false;
    else if (a === "--force") opts.force = true;
    else throw new Error(`unknown flag ${JSON.stringify(a)} (expected --from-wheel <file>, --from-pip [--tf-version V], --from-dir <dir>, --cache <dir>, --no-strip, --force, --root <dir>)`);
  }
  if (tfVersion !== null) {
    if (opts.from?.kind !== "pip") throw new Error("--tf-version goes with --from-pip");
    if (!/^\d+\.\d+\.\d+$/.test(tfVersion)) throw new Error(`--tf-version: expected a version like 2.21.0 (got ${JSON.stringify(tfVersion)})`);
    opts.from.version = tfVersion;
  }
  if (opts.postinstall && opts.from) throw new Error("--postinstall never builds from a local TensorFlow: run `pnpm native:install --from-...` yourself");
  return opts;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const postinstall = opts.postinstall;
  if (process.env.MIXDEPTH_NATIVE === "0") {
    if (!postinstall) console.log("native backend: skipped (MIXDEPTH_NATIVE=0)");
    return;
  }
  const root = opts.root ?? resolve(fileURLToPath(new URL("../../..", import.meta.url)));
  const log = join(root, "node_modules", ".cache", "mixdepth", "native-backend.log");
  if (opts.from) {
    const cache = opts.cache ?? defaultCacheDir();
    const { ok, lines } = await installFromLocal({ root, packages: findNativePackages(root), from: opts.from, cache, log, strip: opts.strip, force: opts.force, say: (l) => console.log(`native backend: ${l}`) });
    for (const line of lines) console.log(line);
    if (!ok) process.exitCode = 1;
    return;
  }
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
