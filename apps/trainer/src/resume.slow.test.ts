// Acceptance tests (slow: several tiny training runs as child processes on the cpu backend):
// the same seed twice gives the same loss sequence, and a run killed with SIGKILL and resumed
// gives the same loss sequence as an uninterrupted one; compare end to end.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { cli, env, losses, run, tinySetup } from "./cli-test-helpers.js";

let dir = "";
let tiny: string[] = [];
beforeAll(() => ({ dir, tiny } = tinySetup()));

describe("mixdepth train: determinism and exact resume", () => {
  it("same seed twice gives the same loss sequence; SIGKILL + --resume continues it exactly", async () => {
    const a = join(dir, "a");
    const b = join(dir, "b");
    const ra = await run(["train", ...tiny, "--out", a]);
    expect(ra.code, ra.stderr).toBe(0);
    expect(ra.stdout).toMatch(/^backend: cpu \(cpu\)$/m);
    expect(ra.stdout).toMatch(/checkpoint: .*step-000012/);
    expect(ra.stdout).toMatch(/report: .*report\.html/);
    const rb = await run(["train", ...tiny, "--out", b]);
    expect(rb.code).toBe(0);
    const reference = losses(a);
    expect(reference).toHaveLength(12);
    expect(losses(b)).toEqual(reference);

    // Kill hard after step 6 (a checkpoint exists at step 4), then resume.
    const c = join(dir, "c");
    await killAfterStep6([...tiny, "--out", c]);
    const rc = await run(["train", "--resume", c, "--backend", "cpu"]);
    expect(rc.code, rc.stderr).toBe(0);
    expect(rc.stdout).toMatch(/resumed from .*step-0000(04|08) at step (4|8)/);
    expect(losses(c)).toEqual(reference);

    // Starting again in a folder that holds a run, without --resume, is refused.
    const again = await run(["train", ...tiny, "--out", a]);
    expect(again.code).toBe(2); // input error (exit codes: src/errors.ts)
    expect(again.stderr).toMatch(/already holds a run; pass --resume/);

    // eval reads the checkpoint without the trainer state and prints both routings.
    const ev = await run(["eval", a, "--backend", "cpu", "--batches", "1", "--batch-size", "2"]);
    expect(ev.code, ev.stderr).toBe(0);
    expect(ev.stdout).toMatch(/top-k routing: {2}loss \d/);
    expect(ev.stdout).toMatch(/causal routing: loss \d/);
    expect(ev.stdout).toMatch(/block 1: nominal 0\.25, .*accuracy/);
    expect(ev.stdout).toMatch(/training FLOPs so far: \d/);
  }, 180_000);

  it("stochastic routing resumes exactly too (the router's random stream is checkpointed)", async () => {
    const args = [...tiny, "--set", "model.routing.router=stochastic"];
    const a = join(dir, "sa");
    const ra = await run(["train", ...args, "--out", a]);
    expect(ra.code, ra.stderr).toBe(0);
    const reference = losses(a);
    const c = join(dir, "sc");
    await killAfterStep6([...args, "--out", c]);
    const rc = await run(["train", "--resume", c, "--backend", "cpu"]);
    expect(rc.code, rc.stderr).toBe(0);
    expect(losses(c)).toEqual(reference);
  }, 180_000);

  it("compare trains dense, MoD and stochastic at one FLOPs budget and writes one report", async () => {
    const out = join(dir, "cmp");
    const r = await run(["compare", ...tiny, "--out", out, "--steps", "6"]);
    expect(r.code, r.stderr).toBe(0);
    const steps = Object.fromEntries([...r.stdout.matchAll(/^ {2}(dense|mod|stochastic): (\d+) steps/gm)].map((m) => [m[1], Number(m[2])]));
    expect(steps.dense).toBe(6);
    expect(steps.mod).toBeGreaterThan(6); // cheaper steps: more of them for the same FLOPs
    expect(r.stdout).toMatch(/^\| mod \| \d+ \| \d/m);
    const html = readFileSync(join(out, "report.html"), "utf8");
    for (const v of ["dense", "mod", "stochastic"]) expect(html).toContain(`<td>${v}</td>`);
    expect(html.match(/<svg /g)).toHaveLength(2);
  }, 300_000);
});

/** Starts `mixdepth train <args>` and kills it with SIGKILL once it prints step 6 of 12. */
function killAfterStep6(args: string[]): Promise<void> {
  return new Promise<void>((resolveKill, reject) => {
    const child = spawn("node", [cli, "train", ...args], { env });
    let seen = "";
    child.stdout.on("data", (d: Buffer) => {
      seen += d.toString();
      if (/step 6\/12/.test(seen)) child.kill("SIGKILL");
    });
    child.on("exit", (_code, signal) => (signal === "SIGKILL" ? resolveKill() : reject(new Error(`not killed: ${seen}`))));
  });
}
