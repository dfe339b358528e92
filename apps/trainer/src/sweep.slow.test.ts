// `mixdepth sweep` end to end on a tiny model (cpu backend): 2 budgets x 2 shapes x dense and
// MoD, then the stochastic control at MoD's optimum shape, 2 seeds at each optimum and the
// half-depth dense control (20 runs of 4-19 steps, 2 evaluations and checkpoints each).
// Killed with SIGKILL in the middle of run 4, it resumes that run from its checkpoint (the
// same losses as an uninterrupted run), skips the finished ones, and writes one report; a
// third invocation only skips; --budget runs one budget and refuses one not in the sweep.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli, env, losses, run, tinySetup } from "./cli-test-helpers.js";

describe("mixdepth sweep", () => {
  it("trains the grid and the seeds, resumes after SIGKILL, skips finished runs, writes one report", async () => {
    const { dir, tiny } = tinySetup();
    const out = join(dir, "sweep");
    // The sweep keeps the config's capacity (tiny.yaml's is 0.25); at 12.5 % the steps below hold.
    const args = ["sweep", ...tiny, "--set", "model.routing.capacity=0.125", "--budgets", "1.5e7,3e7", "--shapes", "16x2,16x4", "--seeds", "2", "--evals", "2", "--out", out];

    // Kill hard once run 4 (mod d16 L4 at the first budget, 6 steps, checkpoint at 3) has passed step 4.
    const killed = await new Promise<string>((resolveKill, reject) => {
      const child = spawn("node", [cli, ...args], { env });
      let seen = "";
      child.stdout.on("data", (d: Buffer) => {
        seen += d.toString();
        if (/\[sweep 4\/20\][^]*step 4\/6/.test(seen)) child.kill("SIGKILL");
      });
      child.on("exit", (_c, signal) => (signal === "SIGKILL" ? resolveKill(seen) : reject(new Error(`not killed:\n${seen}`))));
    });
    expect(killed).toMatch(/^sweep: 2 budget\(s\) x 2 shapes x dense and mod, then stochastic at mod's optimum shape, .*: 20 runs/m);
    expect(killed).toMatch(/\[sweep 2\/20\] 1\.50e7 mod-d16-L2-s0: 9 steps; sweep ETA \d/);

    const resumed = await run(args);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout.match(/: done already$/gm)).toHaveLength(3);
    expect(resumed.stdout).toMatch(/\[sweep 4\/20\] 1\.50e7 mod-d16-L4-s0: 6 steps, resuming at step 3;/);
    expect(resumed.stdout).toMatch(/\[sweep 20\/20\] 3\.00e7 dense-half-d16-L1-s1: \d+ steps/);
    // The resumed run computed what an uninterrupted run of the same config computes.
    const killedRun = join(out, "1.50e7", "mod-d16-L4-s0");
    const fresh = await run(["train", "--config", join(killedRun, "run.json"), "--backend", "cpu", "--out", join(dir, "fresh")]);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(losses(killedRun)).toHaveLength(6);
    expect(losses(killedRun)).toEqual(losses(join(dir, "fresh")));

    const html = readFileSync(join(out, "report.html"), "utf8");
    expect(html).toContain("isoFLOP curves: final validation loss (top-k) vs parameters");
    for (const v of ["dense", "mod", "stochastic", "dense-half"]) expect(html).toMatch(new RegExp(`<td>3\\.00e7</td><td>${v}</td><td>d16-L\\d</td>.*?<td>2</td>`));
    expect(html).toContain("<td>mod - dense</td>");
    const csv = readFileSync(join(out, "results.csv"), "utf8").trim().split("\n");
    expect(csv).toHaveLength(21);
    expect(csv.slice(1).every((l) => /,\d\.\d+,/.test(l))).toBe(true); // every run has a final loss

    const again = await run(args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.match(/: done already$/gm)).toHaveLength(20);
    expect(readFileSync(join(out, "results.csv"), "utf8").trim().split("\n")).toEqual(csv);

    const one = await run([...args, "--budget", "3e7"]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout.match(/: done already$/gm)).toHaveLength(10);
    const bad = await run([...args, "--budget", "5e7"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--budget: 50000000 is not one of the sweep's budgets \(1\.500e\+7, 3\.000e\+7\)/);
  }, 360_000);
});
