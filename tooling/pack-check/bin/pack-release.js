#!/usr/bin/env node
// `pnpm pack:release [folder]`: writes the tarballs of the publishable packages (only those:
// no app, tooling or example) into a folder (default: tarballs/ at the repository root, emptied
// of older tarballs first) and prints the npm install line that uses them. Until the first
// release is on npm, this is how to install mixdepth. Expects the packages built.
import { mkdir, readdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { findPublishable, packPackage } from "../src/check.js";

const root = resolve(fileURLToPath(new URL("../../..", import.meta.url)));

async function main() {
  const out = resolve(process.argv[2] ?? join(root, "tarballs"));
  await mkdir(out, { recursive: true });
  for (const f of await readdir(out)) if (f.endsWith(".tgz")) await rm(join(out, f));
  const pkgs = await findPublishable(root);
  const tarballs = [];
  for (const p of pkgs) tarballs.push(await packPackage(p.dir, out));
  console.log(`${tarballs.length} publishable packages packed into ${out}:`);
  for (const [i, p] of pkgs.entries()) console.log(`  ${p.name}  ${tarballs[i]}`);
  console.log("\nInstall them in your project (all together: they depend on each other):");
  console.log(`  npm install ${tarballs.join(" ")} @tensorflow/tfjs@4.22.0`);
}

main().catch((err) => {
  console.error(`pack:release FAILED: ${err.message}`);
  process.exit(1);
});
