// training.workers through the built CLI (`pnpm build` first): a bad value exits 2 before any
// work, naming the field and quoting the value; --workers 2 trains with 2 ranks, prints so,
// and the process exits on its own (no worker thread keeps it alive); a 2-rank run resumes
// with 1 rank (workers is not in the resume fingerprint); Ctrl-C with 2 ranks checkpoints
// and exits 0; --help shows the flag.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { cli, env, losses, run, tinySetup } from "./cli-test-helpers.js";

let dir = "";
let tiny: string[] = [];
beforeAll(() => ({ dir, tiny } = tinySetup()));

describe("mixdepth train --workers", () => {
  it("a bad training.workers exits 2 before any work", async () => {
    const out = join(dir, "bad-workers");
    for (const [args, message] of [
      [["--workers", "0"], /training\.workers: must be an integer from 1 to 16, or "auto" \(got 0\)/],
      [["--workers", "two"], /training\.workers: must be an integer from 1 to 16, or "auto" \(got "two"\)/],
      [["--set", "training.workers=1.5"], /training\.workers: must be an integer from 1 to 16, or "auto" \(got 1\.5\)/],
      // Capped (documented): 64 ranks used to start, capped only by the batch size.
      [["--workers", "64", "--batch-size", "64"], /training\.workers: must be an integer from 1 to 16, or "auto" \(got 64\)/],
    ] as const) {
      const r = await run(["train", ...tiny, "--out", out, ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).not.toMatch(/backend|data:/); // nothing loaded, nothing tokenized
    }
    expect(existsSync(out)).toBe(false);
  });

  it("--workers 2 trains with 2 ranks, the losses of 1 rank, and the process exits", async () => {
    const steps = ["--steps", "3"];
    const one = await run(["train", ...tiny, ...steps, "--out", join(dir, "w1"), "--workers", "1"]);
    const two = await run(["train", ...tiny, ...steps, "--out", join(dir, "w2"), "--workers", "2"]);
    expect(one.code, one.stderr).toBe(0);
    expect(two.code, two.stderr).toBe(0);
    expect(two.stdout).toMatch(/ranks: 2 \(training\.workers 2; data parallel: 1 \+ 1 rows per micro-batch/);
    expect(two.stdout).toMatch(/done: 3 steps/);
    const [a, b] = [losses(join(dir, "w1")), losses(join(dir, "w2"))];
    expect(a).toHaveLength(3);
    a.forEach((l, i) => expect(Math.abs(l - (b[i] as number)) / l).toBeLessThan(1e-5));
    expect(readdirSync(join(dir, "w2", "checkpoints"))).toContain("step-000003");
  }, 60_000);

  it("a 2-rank run resumes with 1 rank: the losses of an uninterrupted 1-rank run", async () => {
    const common = ["train", ...tiny, "--steps", "4", "--set", "training.checkpointEvery=2"];
    const one = await run([...common, "--out", join(dir, "r1"), "--workers", "1"]);
    expect(one.code, one.stderr).toBe(0);
    const two = join(dir, "r2");
    expect((await run([...common, "--out", two, "--workers", "2"])).code).toBe(0);
    // Back to step 2, as if stopped there, then resume on 1 rank.
    rmSync(join(two, "checkpoints", "step-000004"), { recursive: true });
    writeFileSync(join(two, "checkpoints", "latest.json"), JSON.stringify({ checkpoint: "step-000002", step: 2 }));
    const resumed = await run(["train", "--resume", two, "--workers", "1", "--backend", "cpu"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/resumed from .*step-000002 at step 2/);
    expect(resumed.stdout).toMatch(/ranks: 1 \(training\.workers 1; this thread only\)/);
    const [a, b] = [losses(join(dir, "r1")), losses(two)];
    expect(b).toHaveLength(4);
    a.forEach((l, i) => expect(Math.abs(l - (b[i] as number)) / l).toBeLessThan(1e-5));
  }, 60_000);

  it("Ctrl-C with 2 ranks: a checkpoint, exit 0, and the process ends", async () => {
    const d = join(dir, "sigint");
    const { code, out } = await new Promise<{ code: number | null; out: string }>((done) => {
      const child = spawn("node", [cli, "train", ...tiny, "--out", d, "--steps", "40", "--workers", "2"], { env });
      let out = "";
      const onData = (b: Buffer) => {
        out += b.toString();
        if (/step 4\/40/.test(out) && !child.killed) child.kill("SIGINT");
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.on("exit", (c) => done({ code: c, out }));
    });
    expect(code, out).toBe(0);
    expect(out).toMatch(/ranks: 2/);
    const step = Number(/interrupted at step (\d+)/.exec(out)?.[1]);
    expect(step).toBeLessThan(40);
    expect(JSON.parse(readFileSync(join(d, "checkpoints", "latest.json"), "utf8")).step).toBe(step);
  }, 60_000);

  it("--help shows the flag and its default", async () => {
    const r = await run(["train", "--help"]);
    expect(r.stdout).toMatch(/--workers <n\|auto>\s+training\.workers: ranks of data parallelism/);
    expect(r.stdout.replace(/\s+/g, " ")).toMatch(/\(default: "auto", preset quick\)/);
  });
});
