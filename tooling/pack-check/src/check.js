// Packaging check: what a user gets from `npm install @mixdepth/<pkg>` must import, require
// and type-check. For each package: publint (a broken `exports` map is an error), the
// package.json metadata a registry page shows, the public type surface of the built .d.ts,
// `pnpm pack`, attw (are the types right for `import` and `require()` under every
// TypeScript resolution mode), the LICENSE inside the tarball; then one fresh npm project
// outside the workspace installs every tarball (plus registry deps such as tfjs), imports
// each public entry from an ESM script, requires it from a CommonJS script (same export
// names), and type-checks a TypeScript consumer against the shipped .d.ts.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { promisify } from "node:util";
import { publint } from "publint";
import { formatMessage } from "publint/utils";

const run = promisify(execFile);

/** Publishable packages under `<root>/packages`: every package.json without `private: true`. */
export async function findPublishable(root) {
  const dir = join(root, "packages");
  const out = [];
  for (const name of (await readdir(dir)).sort()) {
    const pkgDir = join(dir, name);
    let pkg;
    try {
      pkg = JSON.parse(await readFile(join(pkgDir, "package.json"), "utf8"));
    } catch {
      continue;
    }
    if (!pkg.private) out.push({ dir: pkgDir, name: pkg.name, pkg });
  }
  return out;
}

/** publint errors and warnings, formatted; suggestions are ignored. */
export async function lintPackage(pkgDir) {
  const pkg = JSON.parse(await readFile(join(pkgDir, "package.json"), "utf8"));
  const { messages } = await publint({ pkgDir, level: "warning", strict: true });
  return messages.map((m) => `${pkg.name}: ${m.type}: ${formatMessage(m, pkg) ?? m.code}`);
}

/**
 * Registry metadata every published package carries, checked against the root package.json
 * (the one place the repository URL, license and author are written): license MIT,
 * repository with the package's own directory, homepage, bugs, keywords and author.
 */
export function metadataProblems(pkg, root, rootPkg, pkgDir) {
  const out = [];
  const say = (msg) => out.push(`${pkg.name}: ${msg}`);
  const dir = relative(root, pkgDir).split("\\").join("/");
  if (pkg.license !== rootPkg.license) say(`license: expected ${JSON.stringify(rootPkg.license)} (got ${JSON.stringify(pkg.license)})`);
  if (pkg.author !== rootPkg.author) say(`author: expected ${JSON.stringify(rootPkg.author)} (got ${JSON.stringify(pkg.author)})`);
  if (pkg.repository?.url !== rootPkg.repository?.url) say(`repository.url: expected ${JSON.stringify(rootPkg.repository?.url)} (got ${JSON.stringify(pkg.repository?.url)})`);
  if (pkg.repository?.directory !== dir) say(`repository.directory: expected ${JSON.stringify(dir)} (got ${JSON.stringify(pkg.repository?.directory)})`);
  if (typeof pkg.homepage !== "string" || !pkg.homepage.includes(dir)) say(`homepage: must point at ${dir} (got ${JSON.stringify(pkg.homepage)})`);
  if (pkg.bugs?.url !== rootPkg.bugs?.url) say(`bugs.url: expected ${JSON.stringify(rootPkg.bugs?.url)} (got ${JSON.stringify(pkg.bugs?.url)})`);
  if (!Array.isArray(pkg.keywords) || pkg.keywords.length === 0) say("keywords: missing or empty");
  return out;
}

/**
 * Types a public signature uses but the package does not export. In the bundled
 * `dist/index.d.ts` every declaration is reachable from the public surface, so a local
 * declaration missing from the export list, or a name imported from another @mixdepth
 * package and not re-exported, is a type users can see but cannot name (with pnpm or
 * strict installs they cannot import it from the dependency either).
 */
export async function publicTypeProblems(pkgDir, name) {
  const dts = await readFile(join(pkgDir, "dist", "index.d.ts"), "utf8");
  const exported = new Set();
  for (const m of dts.matchAll(/^export \{([^}]*)\}/gm)) {
    for (const raw of (m[1] ?? "").split(",")) {
      const part = raw.trim().replace(/^type\s+/, "");
      if (part) exported.add(part.split(/\s+as\s+/)[0].trim());
    }
  }
  const declared = [...dts.matchAll(/^(?:export )?(?:declare )?(?:abstract )?(?:interface|type|class|enum|function|const|let|namespace) ([A-Za-z_$][\w$]*)/gm)].map((m) => m[1]);
  const imported = [];
  for (const m of dts.matchAll(/^import \{([^}]*)\} from '(@mixdepth\/[^']+)'/gm)) {
    for (const raw of (m[1] ?? "").split(",")) {
      const part = raw.trim().replace(/^type\s+/, "");
      if (part) imported.push({ local: part.split(/\s+as\s+/).pop().trim(), from: m[2] });
    }
  }
  const out = [];
  for (const d of new Set(declared)) if (!exported.has(d)) out.push(`${name}: type ${d} is used by the public API but not exported`);
  for (const i of imported) {
    if (!exported.has(i.local)) out.push(`${name}: type ${i.local} (from ${i.from}) is used by the public API but not re-exported`);
  }
  return out;
}

/**
 * attw on a tarball: the types must resolve, and match the JavaScript, for `import` and
 * `require()` under node16 (from CJS and from ESM) and bundler resolution. attw's node16
 * profile leaves out TypeScript's legacy node10 resolution, which cannot see subpath exports
 * such as `@mixdepth/transformer/node` (every package needs Node >= 20 anyway).
 * Resolves to attw's report; rejects with it when attw finds a problem.
 */
export async function attwTarball(tgz) {
  const bin = join(dirname(createRequire(import.meta.url).resolve("@arethetypeswrong/cli/package.json")), "dist", "index.js");
  const args = [bin, tgz, "--format", "ascii", "--no-color", "--no-emoji", "--profile", "node16"];
  try {
    const { stdout } = await run("node", args, { maxBuffer: 1 << 24 });
    return stdout;
  } catch (err) {
    const e = /** @type {any} */ (err);
    throw new Error(`attw found problems in ${tgz}:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
}

/**
 * Problems with the LICENSE inside a tarball: missing, or not the repository's LICENSE text.
 * Packages keep no copy of their own: `pnpm pack` and `pnpm publish` add the workspace root's
 * LICENSE to a package that has none (npm always ships a LICENSE it finds), and this check
 * proves it landed in every tarball.
 */
export async function licenseProblems(tgz, name, licenseText) {
  const { stdout: list } = await run("tar", ["-tzf", tgz], { maxBuffer: 1 << 24 });
  if (!list.split("\n").includes("package/LICENSE")) return [`${name}: the tarball has no LICENSE file`];
  const { stdout: text } = await run("tar", ["-xzOf", tgz, "package/LICENSE"], { maxBuffer: 1 << 24 });
  return text === licenseText ? [] : [`${name}: the tarball's LICENSE differs from the repository's LICENSE`];
}

/** `pnpm pack` into outDir; returns the tarball path. */
export async function packPackage(pkgDir, outDir) {
  const { stdout } = await run("pnpm", ["pack", "--pack-destination", outDir], { cwd: pkgDir, maxBuffer: 1 << 24 });
  const tgz = stdout.trim().split("\n").map((l) => l.trim()).find((l) => l.endsWith(".tgz"));
  if (!tgz) throw new Error(`pnpm pack in ${pkgDir} printed no tarball:\n${stdout}`);
  return tgz.startsWith("/") ? tgz : join(outDir, tgz);
}

/**
 * Installs the tarballs (and `registryDeps`) into a fresh npm project, imports each name
 * from an ESM script, requires it from a CommonJS script (the same export names must come
 * back), and type-checks `consumerTs` if given. Throws with the tool output on failure.
 * `setup` is ESM code run before the imports (e.g. `import "@tensorflow/tfjs";`),
 * `requireSetup` CommonJS code run before the requires. `npmrc`, if given, is the project's
 * .npmrc (then `tarballs` may be empty and `registryDeps` name the packages).
 */
export async function installAndImport({ tarballs, names, registryDeps = [], setup = "", requireSetup = "", consumerTs = null, keep = false, npmrc = null }) {
  const dir = await mkdtemp(join(tmpdir(), "mixdepth-pack-"));
  try {
    await writeFile(join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2));
    // With an .npmrc (e.g. a scoped registry) the project keeps its package-lock.json, which
    // says where each package was resolved from.
    if (npmrc !== null) await writeFile(join(dir, ".npmrc"), npmrc);
    const lock = npmrc === null ? ["--no-package-lock"] : [];
    const npmArgs = ["install", "--no-audit", "--no-fund", "--loglevel=error", ...lock, ...tarballs, ...registryDeps];
    await run("npm", npmArgs, { cwd: dir, maxBuffer: 1 << 24 });
    const script = [
      setup,
      ...names.map((n, i) => `import * as m${i} from ${JSON.stringify(n)};`),
      `const mods = { ${names.map((n, i) => `${JSON.stringify(n)}: m${i}`).join(", ")} };`,
      "for (const [name, mod] of Object.entries(mods)) {",
      "  const keys = Object.keys(mod);",
      "  if (keys.length === 0) throw new Error(`${name} exports nothing`);",
      "  console.log(`${name}: ${keys.length} exports (${keys.slice(0, 6).join(', ')}${keys.length > 6 ? ', ...' : ''})`);",
      "}",
      "console.log(`ESM_KEYS ${JSON.stringify(Object.fromEntries(Object.entries(mods).map(([n, m]) => [n, Object.keys(m).sort()])))}`);",
    ].join("\n");
    await writeFile(join(dir, "import-check.mjs"), script);
    const imported = await run("node", ["import-check.mjs"], { cwd: dir, maxBuffer: 1 << 24 });
    const requireScript = [
      requireSetup,
      `const names = ${JSON.stringify(names)};`,
      "const keys = {};",
      "for (const name of names) keys[name] = Object.keys(require(name)).sort();",
      "console.log(`CJS_KEYS ${JSON.stringify(keys)}`);",
    ].join("\n");
    await writeFile(join(dir, "require-check.cjs"), requireScript);
    const required = await run("node", ["require-check.cjs"], { cwd: dir, maxBuffer: 1 << 24 });
    const keysOf = (out, tag) => JSON.parse(out.split("\n").find((l) => l.startsWith(tag + " ")).slice(tag.length + 1));
    const esmKeys = keysOf(imported.stdout, "ESM_KEYS");
    const cjsKeys = keysOf(required.stdout, "CJS_KEYS");
    for (const name of names) {
      if (JSON.stringify(esmKeys[name]) !== JSON.stringify(cjsKeys[name])) {
        throw new Error(`${name}: require() gives other exports than import:\n  import:  ${esmKeys[name]}\n  require: ${cjsKeys[name]}`);
      }
    }
    const importOutput = imported.stdout.split("\n").filter((l) => !l.startsWith("ESM_KEYS ")).join("\n");
    const requireLines = required.stdout.split("\n").filter((l) => l && !l.startsWith("CJS_KEYS "));
    const requireOutput = [...requireLines, `require(): ${names.length} entries, the same exports as import`].join("\n") + "\n";
    let typecheck = "";
    if (consumerTs !== null) {
      await writeFile(join(dir, "consumer.ts"), consumerTs);
      await writeFile(
        join(dir, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: {
            target: "ES2022",
            module: "NodeNext",
            moduleResolution: "NodeNext",
            strict: true,
            noUncheckedIndexedAccess: true,
            verbatimModuleSyntax: true,
            noEmit: true,
            // A real consumer's defaults: every installed @types package is visible (tfjs-core's
            // own .d.ts need @types/long's global), and library .d.ts are checked, ours included.
            skipLibCheck: false,
          },
          files: ["consumer.ts"],
        }),
      );
      const tsc = await run("node", [join(dir, "node_modules/typescript/bin/tsc"), "-p", "."], { cwd: dir, maxBuffer: 1 << 24 }).catch((e) => {
        throw new Error(`type-check of the consumer failed:\n${e.stdout}${e.stderr}`);
      });
      typecheck = tsc.stdout;
    }
    return { dir, importOutput, requireOutput, typecheckOutput: typecheck };
  } catch (err) {
    const e = /** @type {any} */ (err);
    const detail = [e.stdout, e.stderr].filter(Boolean).join("\n");
    throw new Error(`${e.message}${detail ? "\n" + detail : ""}`);
  } finally {
    if (!keep) await rm(dir, { recursive: true, force: true });
  }
}
