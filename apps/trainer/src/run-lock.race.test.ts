// The run lock under a race harness: two processes start together on one run folder, 100
// times with a stale lock present (its process is gone) and 100 times with none; at most one
// may hold the lock each time, and one always does. The lock module is compiled to plain JS
// (TypeScript's transpiler) so the two child processes can load it without a build.
import { fork, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";

const work = mkdtempSync(join(tmpdir(), "mixdepth-lock-race-"));
const source = readFileSync(fileURLToPath(new URL("./run-lock.ts", import.meta.url)), "utf8");
writeFileSync(join(work, "run-lock.mjs"), ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText);
// A contender: on {dir, at} it waits for the common start time, tries the lock and answers;
// on "release" it lets go. The busy wait lines both attempts up to the same millisecond.
writeFileSync(
  join(work, "contender.mjs"),
  `import { lockRunDir } from "./run-lock.mjs";
let release = null;
process.on("message", (m) => {
  if (m === "release") { release?.(); release = null; process.send("released"); return; }
  while (Date.now() < m.at);
  try { release = lockRunDir(m.dir); process.send("held"); } catch (e) { process.send(e.name === "RunLockedError" ? "refused" : "error: " + e.message); }
});`,
);

const ask = (c: ChildProcess, m: unknown) => new Promise<string>((res) => { c.once("message", (r) => res(String(r))); c.send(m as string); });

const children: ChildProcess[] = [];
afterAll(() => children.forEach((c) => c.kill()));

describe("lockRunDir race", () => {
  it("100 paired starts with a stale lock and 100 without: exactly one holder every time", async () => {
    const a = fork(join(work, "contender.mjs"));
    const b = fork(join(work, "contender.mjs"));
    children.push(a, b);
    const dead = Number(spawnSync("node", ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString());
    const tally = { stale: { both: 0, none: 0 }, fresh: { both: 0, none: 0 } };
    for (let i = 0; i < 200; i++) {
      const stale = i % 2 === 0;
      const dir = mkdtempSync(join(work, "run-"));
      if (stale) writeFileSync(join(dir, ".lock"), JSON.stringify({ pid: dead, host: hostname(), started: "t0" }) + "\n");
      const at = Date.now() + 15;
      const got = await Promise.all([ask(a, { dir, at }), ask(b, { dir, at })]);
      for (const g of got) expect(g).toMatch(/^(held|refused)$/);
      const holders = got.filter((g) => g === "held").length;
      const t = stale ? tally.stale : tally.fresh;
      if (holders === 2) t.both++;
      if (holders === 0) t.none++;
      await Promise.all([ask(a, "release"), ask(b, "release")]);
    }
    console.log(`run lock race: two holders in ${tally.stale.both}/100 starts with a stale lock, ${tally.fresh.both}/100 without; no holder in ${tally.stale.none + tally.fresh.none}/200`);
    expect(tally).toEqual({ stale: { both: 0, none: 0 }, fresh: { both: 0, none: 0 } });
  }, 120_000);
});
