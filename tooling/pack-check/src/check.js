// Packaging check: what a user gets from `npm install @mixdepth/<pkg>` must import and
// type-check. For each package: publint (a broken `exports` map is an error), `pnpm pack`,
// then one fresh npm project outside the workspace installs every tarball (plus registry
// deps such as tfjs), imports each public entry from an ESM script, and type-checks a
// TypeScript consumer against the shipped .d.ts.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

/** `pnpm pack` into outDir; returns the tarball path. */
export async function packPackage(pkgDir, outDir) {
  const { stdout } = await run("pnpm", ["pack", "--pack-destination", outDir], { cwd: pkgDir, maxBuffer: 1 << 24 });
  const tgz = stdout.trim().split("\n").map((l) => l.trim()).find((l) => l.endsWith(".tgz"));
  if (!tgz) throw new Error(`pnpm pack in ${pkgDir} printed no tarball:\n${stdout}`);
  return tgz.startsWith("/") ? tgz : join(outDir, tgz);
}

/**
 * Installs the tarballs (and `registryDeps`) into a fresh npm project, imports each name
 * from an ESM script, and type-checks `consumerTs` if given. Throws with the tool output on
 * failure. `setup` is ESM code run before the imports (e.g. `import "@tensorflow/tfjs";`).
 */
export async function installAndImport({ tarballs, names, registryDeps = [], setup = "", consumerTs = null, keep = false }) {
  const dir = await mkdtemp(join(tmpdir(), "mixdepth-pack-"));
  try {
    await writeFile(join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2));
    const npmArgs = ["install", "--no-audit", "--no-fund", "--loglevel=error", "--no-package-lock", ...tarballs, ...registryDeps];
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
    ].join("\n");
    await writeFile(join(dir, "import-check.mjs"), script);
    const imported = await run("node", ["import-check.mjs"], { cwd: dir, maxBuffer: 1 << 24 });
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
    return { dir, importOutput: imported.stdout, typecheckOutput: typecheck };
  } catch (err) {
    const e = /** @type {any} */ (err);
    const detail = [e.stdout, e.stderr].filter(Boolean).join("\n");
    throw new Error(`${e.message}${detail ? "\n" + detail : ""}`);
  } finally {
    if (!keep) await rm(dir, { recursive: true, force: true });
  }
}
