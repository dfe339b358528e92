// The native backend from a local TensorFlow, for offline and air-gapped installs.
//
// tfjs-node's install script downloads libtensorflow 2.9.1 and a prebuilt binding; where that
// cannot happen, the binding can be built from the sources that ship in the npm package
// (binding.gyp, binding/*.cc) against any TensorFlow that exports the C API. binding.gyp wants,
// inside the package: deps/include/tensorflow/c/{c_api.h,eager/c_api.h} and, on Linux,
// deps/lib/libtensorflow.so + libtensorflow_framework.so, found at run time through the rpath
// $ORIGIN/../../deps/lib. Three sources of that library (../../../shared/docs/platform-notes.md
// has the measured facts):
//   - a TensorFlow Python wheel (`tensorflow-cpu` 2.21 here): its tensorflow/libtensorflow_cc.so.2
//     and libtensorflow_framework.so.2 export the whole C API, and tensorflow/include holds the
//     headers; only those are extracted (2 libraries, the tensorflow/c, ctstring and xla/tsl/c
//     headers), then stripped of debug symbols (853 -> 635 MB);
//   - the same wheel fetched from pip's configured index or wheel store (`pip download`);
//   - a directory: the libtensorflow tarball layout (include/, lib/) or an unpacked wheel's
//     tensorflow/ folder (the libraries at the top, include/ below).
// The result goes into one shared folder per source (the cache, ~/.cache/mixdepth/native by
// default), and each installed copy of tfjs-node(-gpu) gets `deps` as a symlink to it: one
// 600 MiB copy however many packages and checkouts use it.
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { mkdir, rename, rm, symlink, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, delimiter, dirname, join, resolve } from "node:path";

/** Where the shared libraries go: MIXDEPTH_NATIVE_CACHE, else $XDG_CACHE_HOME/mixdepth/native, else ~/.cache/mixdepth/native. */
export function defaultCacheDir(env = process.env) {
  if (env.MIXDEPTH_NATIVE_CACHE) return resolve(env.MIXDEPTH_NATIVE_CACHE);
  return join(env.XDG_CACHE_HOME ? resolve(env.XDG_CACHE_HOME) : join(homedir(), ".cache"), "mixdepth", "native");
}

/** The wheel pip fetches for `--from-pip` unless told otherwise: the CPU build this machine's wheel store carries. */
export const PIP_DEFAULT = { dist: "tensorflow-cpu", version: "2.21.0", pythonVersion: "3.11" };

/** The members of a TensorFlow wheel the binding needs (unzip patterns): the two libraries and the C API headers. */
export const WHEEL_MEMBERS = [
  "tensorflow/libtensorflow_cc.so.2",
  "tensorflow/libtensorflow_framework.so.2",
  "tensorflow/include/tensorflow/c/*",
  "tensorflow/include/tensorflow/core/platform/ctstring*",
  "tensorflow/include/tsl/platform/ctstring*",
  "tensorflow/include/xla/tsl/c/*",
];

/** The headers binding.gyp names; a folder without them cannot build the binding. */
export const REQUIRED_HEADERS = ["tensorflow/c/c_api.h", "tensorflow/c/eager/c_api.h"];

/**
 * What a wheel's file name says (PEP 427: dist-version-python-abi-platform.whl):
 * `{ dist, version, device }`, device "cpu" for a -cpu distribution, else "cpu or gpu".
 * Throws naming the file when it is not a TensorFlow wheel.
 */
export function parseWheelName(file) {
  const name = basename(file);
  const m = /^(tensorflow(?:[_-](?:cpu|gpu|intel|aws))?)-(\d+\.\d+\.\d+[^-]*)-[^-]+-[^-]+-([^-]+)\.whl$/i.exec(name);
  if (!m) throw new Error(`--from-wheel: ${JSON.stringify(name)} is not a TensorFlow wheel (expected tensorflow[-cpu]-<version>-<python>-<abi>-<platform>.whl)`);
  const dist = m[1].toLowerCase().replace("_", "-");
  return { dist, version: m[2], platform: m[3], device: dist.endsWith("-cpu") ? "cpu" : "cpu or gpu" };
}

/** The cache folder name for a source: the wheel's name, or `dir-<hash of its real path>`. */
export function cacheKey(source) {
  if (source.kind === "wheel") return basename(source.path).replace(/\.whl$/, "");
  return `dir-${createHash("sha256").update(realpathSync(source.path)).digest("hex").slice(0, 12)}`;
}

const LIB_RE = /^libtensorflow(_cc|_framework)?\.so(\.\d+)*$/;

/**
 * Finds the libraries and headers in a directory: `<dir>/lib` + `<dir>/include` (the
 * libtensorflow tarball), or the libraries in `<dir>` itself + `<dir>/include` (a wheel's
 * tensorflow/ folder). Returns `{ libDir, includeDir, main, framework, libs }` where `main`
 * is the file the binding links as -ltensorflow (libtensorflow.so[.2], else
 * libtensorflow_cc.so.2). Throws one message listing what is missing and where it looked.
 */
export function findLibraryLayout(dir) {
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new Error(`--from-dir: ${JSON.stringify(dir)} is not a directory`);
  const includeDir = join(root, "include");
  const missing = [];
  let found;
  for (const libDir of [join(root, "lib"), root]) {
    if (!existsSync(libDir)) continue;
    const libs = readdirSync(libDir).filter((f) => LIB_RE.test(f)).sort();
    const pick = (names) => names.find((n) => libs.includes(n));
    const main = pick(["libtensorflow.so", "libtensorflow.so.2", "libtensorflow_cc.so.2", "libtensorflow_cc.so"]) ?? libs.find((f) => /^libtensorflow(_cc)?\.so\./.test(f));
    const framework = pick(["libtensorflow_framework.so", "libtensorflow_framework.so.2"]) ?? libs.find((f) => f.startsWith("libtensorflow_framework.so."));
    if (main && framework) {
      found = { libDir, main, framework, libs };
      break;
    }
  }
  if (!found) missing.push(`libtensorflow.so (or libtensorflow_cc.so.2) and libtensorflow_framework.so in ${join(root, "lib")} or ${root}`);
  for (const h of REQUIRED_HEADERS) if (!existsSync(join(includeDir, h))) missing.push(join(includeDir, h));
  if (missing.length > 0) throw new Error(`--from-dir: ${JSON.stringify(dir)} lacks the TensorFlow C library: missing ${missing.join(", ")}`);
  return { ...found, includeDir };
}

/** Whether the package's native addon has been built (`lib/napi-v<N>/tfjs_binding.node`). */
export function addonBuilt(dir) {
  const lib = join(dir, "lib");
  if (!existsSync(lib)) return false;
  return readdirSync(lib).some((d) => d.startsWith("napi-v") && existsSync(join(lib, d, "tfjs_binding.node")));
}

/** Whether `dir` is a finished shared deps folder (what stageDeps writes last). */
export function depsReady(dir) {
  return existsSync(join(dir, "mixdepth-native.json"));
}

/** The manifest of a finished deps folder, or null. */
export function readManifest(dir) {
  try {
    return JSON.parse(readFileSync(join(dir, "mixdepth-native.json"), "utf8"));
  } catch {
    return null;
  }
}

/**
 * Makes `target` a deps folder from a found layout: `lib/` holds every libtensorflow*.so*
 * (symlinks to the originals when `link`, else the files are already there) plus the
 * unversioned names binding.gyp links against; `include` points at the headers. Writes the
 * manifest last, so a folder without it is unfinished. Returns the manifest.
 */
export async function stageDeps(layout, target, { link, source }) {
  const lib = join(target, "lib");
  await mkdir(lib, { recursive: true });
  if (link) {
    for (const f of layout.libs) await replaceWithLink(join(lib, f), join(layout.libDir, f));
    await replaceWithLink(join(target, "include"), layout.includeDir);
  }
  // binding.gyp: -ltensorflow -ltensorflow_framework; at run time the loader asks for the
  // libraries' sonames, which are among the files above.
  if (layout.main !== "libtensorflow.so") await replaceWithLink(join(lib, "libtensorflow.so"), layout.main);
  if (layout.framework !== "libtensorflow_framework.so") await replaceWithLink(join(lib, "libtensorflow_framework.so"), layout.framework);
  const manifest = { ...source, main: layout.main, framework: layout.framework, staged: new Date().toISOString() };
  await writeFile(join(target, "mixdepth-native.json"), JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}

async function replaceWithLink(at, to) {
  await rm(at, { recursive: true, force: true });
  await symlink(to, at);
}

/**
 * Points a package's `deps` at the shared folder. An empty `deps/` (as the npm tarball
 * ships it) or an older symlink is replaced; a real folder with files in it (libtensorflow
 * from the online download) only with `force`. Returns what was there: "empty", "link" or
 * "replaced".
 */
export async function linkDeps(pkgDir, depsDir, { force = false } = {}) {
  const at = join(pkgDir, "deps");
  let was = "empty";
  if (existsSync(at) || isLink(at)) {
    if (isLink(at)) was = "link";
    else if (readdirSync(at).length > 0) {
      if (!force) throw new Error(`${at} already holds a libtensorflow (from the online install?); pass --force to replace it with ${depsDir}`);
      was = "replaced";
    }
    await rm(at, { recursive: true, force: true });
  }
  await symlink(depsDir, at);
  return was;
}

function isLink(p) {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Whether a package's `deps` is a link to `depsDir` (same real folder). */
export function depsLinkedTo(pkgDir, depsDir) {
  const at = join(pkgDir, "deps");
  try {
    return isLink(at) && realpathSync(at) === realpathSync(depsDir);
  } catch {
    return false;
  }
}

/** Where a package's `deps` symlink points when its target is gone, else null (a built binding that can no longer load). */
export function brokenDepsLink(pkgDir) {
  const at = join(pkgDir, "deps");
  if (!isLink(at)) return null;
  return existsSync(join(at, "lib")) ? null : readlinkSync(at);
}

/** The first file named `name` on PATH, or null. */
export function onPath(name, env = process.env) {
  for (const d of (env.PATH ?? "").split(delimiter)) {
    if (d && existsSync(join(d, name))) return join(d, name);
  }
  return null;
}

/**
 * What `node-pre-gyp install --build-from-source` needs besides the package: node-gyp (npm's
 * own, or `npm_config_node_gyp`), Node's headers (`npm_config_nodedir`, else the prefix of
 * this node binary, where Debian's and the official packages put include/node), a C++
 * compiler and make. Returns `{ nodeGyp, nodedir, missing }`: `missing` says in words what
 * is absent, so the caller can refuse before a 20-line gyp error.
 */
export function buildTools(env = process.env, execPath = process.execPath) {
  const missing = [];
  let nodeGyp = env.npm_config_node_gyp && existsSync(env.npm_config_node_gyp) ? env.npm_config_node_gyp : null;
  if (!nodeGyp) {
    const npm = onPath("npm", env);
    const cli = npm ? realpathSync(npm) : null;
    const candidate = cli ? join(dirname(cli), "..", "node_modules", "node-gyp", "bin", "node-gyp.js") : null;
    if (candidate && existsSync(candidate)) nodeGyp = resolve(candidate);
    else missing.push("node-gyp (npm's bundled copy was not found; set npm_config_node_gyp to node-gyp.js)");
  }
  const prefixes = [env.npm_config_nodedir, resolve(dirname(execPath), "..")].filter(Boolean);
  const nodedir = prefixes.find((p) => existsSync(join(p, "include", "node", "node_api.h")));
  if (!nodedir) missing.push(`Node's headers (no include/node/node_api.h under ${prefixes.join(" or ")}; install your distribution's nodejs headers or set npm_config_nodedir)`);
  if (!onPath("make", env)) missing.push("make");
  if (!onPath(env.CXX || "g++", env) && !onPath("c++", env)) missing.push("a C++ compiler (g++ or $CXX)");
  return { nodeGyp, nodedir: nodedir ?? null, missing };
}

/** Moves the extracted wheel members from `<tmp>/tensorflow` into a deps layout in `target`. */
export async function layoutFromWheelExtract(tmp, target) {
  const tf = join(tmp, "tensorflow");
  await mkdir(join(target, "lib"), { recursive: true });
  for (const f of ["libtensorflow_cc.so.2", "libtensorflow_framework.so.2"]) {
    if (!existsSync(join(tf, f))) throw new Error(`--from-wheel: the wheel has no tensorflow/${f} (not a TensorFlow 2.x wheel with the C API?)`);
    await rename(join(tf, f), join(target, "lib", f));
  }
  await rm(join(target, "include"), { recursive: true, force: true });
  await rename(join(tf, "include"), join(target, "include"));
  return findLibraryLayout(target);
}
