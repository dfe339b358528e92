// The offline path's logic on fake TensorFlows (no 261 MB download, no compiler): the layouts
// it accepts and the message for one it does not, the shared deps folder and the package links,
// the tools it checks for, and the whole install against a tiny wheel with the build and the
// load faked. install.slow.test.js builds and loads the real thing.
import { existsSync, lstatSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { parseArgs } from "./install.js";
import { buildTools, cacheKey, defaultCacheDir, findLibraryLayout, linkDeps, parseWheelName, stageDeps } from "./local-tf.js";
import { describeBuilt, installFromLocal, runCommand } from "./offline-install.js";

let dirs = [];
afterEach(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  dirs = [];
});
async function tmp() {
  const d = await mkdtemp(join(tmpdir(), "local-tf-"));
  dirs.push(d);
  return d;
}
async function put(root, files) {
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(join(root, rel, ".."), { recursive: true });
    await writeFile(join(root, rel), text);
  }
}
const HEADERS = { "include/tensorflow/c/c_api.h": "// c api", "include/tensorflow/c/eager/c_api.h": "// eager" };

/** A zip file (stored, no compression): enough of a wheel for unzip and zipfile. */
function zip(files) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const [name, text] of Object.entries(files)) {
    const data = Buffer.from(text);
    const nameBuf = Buffer.from(name);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBuf.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBuf, data);
    centrals.push(central, nameBuf);
    offset += 30 + nameBuf.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(files).length, 8);
  end.writeUInt16LE(Object.keys(files).length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}
const WHEEL_FILES = {
  "tensorflow/libtensorflow_cc.so.2": "cc",
  "tensorflow/libtensorflow_framework.so.2": "fw",
  "tensorflow/include/tensorflow/c/c_api.h": "// c api",
  "tensorflow/include/tensorflow/c/eager/c_api.h": "// eager",
  "tensorflow/include/tsl/platform/ctstring.h": "// ctstring",
  "tensorflow/include/xla/tsl/c/tsl_status.h": "// status",
  "tensorflow/python/big_module.py": "not extracted",
  "tensorflow_cpu-2.21.0.dist-info/METADATA": "not extracted",
};

/** A workspace with one native package, build tools found on a fake PATH. */
async function workspace() {
  const root = await tmp();
  const pkg = join(root, "node_modules", ".pnpm", "@tensorflow+tfjs-node-gpu@4.22.0", "node_modules", "@tensorflow", "tfjs-node-gpu");
  await put(pkg, { "package.json": "{}", "deps/.keep": "" });
  await rm(join(pkg, "deps", ".keep"));
  const bin = join(root, "bin");
  const npmCli = join(root, "npm", "bin", "npm-cli.js");
  await put(root, { "npm/bin/npm-cli.js": "", "npm/node_modules/node-gyp/bin/node-gyp.js": "", "node/include/node/node_api.h": "", "bin/make": "", "bin/g++": "" });
  await symlink(npmCli, join(bin, "npm"));
  const env = { PATH: `${bin}:${process.env.PATH}`, npm_config_nodedir: join(root, "node") };
  return { root, pkg, env, packages: [{ name: "@tensorflow/tfjs-node-gpu", libType: "gpu", dir: pkg }], log: join(root, "install.log") };
}
const fakeBuild = (calls) => async (dir) => {
  calls.push(dir);
  return { ok: true, output: "gyp info ok" };
};
const fakeProbe = async () => ({ ok: true, output: "", backend: "tensorflow", tfVersion: "2.21.0", gpu: false });

describe("local TensorFlow layouts", () => {
  it("reads a wheel's name; rejects a file that is not a TensorFlow wheel", () => {
    expect(parseWheelName("/w/tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl")).toEqual({ dist: "tensorflow-cpu", version: "2.21.0", platform: "manylinux_2_27_x86_64", device: "cpu" });
    expect(parseWheelName("tensorflow-2.16.1-cp310-cp310-manylinux_2_17_x86_64.whl").device).toBe("cpu or gpu");
    expect(() => parseWheelName("numpy-2.0.0-cp311-cp311-linux_x86_64.whl")).toThrow('--from-wheel: "numpy-2.0.0-cp311-cp311-linux_x86_64.whl" is not a TensorFlow wheel');
  });

  it("finds the libtensorflow tarball layout and a wheel's tensorflow/ folder", async () => {
    const tarball = await tmp();
    await put(tarball, { "lib/libtensorflow.so.2.9.1": "", "lib/libtensorflow.so.2": "", "lib/libtensorflow.so": "", "lib/libtensorflow_framework.so.2": "", "lib/libtensorflow_framework.so": "", ...HEADERS });
    expect(findLibraryLayout(tarball)).toMatchObject({ libDir: join(tarball, "lib"), main: "libtensorflow.so", framework: "libtensorflow_framework.so", includeDir: join(tarball, "include") });
    const wheelDir = await tmp();
    await put(wheelDir, { "libtensorflow_cc.so.2": "", "libtensorflow_framework.so.2": "", "python/x.py": "", ...HEADERS });
    expect(findLibraryLayout(wheelDir)).toMatchObject({ libDir: wheelDir, main: "libtensorflow_cc.so.2", framework: "libtensorflow_framework.so.2", libs: ["libtensorflow_cc.so.2", "libtensorflow_framework.so.2"] });
  });

  it("names every missing piece and where it looked", async () => {
    const d = await tmp();
    await put(d, { "lib/libtensorflow.so": "", "include/tensorflow/c/c_api.h": "" });
    expect(() => findLibraryLayout(d)).toThrow(
      `--from-dir: ${JSON.stringify(d)} lacks the TensorFlow C library: missing libtensorflow.so (or libtensorflow_cc.so.2) and libtensorflow_framework.so in ${join(d, "lib")} or ${d}, ${join(d, "include", "tensorflow/c/eager/c_api.h")}`,
    );
    expect(() => findLibraryLayout(join(d, "nope"))).toThrow(`--from-dir: ${JSON.stringify(join(d, "nope"))} is not a directory`);
  });

  it("stages a deps folder of links with the names binding.gyp links against", async () => {
    const src = await tmp();
    await put(src, { "libtensorflow_cc.so.2": "cc", "libtensorflow_framework.so.2": "fw", ...HEADERS });
    const target = join(await tmp(), "deps");
    const m = await stageDeps(findLibraryLayout(src), target, { link: true, source: { from: "dir" } });
    expect(m).toMatchObject({ from: "dir", main: "libtensorflow_cc.so.2", framework: "libtensorflow_framework.so.2" });
    expect((await readdir(join(target, "lib"))).sort()).toEqual(["libtensorflow.so", "libtensorflow_cc.so.2", "libtensorflow_framework.so", "libtensorflow_framework.so.2"]);
    expect(readlinkSync(join(target, "lib", "libtensorflow.so"))).toBe("libtensorflow_cc.so.2"); // relative: resolves inside lib/
    expect(readFileSync(join(target, "lib", "libtensorflow.so"), "utf8")).toBe("cc");
    expect(readFileSync(join(target, "include", "tensorflow", "c", "c_api.h"), "utf8")).toBe("// c api");
    expect(existsSync(join(target, "mixdepth-native.json"))).toBe(true);
  });

  it("links a package's deps to the shared folder: empty or linked before is fine, a real library only with --force", async () => {
    const shared = await tmp();
    const pkg = await tmp();
    await mkdir(join(pkg, "deps"));
    expect(await linkDeps(pkg, shared)).toBe("empty");
    expect(realpathSync(join(pkg, "deps"))).toBe(realpathSync(shared));
    expect(await linkDeps(pkg, shared)).toBe("link");
    const other = await tmp();
    await put(other, { "deps/lib/libtensorflow.so": "" });
    await expect(linkDeps(other, shared)).rejects.toThrow(`${join(other, "deps")} already holds a libtensorflow (from the online install?); pass --force to replace it with ${shared}`);
    expect(await linkDeps(other, shared, { force: true })).toBe("replaced");
    expect(lstatSync(join(other, "deps")).isSymbolicLink()).toBe(true);
  });

  it("checks for node-gyp, Node's headers, make and a compiler before building", async () => {
    const ws = await workspace();
    const ok = buildTools(ws.env, "/nonexistent/bin/node");
    expect(ok).toEqual({ nodeGyp: realpathSync(join(ws.root, "npm", "node_modules", "node-gyp", "bin", "node-gyp.js")), nodedir: join(ws.root, "node"), missing: [] });
    const none = buildTools({ PATH: join(ws.root, "empty") }, "/nonexistent/bin/node");
    expect(none.missing).toEqual([
      "node-gyp (npm's bundled copy was not found; set npm_config_node_gyp to node-gyp.js)",
      "Node's headers (no include/node/node_api.h under /nonexistent; install your distribution's nodejs headers or set npm_config_nodedir)",
      "make",
      "a C++ compiler (g++ or $CXX)",
    ]);
  });

  it("cache: MIXDEPTH_NATIVE_CACHE, else XDG_CACHE_HOME, else ~/.cache; a dir's key follows its real path", async () => {
    expect(defaultCacheDir({ MIXDEPTH_NATIVE_CACHE: "/c" })).toBe("/c");
    expect(defaultCacheDir({ XDG_CACHE_HOME: "/x" })).toBe("/x/mixdepth/native");
    const d = await tmp();
    await symlink(d, `${d}-link`);
    dirs.push(`${d}-link`);
    expect(cacheKey({ kind: "dir", path: `${d}-link` })).toBe(cacheKey({ kind: "dir", path: d }));
    expect(cacheKey({ kind: "wheel", path: "/w/tensorflow_cpu-2.21.0-cp311-cp311-x.whl" })).toBe("tensorflow_cpu-2.21.0-cp311-cp311-x");
  });
});

describe("pnpm native:install --from-...", () => {
  it("parses its flags; an unknown or incomplete one is an error that names it", () => {
    expect(parseArgs(["--from-pip", "--tf-version", "2.20.0"]).from).toEqual({ kind: "pip", version: "2.20.0" });
    expect(parseArgs(["--from-wheel", "a.whl", "--no-strip", "--force"])).toMatchObject({ from: { kind: "wheel", path: "a.whl" }, strip: false, force: true });
    expect(() => parseArgs(["--from-wheel"])).toThrow("--from-wheel needs a value");
    expect(() => parseArgs(["--from-pip", "--from-dir", "d"])).toThrow("--from-dir: give one of --from-wheel, --from-pip, --from-dir (got two)");
    expect(() => parseArgs(["--tf-version", "2.21.0"])).toThrow("--tf-version goes with --from-pip");
    expect(() => parseArgs(["--from-pip", "--tf-version", "latest"])).toThrow('--tf-version: expected a version like 2.21.0 (got "latest")');
    expect(() => parseArgs(["--from-whl", "a"])).toThrow('unknown flag "--from-whl"');
  });

  it("from a wheel: extracts only the libraries and headers once, shares them, builds and loads each package", async () => {
    const ws = await workspace();
    const wheel = join(await tmp(), "tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl");
    await writeFile(wheel, zip(WHEEL_FILES));
    const cache = await tmp();
    const said = [];
    const builds = [];
    const opts = { root: ws.root, packages: ws.packages, from: { kind: "wheel", path: wheel }, cache, log: ws.log, strip: false, env: ws.env, say: (l) => said.push(l), build: fakeBuild(builds), probe: fakeProbe };
    const res = await installFromLocal(opts);
    const deps = join(cache, "tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64");
    expect(res).toEqual({
      ok: true,
      deps,
      lines: ['native backend: @tensorflow/tfjs-node-gpu built against TensorFlow 2.21.0 from tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl; loads as "tensorflow" on the CPU (the GPU package on a CPU-only library: it runs on the CPU)'],
    });
    expect(said[0]).toMatch(/^extracting TensorFlow 2\.21\.0's C library \(2 libraries, the C API headers\) from .+\.whl \(0 MiB\) into /);
    expect(said[1]).toBe("not stripping (--no-strip): the libraries stay as in the wheel");
    expect(builds).toEqual([ws.pkg]);
    expect(realpathSync(join(ws.pkg, "deps"))).toBe(realpathSync(deps));
    expect(readFileSync(join(ws.pkg, "deps", "lib", "libtensorflow.so"), "utf8")).toBe("cc");
    expect(existsSync(join(ws.pkg, "deps", "include", "xla", "tsl", "c", "tsl_status.h"))).toBe(true);
    expect(existsSync(join(deps, "python"))).toBe(false);
    expect((await readdir(cache)).sort()).toEqual(["tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64"]); // no partial folder left
    // Again (another package copy, another checkout): the extracted folder is reused.
    said.length = 0;
    await installFromLocal(opts);
    expect(said[0]).toBe(`using the TensorFlow 2.21.0 C library already extracted in ${deps}`);
    expect(builds).toHaveLength(2);
    // A binding already built against this folder is loaded, not rebuilt; --force rebuilds it.
    await put(ws.pkg, { "lib/napi-v8/tfjs_binding.node": "" });
    expect((await installFromLocal(opts)).lines[0]).toMatch(/loads as "tensorflow" on the CPU .+ \(already built; --force rebuilds\)$/);
    expect(builds).toHaveLength(2);
    await installFromLocal({ ...opts, force: true });
    expect(builds).toHaveLength(3);
    expect(existsSync(join(ws.pkg, "lib"))).toBe(false); // the stale binding went before the (fake) build
  });

  it("from pip: says what it asks for, and a store without the wheel is one clear error", async () => {
    const ws = await workspace();
    const wheelBytes = zip(WHEEL_FILES);
    const pipCalls = [];
    const run = async (cmd, args, options) => {
      if (args[0] === "-m" && args[1] === "pip") {
        pipCalls.push(args);
        const dir = args[args.indexOf("-d") + 1];
        if (args.at(-1) !== "tensorflow-cpu==2.21.0") return { ok: false, code: 1, output: "ERROR: Could not find a version that satisfies the requirement\nERROR: No matching distribution found for " + args.at(-1) };
        await writeFile(join(dir, "tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl"), wheelBytes);
        return { ok: true, code: 0, output: "Saved" };
      }
      return runCommand(cmd, args, options);
    };
    const cache = await tmp();
    const python = join(ws.root, "bin", "python3");
    await writeFile(python, "");
    await chmod(python, 0o755);
    const said = [];
    const base = { root: ws.root, packages: ws.packages, cache, log: ws.log, strip: false, env: ws.env, run, say: (l) => said.push(l), build: fakeBuild([]), probe: fakeProbe };
    await expect(installFromLocal({ ...base, from: { kind: "pip", version: "9.9.9" } })).rejects.toThrow("pip could not provide tensorflow-cpu==9.9.9: ERROR: No matching distribution found for tensorflow-cpu==9.9.9");
    const res = await installFromLocal({ ...base, from: { kind: "pip" } });
    expect(res.ok).toBe(true);
    expect(pipCalls.at(-1)).toEqual(["-m", "pip", "download", "--retries", "0", "--no-deps", "--only-binary=:all:", "--python-version", "3.11", "-d", join(cache, "wheels"), "tensorflow-cpu==2.21.0"]);
    expect(said.filter((l) => l.startsWith("removed the downloaded wheel"))).toHaveLength(1);
    expect(await readdir(join(cache, "wheels"))).toEqual([]);
    // Once extracted, pip is not asked again.
    said.length = 0;
    await installFromLocal({ ...base, from: { kind: "pip" } });
    expect(pipCalls).toHaveLength(2);
    expect(said[0]).toMatch(/^using the tensorflow-cpu 2\.21\.0 C library already extracted in /);
  });

  it("from a directory: links, copies nothing; a failed build or load is a line with the cause, ok false", async () => {
    const ws = await workspace();
    const src = await tmp();
    await put(src, { "lib/libtensorflow.so.2": "", "lib/libtensorflow_framework.so.2": "", ...HEADERS });
    const base = { root: ws.root, packages: ws.packages, from: { kind: "dir", path: src }, cache: await tmp(), log: ws.log, env: ws.env, probe: fakeProbe };
    const failed = await installFromLocal({ ...base, build: async () => ({ ok: false, output: "gyp ERR! build error\nnode-pre-gyp ERR! stack Error: Failed to execute make" }) });
    expect(failed.ok).toBe(false);
    expect(failed.lines).toEqual([`native backend: @tensorflow/tfjs-node-gpu not built: node-pre-gyp ERR! stack Error: Failed to execute make. Log: ${ws.log}`]);
    expect(readFileSync(ws.log, "utf8")).toContain("gyp ERR! build error");
    expect(readlinkSync(join(ws.pkg, "deps", "lib", "libtensorflow.so.2"))).toBe(join(realpathSync(src), "lib", "libtensorflow.so.2"));
    const noLoad = await installFromLocal({ ...base, build: fakeBuild([]), probe: async () => ({ ok: false, output: "Error: libtensorflow_cc.so.2: cannot open shared object file: No such file or directory" }) });
    expect(noLoad.lines[0]).toBe(`native backend: @tensorflow/tfjs-node-gpu built but does not load: Error: libtensorflow_cc.so.2: cannot open shared object file: No such file or directory. Log: ${ws.log}`);
  });

  it("refuses to start without a package, without build tools, or off Linux", async () => {
    const ws = await workspace();
    const base = { root: ws.root, packages: ws.packages, from: { kind: "pip" }, cache: await tmp(), log: ws.log, env: ws.env, build: fakeBuild([]), probe: fakeProbe };
    await expect(installFromLocal({ ...base, packages: [] })).rejects.toThrow(`no @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu is installed under ${ws.root}`);
    await expect(installFromLocal({ ...base, env: { PATH: "/nonexistent" } })).rejects.toThrow(/^cannot build the binding here: missing node-gyp .+; make; a C\+\+ compiler/);
    await expect(installFromLocal({ ...base, os: "darwin" })).rejects.toThrow("the offline path builds the binding with binding.gyp's Linux settings; this is darwin");
  });

  it("describes a GPU library as GPU and a CPU package plainly", () => {
    expect(describeBuilt("@tensorflow/tfjs-node-gpu", { backend: "tensorflow", tfVersion: "2.9.1", gpu: true }, { dir: "/opt/tf" })).toBe('native backend: @tensorflow/tfjs-node-gpu built against TensorFlow 2.9.1 from /opt/tf; loads as "tensorflow" on the GPU');
    expect(describeBuilt("@tensorflow/tfjs-node", { backend: "tensorflow", tfVersion: "2.21.0", gpu: false }, null)).toBe('native backend: @tensorflow/tfjs-node built against TensorFlow 2.21.0; loads as "tensorflow" on the CPU');
  });
});
