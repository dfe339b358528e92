#!/usr/bin/env node
// Runs the packaging check over every publishable package of the workspace. Exit 1 on any
// publint error/warning, pack failure, import failure or type error. Expects `pnpm build`.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { findPublishable, installAndImport, lintPackage, packPackage } from "../src/check.js";

const root = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
const TFJS = "4.22.0";

async function main() {
  const started = Date.now();
  const pkgs = await findPublishable(root);
  console.log(`packaging check: ${pkgs.map((p) => p.name).join(", ")}`);
  const problems = (await Promise.all(pkgs.map((p) => lintPackage(p.dir)))).flat();
  if (problems.length > 0) {
    console.error(problems.join("\n"));
    throw new Error(`publint found ${problems.length} problem(s)`);
  }
  console.log("publint: no problems");
  const out = await mkdtemp(join(tmpdir(), "mixdepth-tarballs-"));
  try {
    const tarballs = [];
    for (const p of pkgs) tarballs.push(await packPackage(p.dir, out));
    console.log(`packed ${tarballs.length} tarballs`);
    const names = pkgs.map((p) => p.name);
    const consumer = [
      ...names.map((n, i) => `import * as p${i} from ${JSON.stringify(n)};`),
      `export const surfaces: Record<string, readonly string[]> = { ${names.map((n, i) => `${JSON.stringify(n)}: Object.keys(p${i})`).join(", ")} };`,
    ].join("\n");
    const { importOutput } = await installAndImport({
      tarballs,
      names,
      registryDeps: [`@tensorflow/tfjs@${TFJS}`, `@tensorflow/tfjs-core@${TFJS}`, "typescript@5.9.3"],
      setup: 'import "@tensorflow/tfjs";',
      consumerTs: consumer,
    });
    process.stdout.write(importOutput);
    console.log("type-check of a TypeScript consumer against the shipped .d.ts: ok");
  } finally {
    await rm(out, { recursive: true, force: true });
  }
  console.log(`packaging check passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((err) => {
  console.error(`packaging check FAILED: ${err.message}`);
  process.exit(1);
});
