#!/usr/bin/env node
// Runs the packaging check over every publishable package of the workspace. Exit 1 on any
// publint error/warning, metadata gap, unexported public type; a release dry run
// (`changeset version` in a scratch copy) that leaves a package off its first version or
// writes a changelog line that reads like a development log; an attw problem, missing
// LICENSE or pack failure in the versioned tarballs; a failed `changeset publish` to a local
// registry (verdaccio on localhost, started and stopped here) or `npm install` by name from
// it; an import or require failure, type error, or a training-kit example (kit README loop,
// custom router) whose loss does not fall, in that install; a README `ts` block of a
// publishable package that fails tsc strict, tsx, or require(). Expects `pnpm build`.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  attwTarball,
  findPublishable,
  installAndImport,
  licenseProblems,
  lintPackage,
  metadataProblems,
  packPackage,
  publicTypeProblems,
} from "../src/check.js";
import { runKitExample } from "../src/kit-example.js";
import { checkReadmeBlocks } from "../src/readme-blocks.js";
import { FIRST_VERSION, changelogProblems, changesetPublish, resolvedProblems, scratchCopy, startRegistry, versionProblems, versionRelease } from "../src/release.js";

const root = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
const TFJS = "4.22.0";
const TSX = "4";

/** A timer: each call says the seconds since the last call, e.g. "(12.3 s)". */
function phase(start) {
  let last = start;
  return () => {
    const now = Date.now();
    const s = `(${((now - last) / 1000).toFixed(1)} s)`;
    last = now;
    return s;
  };
}
// A CommonJS consumer that really computes: our CJS build and the user's `require("@tensorflow/tfjs")`
// must share one tfjs engine (else the model's variables live in another engine than the ops),
// and a routed model's forward and gradient must run, leaving no tensors behind.
const REQUIRE_SMOKE = `
const tf = require("@tensorflow/tfjs");
const { createTransformer } = require("@mixdepth/transformer");
tf.setBackend("cpu");
const before = tf.memory().numTensors;
const model = createTransformer({ vocabSize: 16, dModel: 8, nHeads: 2, nLayers: 2, contextLength: 8, routing: { blocks: "every-other", capacity: 0.5 } }, { seed: 1 });
const x = tf.tensor2d([[1, 2, 3, 4]], [1, 4], "int32");
const y = tf.tensor2d([[2, 3, 4, 5]], [1, 4], "int32");
const { value, grads } = tf.variableGrads(() => model.loss(x, y).total, model.trainableVariables());
const loss = value.dataSync()[0];
if (!(loss > 0 && Number.isFinite(loss)) || Object.keys(grads).length === 0) throw new Error("CJS smoke: bad loss " + loss);
tf.dispose([value, x, y, ...Object.values(grads)]);
model.dispose();
if (tf.memory().numTensors !== before) throw new Error("CJS smoke: " + (tf.memory().numTensors - before) + " tensors leaked");
console.log("require() smoke: a routed transformer's loss " + loss.toFixed(4) + " and its gradients, no leaks");
`;

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
  const rootPkg = JSON.parse(await readFile(join(root, "package.json"), "utf8"));
  const meta = pkgs.flatMap((p) => metadataProblems(p.pkg, root, rootPkg, p.dir));
  const types = (await Promise.all(pkgs.map((p) => publicTypeProblems(p.dir, p.name)))).flat();
  if (meta.length + types.length > 0) {
    console.error([...meta, ...types].join("\n"));
    throw new Error(`${meta.length} metadata and ${types.length} public-type problem(s)`);
  }
  console.log("metadata (license, repository, homepage, bugs, keywords, author): complete; every type the public API uses is exported");
  const licenseText = await readFile(join(root, "LICENSE"), "utf8");
  const lap = phase(started);
  // The release dry run: `changeset version` on whatever changesets exist, in a scratch copy.
  const scratch = await scratchCopy(root, pkgs.map((p) => p.dir));
  const out = await mkdtemp(join(tmpdir(), "mixdepth-tarballs-"));
  try {
    const release = await versionRelease(root, scratch, pkgs);
    const notes = Object.entries(release.changelogs);
    const releaseProblems = [...versionProblems(release.versions), ...notes.flatMap(([n, c]) => changelogProblems(n, c))];
    if (releaseProblems.length > 0) throw new Error(`release dry run:\n${releaseProblems.join("\n")}`);
    const entries = notes.reduce((n, [, c]) => n + c.split("\n").filter((l) => l.startsWith("- ") && !l.startsWith("- Updated dependencies")).length, 0);
    console.log(`release dry run (changeset version in a scratch copy): ${pkgs.length} packages at ${FIRST_VERSION}; ${entries} changelog entries, none with a dev-log phrase ${lap()}`);
    const scratchDir = (p) => join(scratch, relative(root, p.dir));
    const tarballs = [];
    for (const p of pkgs) tarballs.push(await packPackage(scratchDir(p), out));
    console.log(`packed ${tarballs.length} tarballs at ${FIRST_VERSION}: ${tarballs.map((t) => basename(t)).join(", ")} ${lap()}`);
    const lic = (await Promise.all(pkgs.map((p, i) => licenseProblems(tarballs[i], p.name, licenseText)))).flat();
    if (lic.length > 0) throw new Error(lic.join("\n"));
    console.log("LICENSE: in every tarball, identical to the repository's");
    for (const [i, p] of pkgs.entries()) await attwTarball(tarballs[i]).catch((e) => {
      throw new Error(`${p.name}: ${e.message}`);
    });
    console.log(`attw (node16 from CJS and ESM, bundler): no problems ${lap()}`);
    // Every public entry: each package and its subpaths (`@mixdepth/transformer/node`, `@mixdepth/train/node`).
    const names = pkgs.flatMap((p) => [p.name, ...Object.keys(p.pkg.exports ?? {}).filter((k) => k !== "." && k !== "./package.json").map((k) => p.name + k.slice(1))]);
    const consumer = [
      ...names.map((n, i) => `import * as p${i} from ${JSON.stringify(n)};`),
      `export const surfaces: Record<string, readonly string[]> = { ${names.map((n, i) => `${JSON.stringify(n)}: Object.keys(p${i})`).join(", ")} };`,
    ].join("\n");
    // Publish with the release command to a local registry, then install by name from it.
    const registry = await startRegistry(root);
    let installed;
    try {
      console.log(`local registry: verdaccio on ${registry.url} ${lap()}`);
      await changesetPublish(root, scratch, registry, pkgs.map((p) => p.name));
      console.log(`changeset publish: ${pkgs.length} packages published to ${registry.url} at ${FIRST_VERSION} ${lap()}`);
      installed = await installAndImport({
        tarballs: [],
        names,
        registryDeps: [...pkgs.map((p) => p.name), `@tensorflow/tfjs@${TFJS}`, `@tensorflow/tfjs-core@${TFJS}`, "typescript@5.9.3", `tsx@${TSX}`, "@types/node@20"],
        npmrc: `@mixdepth:registry=${registry.url}\n`,
        setup: 'import "@tensorflow/tfjs";',
        requireSetup: REQUIRE_SMOKE,
        consumerTs: consumer,
        keep: true,
      });
      const where = await resolvedProblems(installed.dir, pkgs.map((p) => p.name), registry.url);
      if (where.length > 0) throw new Error(where.join("\n"));
      const sampler = JSON.parse(await readFile(join(installed.dir, "node_modules/@mixdepth/sampler/package.json"), "utf8"));
      const ranges = Object.entries(sampler.dependencies ?? {}).filter(([n]) => n.startsWith("@mixdepth/")).map(([n, r]) => `${n} ${r}`).join(", ");
      console.log(`fresh npm project: npm install ${pkgs.map((p) => p.name).join(" ")} by name; each at ${FIRST_VERSION} with the tarball the local registry serves; inter-package ranges resolved there (e.g. @mixdepth/sampler needs ${ranges}) ${lap()}`);
    } finally {
      await registry.stop();
    }
    const { dir, importOutput, requireOutput } = installed;
    try {
      process.stdout.write(importOutput);
      process.stdout.write(requireOutput);
      console.log("type-check of a TypeScript consumer against the shipped .d.ts: ok");
      // Issue 13: the training kit's README loop, then a custom router trained, saved, loaded, sampled.
      const kit = await runKitExample({
        dir,
        readme: await readFile(join(root, "packages/train/README.md"), "utf8"),
        routerModule: join(root, "examples/custom-router/dist/index.js"),
      });
      process.stdout.write(kit.readmeOutput);
      process.stdout.write(kit.routerOutput);
      console.log(`training kit: the README loop's loss falls; a custom router, loaded as a plugin, trains on 2 data-parallel ranks (loss falls), saves, loads and streams text ${lap()}`);
      const readmes = pkgs.map((p) => ({ name: p.name, readme: join(p.dir, "README.md") }));
      const blocks = await checkReadmeBlocks({ dir, readmes, readmeModule: join(root, "tooling/vitest/src/readme.ts") });
      for (const l of blocks.lines) console.log(l);
      console.log(`README blocks: ${blocks.count} ts blocks of ${pkgs.length} READMEs type-check (tsc strict) and run (${blocks.runs} runs: tsx, and require() where the README claims CommonJS) on the installed packages ${lap()}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  } finally {
    await rm(out, { recursive: true, force: true });
    await rm(scratch, { recursive: true, force: true });
  }
  console.log(`packaging check passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((err) => {
  console.error(`packaging check FAILED: ${err.message}`);
  process.exit(1);
});
