// The isoFLOP study's mechanics end to end with the PyTorch twin at d=16: `sweep --plan --engine
// torch` measures each grid shape and prints the hours; a 2-budget x 2-shape micro-study with
// --jobs 2 (two twin runs at once, one thread each) is killed with SIGKILL in its first budget's
// grid and resumes; every run's losses equal a standalone `train --engine torch` of its run.json
// (so neither the order nor the concurrency changes a result); the stochastic control sits at
// MoD's optimum shape; each run records its machine and load; `sweep-report` writes the study
// report with a tfjs sweep of the smallest budget as the cross-engine table.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli, env, losses, run, tinySetup } from "./cli-test-helpers.js";

describe("mixdepth sweep --engine torch --jobs 2", () => {
  it("plans with measured hours, trains two at once, resumes after SIGKILL, and writes the study report", async () => {
    const { dir, tiny } = tinySetup();
    const out = join(dir, "sweep");
    const spec = ["--set", "model.routing.capacity=0.125", "--budgets", "1.5e7,3e7", "--shapes", "16x2,16x4", "--seeds", "2", "--evals", "2"];
    const args = ["sweep", ...tiny, ...spec, "--engine", "torch", "--jobs", "2", "--out", out];

    const plan = await run([...args, "--plan"]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/^ {2}measured mod d16-L4: \d+(\.\d+)? ms\/step/m);
    expect(plan.stdout).toMatch(/^sweep: estimated wall time \d+\.\d\d h at --jobs 2 \(\d+\.\d\d run-hours, measured on .*, load \d/m);
    expect(existsSync(out)).toBe(false); // the plan writes nothing

    // SIGKILL once the grid's third run has started (runs 1 and 2 trained side by side).
    const killed = await new Promise<string>((resolveKill, reject) => {
      const child = spawn("node", [cli, ...args], { env });
      let seen = "";
      child.stdout.on("data", (d: Buffer) => {
        seen += d.toString();
        if (/\[sweep 3\/20\]/.test(seen)) child.kill("SIGKILL");
      });
      child.on("exit", (_c, signal) => (signal === "SIGKILL" ? resolveKill(seen) : reject(new Error(`not killed:\n${seen}`))));
    });
    expect(killed).toMatch(/\[sweep 2\/20\] 1\.50e7 mod-d16-L2-s0: 9 steps/);
    await new Promise((r) => setTimeout(r, 500)); // the twins die with the sweep (dieWithParent)

    const resumed = await run(args);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/\[sweep 20\/20\] 3\.00e7 dense-half-d16-L1-s1: \d+ steps/);
    expect(resumed.stdout).toMatch(/^ {2}\[mod-d16-L4-s0\] /m); // the twin's lines carry their run's name

    // Every run trained in the sweep (concurrently, resumed or not) equals a fresh single run.
    for (const name of ["mod-d16-L2-s0", "dense-d16-L4-s0", "mod-d16-L4-s0"]) {
      const runDir = join(out, "1.50e7", name);
      // One torch thread, as each of the sweep's --jobs 2 runs had (the thread count may change float sums).
      const fresh = await run(["train", "--engine", "torch", "--config", join(runDir, "run.json"), "--out", join(dir, `fresh-${name}`)], { OMP_NUM_THREADS: "1" });
      expect(fresh.code, fresh.stderr).toBe(0);
      expect(losses(runDir).length).toBeGreaterThan(3);
      expect(losses(runDir)).toEqual(losses(join(dir, `fresh-${name}`)));
    }
    const rec = JSON.parse(readFileSync(join(out, "3.00e7", "mod-d16-L4-s0", "sweep-run.json"), "utf8")) as { engine: string; sittings: { machine: { cpus: number }; loadavgStart: number[]; jobs: number; toStep: number }[] };
    expect(rec.engine).toBe("torch");
    expect(rec.sittings.at(-1)).toMatchObject({ jobs: 2, toStep: 12 });
    expect(rec.sittings[0]!.loadavgStart).toHaveLength(3);
    expect(rec.sittings[0]!.machine.cpus).toBeGreaterThan(0);

    // The stochastic control trained only at MoD's optimum shape, seeds 0 and 1.
    const csv = readFileSync(join(out, "results.csv"), "utf8").trim().split("\n").slice(1).map((l) => l.split(","));
    expect(csv).toHaveLength(20);
    for (const b of ["15000000", "30000000"]) {
      const mods = csv.filter((c) => c[0] === b && c[3] === "mod" && c[2] === "grid");
      const best = mods.reduce((x, y) => (Number(y[9]) < Number(x[9]) ? y : x));
      const st = csv.filter((c) => c[0] === b && c[3] === "stochastic");
      expect(st.map((c) => [c[5], c[6]])).toEqual([[best[5], "0"], [best[5], "1"]]);
    }

    // The smallest budget with the TypeScript engine, then the study report of both.
    const tfjs = await run(["sweep", ...tiny, ...spec, "--budget", "1.5e7", "--out", join(dir, "sweep-tfjs")]);
    expect(tfjs.code, tfjs.stderr).toBe(0);
    const report = join(dir, "isoflop");
    const rep = await run(["sweep-report", out, join(dir, "sweep-tfjs"), "--out", report]);
    expect(rep.code, rep.stderr).toBe(0);
    const md = readFileSync(join(report, "README.md"), "utf8");
    expect(readdirSync(report).filter((f) => f.endsWith(".svg")).sort()).toEqual(["isoflop-tfjs-1.50e7.svg", "isoflop-torch-1.50e7.svg", "isoflop-torch-3.00e7.svg", "loss-vs-flops-tfjs.svg", "loss-vs-flops-torch.svg", "optima-tfjs.svg", "optima-torch.svg"]);
    expect(md).toMatch(/\| torch \| 3\.00e7 \| mod \| d16-L\d \| \d+ \| \d+ \| 2 \| [\d.]+ \| [\d.e-]+ \|/);
    expect(md).toMatch(/\| torch \| 1\.50e7 \| mod - dense \| 2 \| /);
    // The twin and TypeScript agree (the twin's parity): same optima, within the seed spread.
    expect(md).toMatch(/\| 1\.50e7 \| mod \| d16-L\d \| d16-L\d \| .* \| yes \|/);
    expect(md).toMatch(/\| torch \| 1\.50e7 \| 10 \| [\d.]+ \| [\d.]+ \| .+ \(\d+ x .+\) \| [\d.]+ \| 20\d\d-/);
    expect(readFileSync(join(report, "results.csv"), "utf8").trim().split("\n")).toHaveLength(31);
    expect(readdirSync(join(report, "configs")).sort()).toEqual(["tfjs-1-base.json", "tfjs-1-sweep.json", "torch-0-base.json", "torch-0-sweep.json"]);
    const bad = await run(["sweep-report", dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/<sweeps>: ".*" is not a sweep folder \(no sweep\.json in it\)/);
  }, 600_000);
});
