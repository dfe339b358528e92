// The built CLI (`pnpm build` first) on config errors and small runs: an unknown router kind
// or option exits 2 before any work, --version, defaults in --help, --print-config, a short
// --steps with the preset's warmup clamped, --resume extending training.steps (and refusing
// any other change, field by field), --plugin failures as one line.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { run, tinySetup } from "./cli-test-helpers.js";

let dir = "";
let tiny: string[] = [];
beforeAll(() => ({ dir, tiny } = tinySetup()));

describe("mixdepth config handling", () => {
  it("an unknown router kind or misspelt router option exits 2 before any work", async () => {
    const out = join(dir, "bad-router");
    for (const [args, message] of [
      [["--set", "model.routing.router=unknown"], /model\.routing\.router: unknown router kind; registered: learned, stochastic \(got "unknown"\)/],
      [["--set", "model.routing.routerOptions.initstd=0.1"], /model\.routing\.routerOptions\.initstd: unknown option of the learned router/],
      [["--set", "model.routing.capacty=0.5"], /model\.routing\.capacty: unknown field/],
      [["--set", "model.routing.__proto__.capacity=0.5"], /--set: "model\.routing\.__proto__\.capacity" is not a config field path/],
      [["--set", "model.nLayers=100000000"], /model\.nLayers: must be at most 10000 \(MODEL_LIMITS\.maxLayers\) \(got 100000000\)/], // hung before (issue 12 item 7)
    ] as const) {
      const r = await run(["train", ...tiny, "--out", out, ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(r.stdout).not.toMatch(/backend|data:|tokeniz/); // no backend load, no tokenizing
    }
    expect(existsSync(out)).toBe(false); // no run folder
    expect(existsSync(join(dir, "cache"))).toBe(false); // no token cache
  });

  it("compare refuses routing it cannot compare before the backend loads", async () => {
    const out = join(dir, "cmp");
    const r = await run(["compare", ...tiny, "--out", out, "--set", "model.routing.router=stochastic"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/model\.routing\.router: is the control variant of every sweep/);
    expect(r.stdout).not.toMatch(/backend/);
    expect(existsSync(out)).toBe(false);
  });

  it("--plugin that cannot load is one line, exit 2", async () => {
    const r = await run(["train", ...tiny, "--out", join(dir, "p"), "--plugin", "./no-such-router.mjs"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^error: plugin ".*no-such-router\.mjs": cannot find it/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("--version, and defaults in --help", async () => {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
    const v = await run(["--version"]);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toBe(pkg.version);
    const help = (await run(["train", "--help"])).stdout.replace(/\s+/g, " "); // unwrapped
    expect(help).toMatch(/--steps <n> training\.steps \(default: 1000, preset quick\)/);
    expect(help).toMatch(/--lr <x> training\.lr, the peak learning rate \(default: 0\.003, preset quick\)/);
    expect((await run(["compare", "--help"])).stdout.replace(/\s+/g, " ")).toMatch(/training\.steps \(default: 400, preset compare\)/);
  });

  it("--print-config prints the resolved config and exits; --steps 10 clamps the preset's warmup with a note", async () => {
    const out = join(dir, "printed");
    const r = await run(["train", "--steps", "10", "--out", out, "--print-config"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/note: training\.warmupSteps 100 \(preset quick\) clamped to training\.steps 10/);
    const printed = parseYaml(r.stdout) as { training: { steps: number; warmupSteps: number }; model: { routing: { capacity: number } }; output: { dir: string } };
    expect(printed.training).toMatchObject({ steps: 10, warmupSteps: 10 });
    expect(printed.model.routing.capacity).toBe(0.125);
    expect(printed.output.dir).toBe(out);
    expect(existsSync(out)).toBe(false);
    // What it prints is a config file that loads back to the same config.
    writeFileSync(join(dir, "printed.yaml"), r.stdout);
    const again = await run(["train", "--config", join(dir, "printed.yaml"), "--print-config"]);
    expect(again.stdout).toBe(r.stdout);
  });

  it("a short run trains with the preset's warmup clamped", async () => {
    const cfg = join(dir, "nowarmup.yaml");
    // tiny.yaml without its warmupSteps: the quick preset's 100 applies
    writeFileSync(cfg, readFileSync(join(dir, "tiny.yaml"), "utf8").replace("warmupSteps: 2, ", ""));
    const out = join(dir, "short");
    const r = await run(["train", "--config", cfg, "--backend", "cpu", "--out", out, "--steps", "3"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/clamped to training\.steps 3/);
    expect(r.stdout).toMatch(/done: 3 steps/);
  }, 120_000);

  it("--resume may extend training.steps; any other change is refused, field by field", async () => {
    const d = join(dir, "extend");
    expect((await run(["train", ...tiny, "--out", d, "--steps", "4"])).code).toBe(0);
    const refused = await run(["train", "--resume", d, "--backend", "cpu", "--steps", "6", "--lr", "0.001", "--set", "training.batchSize=3"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/only training\.steps may change when resuming; changed:\n {2}training\.batchSize: 2 in the run, 3 now\n {2}training\.lr: 0\.003 in the run, 0\.001 now/);
    const fewer = await run(["train", "--resume", d, "--backend", "cpu", "--steps", "2"]);
    expect(fewer.code).toBe(2);
    expect(fewer.stderr).toMatch(/training\.steps: must be >= 4, the steps .* has already done \(got 2\)/);
    const extended = await run(["train", "--resume", d, "--backend", "cpu", "--steps", "6"]);
    expect(extended.code, extended.stderr).toBe(0);
    expect(extended.stdout).toMatch(/resumed from .*step-000004 at step 4/);
    expect(extended.stdout).toMatch(/done: 6 steps/);
    expect(JSON.parse(readFileSync(join(d, "checkpoints", "latest.json"), "utf8")).step).toBe(6);
    expect((JSON.parse(readFileSync(join(d, "run.json"), "utf8")) as { training: { steps: number } }).training.steps).toBe(6);
  }, 180_000);

  it("--resume without a folder (-o DIR, or the config's output.dir) takes the same field-by-field check as --resume DIR", async () => {
    const d = join(dir, "bare-resume");
    expect((await run(["train", ...tiny, "--out", d, "--steps", "4"])).code).toBe(0);
    const change = ["--lr", "0.001", "--set", "training.weightDecay=0.5", "--set", "training.warmupSteps=1"];
    const expected = /only training\.steps may change when resuming; changed:\n {2}training\.lr: 0\.003 in the run, 0\.001 now\n {2}training\.warmupSteps: 2 in the run, 1 now\n {2}training\.weightDecay: [\d.]+ in the run, 0\.5 now/;
    for (const where of [["-o", d], ["--set", `output.dir=${d}`]]) {
      // With the run's own config file, as a user would: the model matches, only the changes differ.
      const r = await run(["train", "--resume", ...where, ...tiny, "--steps", "6", ...change]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(expected);
    }
    const none = await run(["train", "--resume", "-o", join(dir, "no-run-here"), "--backend", "cpu"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--resume: .*no-run-here has no run\.json, so it is not a run folder to continue/);
    const ok = await run(["train", "--resume", "-o", d, "--backend", "cpu", "--steps", "6"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/resumed from .*step-000004 at step 4/);
  }, 180_000);
});
