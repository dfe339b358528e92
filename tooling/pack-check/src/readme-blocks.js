// Every `ts` block of every publishable package's README, in a user's project where the
// packages are installed: type-checked as written by that project's TypeScript (strict, the
// consumer settings), and run by tsx as an ES module with each `// =>` / `// throws` line an
// assertion; where the README says the package works from CommonJS, the same program also
// runs through require(). The blocks and the assertion rewrite come from the repository's
// README runner (@mixdepth/vitest-config/readme), loaded by the project's tsx.
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

// Written into the project and run by its tsx: reads the READMEs, writes one folder per block
// (the block as written for tsc, its ESM program, its CommonJS program) and prints a manifest.
const GENERATOR = (readmeModule) => `
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { readmeProgram, tsBlocks } from ${JSON.stringify(readmeModule)};

const [out, spec] = process.argv.slice(2);
const manifest = [];
for (const { name, readme } of JSON.parse(spec)) {
  const text = readFileSync(readme, "utf8");
  const cjs = /CommonJS/.test(text);
  tsBlocks(text).forEach((block, i) => {
    const id = name.replace("@mixdepth/", "") + "-" + i;
    const dir = join(out, id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "block.ts"), block + "\\nexport {};\\n");
    const program = readmeProgram(block);
    writeFileSync(join(dir, "program.mts"), program);
    if (cjs) {
      const js = ts.transpileModule(program, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
      writeFileSync(join(dir, "program.cjs"), "(async () => {\\n" + js + "\\n})().catch((e) => {\\n  console.error(e);\\n  process.exit(1);\\n});\\n");
    }
    manifest.push({ id, name, block: i, dir, cjs });
  });
}
console.log(JSON.stringify(manifest));
`;

/** Runs `tasks` (functions returning promises) at most `n` at a time; results in order. */
async function pool(tasks, n) {
  const results = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, tasks.length) }, worker));
  return results;
}

/**
 * In `dir` (a project with the packages, typescript, tsx and @types/node installed): for each
 * `{ name, readme }`, type-check and run every `ts` block. Returns one line per block; throws
 * with every failure (a type error, a failed README check, a crash) named by package and block.
 */
export async function checkReadmeBlocks({ dir, readmes, readmeModule }) {
  const opts = { cwd: dir, maxBuffer: 1 << 24 };
  const tsx = join(dir, "node_modules/tsx/dist/cli.mjs");
  const out = join(dir, "readme");
  await mkdir(out, { recursive: true });
  await writeFile(join(dir, "gen-readme.mts"), GENERATOR(pathToFileURL(readmeModule).href));
  const gen = await run("node", [tsx, "gen-readme.mts", out, JSON.stringify(readmes)], opts).catch((e) => {
    throw new Error(`collecting the README blocks failed:\n${e.stdout ?? ""}${e.stderr ?? e.message}`);
  });
  const blocks = JSON.parse(gen.stdout.trim().split("\n").pop());
  await writeFile(
    join(out, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        noUncheckedIndexedAccess: true,
        verbatimModuleSyntax: true,
        noEmit: true,
        // The shipped .d.ts are library-checked by the consumer step; tfjs-layers' own .d.ts
        // (in the union package these blocks import) do not pass strict checks.
        skipLibCheck: true,
      },
      include: ["*/block.ts"],
    }),
  );
  const failures = [];
  await run("node", [join(dir, "node_modules/typescript/bin/tsc"), "-p", out], opts).catch((e) => {
    failures.push(`tsc (strict) on the README blocks:\n${e.stdout ?? ""}${e.stderr ?? ""}`.trimEnd());
  });
  const runs = blocks.flatMap((b) => [
    { b, kind: "ESM (tsx)", args: [tsx, join(b.dir, "program.mts")] },
    ...(b.cjs ? [{ b, kind: "CommonJS (require)", args: [join(b.dir, "program.cjs")] }] : []),
  ]);
  const results = await pool(
    runs.map((r) => async () => {
      const cwd = join(r.b.dir, r.kind.startsWith("ESM") ? "esm-run" : "cjs-run");
      await mkdir(cwd, { recursive: true });
      const t0 = Date.now();
      try {
        await run("node", r.args, { cwd, maxBuffer: 1 << 24, timeout: 120_000 });
        return { ok: true, r, s: (Date.now() - t0) / 1000 };
      } catch (e) {
        failures.push(`${r.b.name} README block ${r.b.block + 1}, ${r.kind}:\n${e.stdout ?? ""}${e.stderr ?? e.message}`.trimEnd());
        return { ok: false, r, s: (Date.now() - t0) / 1000 };
      }
    }),
    2,
  );
  if (failures.length > 0) throw new Error(`README blocks failed:\n${failures.join("\n\n")}`);
  const lines = blocks.map((b) => {
    const mine = results.filter((x) => x.r.b === b);
    return `${b.name} README block ${b.block + 1}: tsc strict ok; ${mine.map((x) => `${x.r.kind} ok (${x.s.toFixed(1)} s)`).join(", ")}`;
  });
  return { lines, count: blocks.length, runs: runs.length };
}
