// The release as a user will consume it (issue 23). A dry run of the first release in a scratch
// copy of the repository (`changeset version` on whatever changesets exist, then pack): every
// publishable package at its intended first version, changelogs that read as release notes.
// Then the real release command (`changeset publish`, which runs `pnpm publish`) against a
// local npm registry (verdaccio, started and stopped here), and a fresh npm project that
// installs the packages by name from it, so the inter-package ranges are resolved by a registry.
import { execFile, spawn } from "node:child_process";
import { cp, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Every package's first release (.changeset/README.md): pending changes are `minor` on 0.0.0. */
export const FIRST_VERSION = "0.1.0";

/**
 * Phrases of a development log, not release notes: a first release has no earlier version to
 * have removed, renamed or replaced anything in, and no user to whom something is "now" so.
 */
export const DEV_LOG_PHRASES = [
  /\bunreleased\b/i,
  /\bnot (?:yet |been )?released\b/i,
  /\breleased yet\b/i,
  /\bpending\b/i,
  /\bremoved\b/i,
  /\brenamed\b/i,
  /\bno longer\b/i,
  /\bbreaking\b/i,
  /\b(?:is|are) gone\b/i,
  /\bused to\b/i,
  /\breplaced\b/i, // ("replaces a block's MLP by experts" describes a feature; "replaced" a history)
  /\bnow\b/i,
  /\bas before\b/i,
  /\bdeprecated\b/i,
];

/** The dev-log phrases in a generated CHANGELOG.md, one problem per line that has one. */
export function changelogProblems(name, changelog) {
  const out = [];
  for (const line of changelog.split("\n")) {
    const hits = DEV_LOG_PHRASES.map((re) => re.exec(line)?.[0]).filter(Boolean);
    if (hits.length > 0) out.push(`${name}: CHANGELOG reads like a development log (${hits.map((h) => JSON.stringify(h)).join(", ")}): ${line.trim()}`);
  }
  return out;
}

/** Publishable packages not at the first version after `changeset version`. */
export function versionProblems(versions) {
  return Object.entries(versions)
    .filter(([, v]) => v !== FIRST_VERSION)
    .map(([name, v]) => `${name}: the release would publish ${v}, not the first version ${FIRST_VERSION} (a pending changeset says major, or none names the package)`);
}

/**
 * A scratch copy of the repository: the files git tracks or would track (so new changesets
 * are in), the publishable packages' built `dist/` and node_modules links, and the root
 * node_modules linked in.
 */
export async function scratchCopy(root, pkgDirs) {
  const dir = await mkdtemp(join(tmpdir(), "mixdepth-release-"));
  const { stdout } = await run("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: root, maxBuffer: 1 << 26 });
  const files = stdout.split("\0").filter(Boolean);
  for (const f of files) {
    const from = join(root, f);
    const s = await stat(from).catch(() => null); // deleted but still in the index
    if (!s?.isFile()) continue;
    await mkdir(dirname(join(dir, f)), { recursive: true });
    await cp(from, join(dir, f));
  }
  for (const p of pkgDirs) {
    const rel = p.slice(root.length + 1);
    await cp(join(p, "dist"), join(dir, rel, "dist"), { recursive: true });
    // pnpm publish reads each workspace dependency's version through these (relative) links,
    // so they must point into the scratch copy, where the versions are bumped.
    await cp(join(p, "node_modules"), join(dir, rel, "node_modules"), { recursive: true, verbatimSymlinks: true });
  }
  await symlink(join(root, "node_modules"), join(dir, "node_modules"));
  return dir;
}

/** `changeset version` in `dir`; returns its output and each package's version and CHANGELOG. */
export async function versionRelease(root, dir, pkgs) {
  const bin = join(root, "node_modules/@changesets/cli/bin.js");
  const { stdout, stderr } = await run("node", [bin, "version"], { cwd: dir, maxBuffer: 1 << 24 }).catch((e) => {
    throw new Error(`changeset version failed:\n${e.stdout ?? ""}${e.stderr ?? e.message}`);
  });
  const versions = {};
  const changelogs = {};
  for (const p of pkgs) {
    const rel = p.dir.slice(root.length + 1);
    versions[p.name] = JSON.parse(await readFile(join(dir, rel, "package.json"), "utf8")).version;
    changelogs[p.name] = await readFile(join(dir, rel, "CHANGELOG.md"), "utf8").catch(() => "");
  }
  return { output: stdout + stderr, versions, changelogs };
}

/** A free TCP port on localhost. */
async function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = /** @type {import("node:net").AddressInfo} */ (srv.address());
      srv.close(() => res(port));
    });
  });
}

// verdaccio 6.8.0 is the newest that runs on Node 20; its node-fetch must be pinned to 2.7.0
// (platform notes). Installed with npm once into the repository's ignored .cache/.
const VERDACCIO = "6.8.0";

/** The verdaccio CLI, installed into `<root>/.cache/verdaccio-<version>` when missing. */
export async function ensureVerdaccio(root) {
  const dir = join(root, ".cache", `verdaccio-${VERDACCIO}`);
  const bin = join(dir, "node_modules/verdaccio/bin/verdaccio");
  if (await stat(bin).catch(() => null)) return bin;
  await mkdir(dir, { recursive: true });
  const pkg = { name: "mixdepth-local-registry", private: true, dependencies: { verdaccio: VERDACCIO }, overrides: { "node-fetch": "2.7.0" } };
  await writeFile(join(dir, "package.json"), JSON.stringify(pkg, null, 2));
  await run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: dir, maxBuffer: 1 << 24 }).catch((e) => {
    throw new Error(`installing verdaccio@${VERDACCIO} into ${dir} failed:\n${e.stdout ?? ""}${e.stderr ?? e.message}`);
  });
  return bin;
}

/**
 * Starts verdaccio on a free localhost port with its storage in a temporary folder and no
 * uplinks (it serves only what is published to it), adds a user and returns
 * `{ url, token, stop }`. `stop()` ends the server and removes its storage.
 */
export async function startRegistry(root) {
  const bin = await ensureVerdaccio(root);
  const dir = await mkdtemp(join(tmpdir(), "mixdepth-registry-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const config = [
    `storage: ${join(dir, "storage")}`,
    "auth:",
    "  htpasswd:",
    `    file: ${join(dir, "htpasswd")}`,
    "    max_users: 1",
    "uplinks: {}",
    "packages:",
    "  '@mixdepth/*':",
    "    access: $all",
    "    publish: $authenticated",
    "  '**':",
    "    access: $all",
    "web:",
    "  enable: false",
    "log: { type: stdout, format: pretty, level: warn }",
    "",
  ].join("\n");
  await writeFile(join(dir, "config.yaml"), config);
  const child = spawn("node", [bin, "--config", join(dir, "config.yaml"), "--listen", `127.0.0.1:${port}`], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const exited = new Promise((res) => child.once("exit", res));
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill("SIGTERM");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`verdaccio exited with ${child.exitCode}:\n${log}`);
      const ok = await fetch(new URL("-/ping", url)).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`verdaccio did not answer on ${url} within 30 s:\n${log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const res = await fetch(new URL("-/user/org.couchdb.user:release", url), {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "release", password: "release-dry-run" }),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok || typeof body.token !== "string") throw new Error(`verdaccio refused the release user (${res.status}): ${JSON.stringify(body)}`);
    return { url, token: body.token, stop, log: () => log };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * `changeset publish` (the command of the root `release` script) in the versioned scratch copy
 * `dir`, against the registry at `url` (authenticated by `token`). Returns its output; throws
 * naming each package the registry then lacks at the first version.
 */
export async function changesetPublish(root, dir, { url, token }, names) {
  const host = url.replace(/^https?:/, "");
  await writeFile(join(dir, ".npmrc"), `registry=${url}\n${host}:_authToken=${token}\n`);
  const bin = join(root, "node_modules/@changesets/cli/bin.js");
  const env = { ...process.env, npm_config_registry: url };
  const { stdout, stderr } = await run("node", [bin, "publish"], { cwd: dir, env, maxBuffer: 1 << 24 }).catch((e) => {
    throw new Error(`changeset publish failed:\n${e.stdout ?? ""}${e.stderr ?? e.message}`);
  });
  const output = stdout + stderr;
  const missing = [];
  for (const n of names) {
    const res = await fetch(new URL(n.replace("/", "%2f"), url));
    const doc = res.ok ? await res.json() : null;
    if (doc?.["dist-tags"]?.latest !== FIRST_VERSION) missing.push(`${n} (${res.status}, latest ${JSON.stringify(doc?.["dist-tags"]?.latest)})`);
  }
  if (missing.length > 0) throw new Error(`after changeset publish the registry lacks ${missing.join(", ")}:\n${output}`);
  return output;
}

/**
 * Problems with where each package of an npm project came from: its lockfile entry must be
 * at the first version with the integrity the registry at `url` serves for it (npm writes no
 * `resolved` URL for a scoped registry, so the tarball's hash is the proof).
 */
export async function resolvedProblems(projectDir, names, url) {
  const lock = JSON.parse(await readFile(join(projectDir, "package-lock.json"), "utf8"));
  const out = [];
  for (const n of names) {
    const entry = lock.packages?.[`node_modules/${n}`];
    const res = await fetch(new URL(n.replace("/", "%2f"), url));
    const served = res.ok ? (await res.json()).versions?.[FIRST_VERSION]?.dist?.integrity : undefined;
    if (!entry) out.push(`${n}: not installed`);
    else if (entry.version !== FIRST_VERSION) out.push(`${n}: installed ${entry.version}, not ${FIRST_VERSION}`);
    else if (!served || entry.integrity !== served) out.push(`${n}: installed tarball ${entry.integrity} is not the one the local registry ${url} serves (${served})`);
  }
  return out;
}
