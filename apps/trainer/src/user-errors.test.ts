// User, data and plugin errors that used to end in "internal error ... please report it"
// (exit 70), each through the built CLI (`pnpm build` first): now one line naming the file or
// flag, the documented exit code, and nothing half written. Also the bounded reads of the
// CLI's own files (run.json, --data) on a FIFO and /dev/zero, which used to hang or crash.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { run, tinySetup } from "./cli-test-helpers.js";

let dir = "";
let tiny: string[] = [];
let runDir = "";
const ck = (d: string) => join(d, "checkpoints", "step-000004");
/** A copy of the trained run to damage. */
const copy = (name: string) => {
  const d = join(dir, name);
  cpSync(runDir, d, { recursive: true });
  return d;
};
const oneLine = (r: { stderr: string }) => expect(r.stderr).not.toMatch(/internal error|\n\s+at /);

beforeAll(async () => {
  ({ dir, tiny } = tinySetup());
  runDir = join(dir, "run");
  const r = await run(["train", ...tiny, "--out", runDir, "--steps", "4"]);
  expect(r.code, r.stderr).toBe(0);
}, 120_000);

describe("user errors exit with their code, not 70", () => {
  it("-o naming a file: exit 2, the file untouched", async () => {
    const file = join(dir, "a-file");
    writeFileSync(file, "keep me");
    const r = await run(["train", ...tiny, "--out", file, "--steps", "2"]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/--out: .*a-file exists and is not a folder; choose a folder/);
    oneLine(r);
    expect(readFileSync(file, "utf8")).toBe("keep me");
  }, 60_000);

  it("a poisoned token cache (ids outside the vocabulary) is rebuilt, not used", async () => {
    const cache = join(dir, "cache");
    const entry = readdirSync(cache)[0] as string;
    const ids = join(cache, entry, "train.i32");
    const b = readFileSync(ids);
    b.writeInt32LE(99_999, 0);
    writeFileSync(ids, b);
    const r = await run(["train", ...tiny, "--out", join(dir, "poisoned"), "--steps", "2"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/tokenized in /);
    expect(readFileSync(ids).readInt32LE(0)).toBeLessThan(256);
  }, 60_000);

  it("NaN weights in sample and eval: exit 2 naming the weight (a checkpoint without trainer-state.json, so no hash catches the edit first)", async () => {
    const d = copy("nan");
    const w = join(ck(d), "model.safetensors");
    const b = readFileSync(w);
    const n = Number(b.readBigUInt64LE(0));
    b.writeFloatLE(Number.NaN, 8 + n);
    writeFileSync(w, b);
    rmSync(join(ck(d), "trainer-state.json")); // a model-only checkpoint: no sha256 to catch the edit
    for (const cmd of [["sample", d, "-n", "4"], ["eval", d, "--batches", "1"]]) {
      const r = await run([...cmd, "--backend", "cpu"]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/holds non-finite values in "[^"]+" \(element 0 is NaN\); use an earlier checkpoint/);
      oneLine(r);
    }
  }, 60_000);

  it("trainer-state.json holding null: exit 2 for eval and resume", async () => {
    const d = copy("null-state");
    writeFileSync(join(ck(d), "trainer-state.json"), "null\n");
    for (const cmd of [["eval", d, "--batches", "1"], ["train", "--resume", d]]) {
      const r = await run([...cmd, "--backend", "cpu"]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/trainer-state\.json must hold a JSON object \(got null\)/);
      oneLine(r);
    }
  }, 60_000);

  it("a router plugin that cannot build its router: exit 2 naming kind and block, and no empty run folder left", async () => {
    const plugin = join(dir, "boom.mjs");
    writeFileSync(plugin, `export function register(registry) { registry.registerRouter("boom", () => { throw new Error("no router today"); }); }`);
    const out = join(dir, "boom-run");
    const r = await run(["train", ...tiny, "--plugin", plugin, "--set", "model.routing.router=boom", "--out", out, "--steps", "2"]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/block 1: the "boom" router could not be created: no router today/);
    oneLine(r);
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it("a plugin whose top-level await (or register) never settles: exit 2 naming it, not exit 0 having done nothing", async () => {
    const tla = join(dir, "tla.mjs");
    writeFileSync(tla, `await new Promise(() => {});\nexport function register() {}`);
    const never = join(dir, "never-registers.mjs");
    writeFileSync(never, `export function register() { return new Promise(() => {}); }`);
    for (const [plugin, message] of [
      [tla, /plugin ".*tla\.mjs": its module never finished loading \(a top-level await that never settles\?\)/],
      [never, /plugin ".*never-registers\.mjs": register\(\) never finished/],
    ] as const) {
      const r = await run(["train", ...tiny, "--plugin", plugin, "--out", join(dir, "tla-run"), "--steps", "2"]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      oneLine(r);
    }
    expect(existsSync(join(dir, "tla-run"))).toBe(false);
  }, 60_000);

  it("a data-parallel worker thread that dies (here a plugin throwing there): exit 1 with what to do, not 70", async () => {
    const plugin = join(dir, "worker-crash.mjs");
    writeFileSync(plugin, `import { isMainThread } from "node:worker_threads";\nexport function register() { if (!isMainThread) setTimeout(() => { throw new Error("worker crashed"); }, 20); }`);
    const r = await run(["train", ...tiny, "--plugin", plugin, "--workers", "2", "--out", join(dir, "worker-crash"), "--steps", "4"]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^error: data parallel: rank 1 \(worker thread\) failed: worker crashed \(--workers 1 trains without worker threads\)$/m);
    oneLine(r);
  }, 60_000);

  it("eval of a checkpoint outside its run needs --data (it used to evaluate on Brown silently)", async () => {
    const lone = join(dir, "lone-checkpoint");
    cpSync(ck(runDir), lone, { recursive: true });
    const r = await run(["eval", lone, "--backend", "cpu", "--batches", "1"]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/--data: .*lone-checkpoint is not inside a run folder \(no run\.json two levels up\), so its data is unknown; pass --data brown or a text file or folder/);
    const ok = await run(["eval", lone, "--backend", "cpu", "--batches", "1", "--data", join(dir, "text.txt")]);
    expect(ok.code, ok.stderr).toBe(0);
  }, 60_000);

  it("run.json or --data on a FIFO or /dev/zero: exit 2 at once (no hang, no endless read)", async () => {
    const fifo = join(dir, "fifo");
    spawnSync("mkfifo", [fifo]);
    const zero = join(dir, "zero");
    symlinkSync("/dev/zero", zero);
    for (const [data, kind] of [[fifo, "a FIFO"], [zero, "a device"]] as const) {
      const r = await run(["train", ...tiny, "--data", data, "--out", join(dir, "no-run"), "--steps", "2"]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`--data: .* is ${kind}; it must be a regular file`));
    }
    const d = copy("fifo-run-json");
    rmSync(join(d, "run.json"));
    spawnSync("mkfifo", [join(d, "run.json")]);
    const r = await run(["eval", d, "--backend", "cpu", "--batches", "1"]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/run\.json is a FIFO; .*must be a regular file/);
    expect(existsSync(join(dir, "no-run"))).toBe(false);
  }, 60_000);
});

describe("ranks and memory", () => {
  it("compare and sweep honour --max-memory for every planned run before anything is written; eval --batch-size 1e8 is refused (exit 2, not a V8 abort)", async () => {
    const cmp = join(dir, "compare-out");
    const c = await run(["compare", ...tiny, "--out", cmp, "--max-memory", "0.00001"]);
    expect(c.code, c.stderr).toBe(2);
    expect(c.stderr).toMatch(/^error: compare variant dense needs about [\d.]+ [MG]iB per training step .*more than the limit/m);
    expect(c.stdout).not.toMatch(/^backend:/m);
    expect(existsSync(cmp)).toBe(false);
    const swp = join(dir, "sweep-out");
    const s = await run(["sweep", ...tiny, "--out", swp, "--max-memory", "0.00001", "--budgets", "1e9", "--shapes", "16x2", "--seeds", "1"]);
    expect(s.code, s.stderr).toBe(2);
    expect(s.stderr).toMatch(/^error: sweep run dense-d16-L2-s0 at budget 1\.00e\+9 needs about/m);
    expect(existsSync(swp)).toBe(false);
    const e = await run(["eval", runDir, "--backend", "cpu", "--batch-size", "100000000"]);
    expect(e.code, e.stderr).toBe(2);
    expect(e.stderr).toMatch(/--batch-size 100000000 x --seq-len 16 \(8 batches\) needs about [\d.]+ GiB to evaluate, more than the limit/);
  }, 120_000);
});

describe("sweep", () => {
  it("a damaged sweep.json is named; a finished run whose metrics.jsonl lost its final evaluation is refused on rerun, naming it (it used to drop its budget and train another seed)", async () => {
    const out = join(dir, "sweep-damaged");
    const args = ["sweep", ...tiny, "--budgets", "1.5e7", "--shapes", "16x2", "--seeds", "1", "--evals", "2", "--out", out];
    const first = await run(args);
    expect(first.code, first.stderr).toBe(0);
    const runs = readdirSync(join(out, "1.50e7")).sort();
    // A damaged sweep.json is named as damaged (it used to read as "another spec").
    const specFile = join(out, "sweep.json");
    const spec = readFileSync(specFile, "utf8");
    writeFileSync(specFile, spec.slice(0, 20));
    const damaged = await run(args);
    expect(damaged.code, damaged.stderr).toBe(2);
    expect(damaged.stderr).toMatch(/--out: .*sweep\.json is damaged \(not valid JSON\); restore it, or delete it if the runs in .* belong to this spec and config/);
    writeFileSync(specFile, spec);
    const metrics = join(out, "1.50e7", "mod-d16-L2-s0", "metrics.jsonl");
    writeFileSync(metrics, readFileSync(metrics, "utf8").split("\n").filter((l) => !l.includes('"type":"eval"')).join("\n"));
    const again = await run(args);
    expect(again.code, again.stderr).toBe(2);
    expect(again.stderr).toMatch(/mod-d16-L2-s0: finished \(step \d+\) but .*metrics\.jsonl has no evaluation at step \d+ \(damaged\?\); restore it, or delete .* to train this run again/);
    expect(again.stdout).not.toMatch(/^sweep: done/m);
    expect(readdirSync(join(out, "1.50e7")).sort()).toEqual(runs); // no extra run trained
  }, 180_000);
});
