// The built CLI end to end as a child process (`pnpm build` first), on a tiny config and the
// cpu backend: exit codes, nothing written on a bad config, NaN handling, and clear errors
// for damaged checkpoints. Determinism and SIGKILL + --resume: resume.slow.test.ts.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { cli, env, run, tinySetup } from "./cli-test-helpers.js";

let dir = "";
let tiny: string[] = [];
beforeAll(() => ({ dir, tiny } = tinySetup()));

describe("mixdepth CLI", () => {
  it("has --help on every command", async () => {
    for (const cmd of ["train", "eval", "sample", "compare"]) {
      const r = await run([cmd, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/--backend/);
    }
  });

  it("a bad config exits 2 naming the field and value, and writes nothing", async () => {
    const out = join(dir, "bad");
    for (const args of [["--set", "training.lr=-1"], ["--set", "model.nHeads=3"], ["--steps", "ten"]]) {
      const r = await run(["train", ...tiny, "--out", out, ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/training\.lr: .*\(got -1\)|model\.nHeads: must divide dModel=16 \(got 3\)|training\.steps: .*\(got "ten"\)/);
      expect(r.stdout).not.toMatch(/^backend:/m);
    }
    expect(existsSync(out)).toBe(false);
  });

  it("a truncated or mismatched checkpoint gives a clear error", async () => {
    const d = join(dir, "trunc");
    expect((await run(["train", ...tiny, "--out", d, "--steps", "4"])).code).toBe(0);
    const ck = join(d, "checkpoints", "step-000004");
    const mismatch = await run(["train", "--resume", d, "--backend", "cpu", "--set", "model.dModel=32"]);
    expect(mismatch.code).toBe(2);
    expect(mismatch.stderr).toMatch(/only training\.steps may change when resuming; changed:\n {2}model\.dModel: 16 in the run, 32 now/);
    const sample = await run(["sample", d, "--backend", "cpu", "-n", "8", "--prompt", "The fox"]);
    expect(sample.code, sample.stderr).toBe(0);
    expect(sample.stdout).toMatch(/^The fox/m);
    expect(sample.stdout).toMatch(/8 tokens in .* tokens\/s/);
    expect(sample.stdout).toMatch(/block 1: routed .* of tokens \(nominal 0\.25\)/);
    const file = join(ck, "model.safetensors");
    truncateSync(file, readFileSync(file).length - 10);
    for (const args of [["eval", d, "--backend", "cpu"], ["train", "--resume", d, "--backend", "cpu"]]) {
      const r = await run(args);
      expect(r.code).toBe(2);
      expect(r.stderr).not.toMatch(/\n\s+at /); // one line, no stack trace
      // The header is checked first: its offsets run past the end of the truncated file.
      expect(r.stderr).toMatch(/model\.safetensors: safetensors: tensor ".*": data_offsets \[\d+, \d+\] out of range .*truncated file\?/);
    }
  }, 120_000);

  it("sample prints, for a seed, exactly what it printed before it used @mixdepth/sampler's one-call generator", async () => {
    const d = join(dir, "golden");
    expect((await run(["train", ...tiny, "--out", d, "--steps", "4"])).code).toBe(0);
    // sha256 of stdout with the run folder as RUN and the timing line as TIMING, recorded from
    // the CLI of main 46c0d49 (generateStream called by hand) on this tiny run.
    const golden: [string[], string][] = [
      [["--seed", "0", "-n", "40", "--prompt", "The fox é", "--top-k", "20"], "483bcc6da2b95bcf670065cd744deeef33aa9f03eab39206ecddd42b550a98b4"],
      [["--seed", "7", "-n", "40", "--prompt", "The fox é", "--top-k", "20"], "2a3e33832ef0ef35071d9d853155ca90f35d952677ac6a490c4ef267ca53e14c"],
      // A prompt longer than the context (50 tokens, contextLength 16): the note, then the slide.
      [["-n", "30", "-t", "0", "--prompt", "The quick brown fox jumpsThe quick brown fox jumps"], "1174f87f224a30252c733d5563582982b76a78e6fa2a092996a55e4bdfc4d200"],
    ];
    for (const [args, sha] of golden) {
      const r = await run(["sample", d, "--backend", "cpu", ...args]);
      expect(r.code, r.stderr).toBe(0);
      const normalized = r.stdout.split(d).join("RUN").replace(/^\d+ tokens in .*$/m, "TIMING");
      expect(createHash("sha256").update(normalized).digest("hex"), normalized).toBe(sha);
    }
  }, 120_000);

  it("user errors: one line, exit 2, no stack (empty prompt, malformed latest.json, bad data); --debug adds the stack", async () => {
    const d = join(dir, "policy");
    expect((await run(["train", ...tiny, "--out", d, "--steps", "2"])).code).toBe(0);
    const empty = await run(["sample", d, "--backend", "cpu", "--prompt", ""]);
    expect(empty.code).toBe(2);
    const lastLine = (t: string) => t.trim().split("\n").at(-1);
    expect(lastLine(empty.stderr)).toBe('error: --prompt: must not be empty (got ""); give some text to continue');
    writeFileSync(join(d, "checkpoints", "latest.json"), "{oops");
    const latest = await run(["sample", d, "--backend", "cpu"]);
    expect(latest.code).toBe(2);
    expect(lastLine(latest.stderr)).toMatch(/^error: checkpoint: .*latest\.json is not valid JSON \(truncated\?\): /);
    const data = await run(["train", ...tiny, "--out", join(dir, "policy-data"), "--data", join(dir, "missing.txt")]);
    expect(data.code).toBe(2);
    expect(lastLine(data.stderr)).toMatch(/^error: --data: .*missing\.txt does not exist$/);
    expect(data.stderr).not.toMatch(/\n\s+at /);
    const debug = await run(["train", ...tiny, "--out", join(dir, "policy-data"), "--data", join(dir, "missing.txt"), "--debug"]);
    expect(debug.code).toBe(2);
    expect(debug.stderr).toMatch(/\n\s+at /);
  }, 120_000);

  it("a config too large for memory exits 2 with the estimate and the limit, before the backend loads or anything is written", async () => {
    const out = join(dir, "huge");
    for (const args of [["--set", "training.batchSize=100000"], ["--max-memory", "0.0001"]]) {
      const r = await run(["train", ...tiny, "--out", out, ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/error: this config needs about \d+\.\d+ [GM]iB per training step \(.*\), more than the limit \d+\.\d+ [GM]iB; .* --max-memory <GiB>/);
      expect(r.stdout).not.toMatch(/^backend:/m);
    }
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it("Ctrl-C (SIGINT) stops after the current step, writes a checkpoint and exits 0", async () => {
    const d = join(dir, "sigint");
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolveRun) => {
      const child = spawn("node", [cli, "train", ...tiny, "--out", d, "--steps", "40"], { env });
      let out = "";
      let sent = false;
      const onData = (b: Buffer) => {
        out += b.toString();
        if (!sent && /step 4\/40/.test(out)) {
          sent = true;
          child.kill("SIGINT");
        }
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.on("exit", (c) => resolveRun({ code: c, out }));
    });
    expect(code).toBe(0);
    const m = /interrupted at step (\d+); resume with: mixdepth train --resume/.exec(out);
    expect(m, out).not.toBeNull();
    const step = Number(m![1]);
    expect(step).toBeLessThan(40);
    expect(JSON.parse(readFileSync(join(d, "checkpoints", "latest.json"), "utf8")).step).toBe(step);
  }, 120_000);

  it("weights that overflow stop with exit 3, a message naming the step, and no checkpoint after it", async () => {
    const d = join(dir, "nan");
    const r = await run(["train", ...tiny, "--out", d, "--set", "training.lr=1e38", "--set", "training.gradClip=0"]);
    expect(r.code, r.stderr).toBe(3);
    const m = /at step (\d+); training stopped without writing a checkpoint/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const step = Number(m![1]);
    const kept = existsSync(join(d, "checkpoints")) ? readdirSync(join(d, "checkpoints")).filter((f) => f.startsWith("step-")) : [];
    expect(kept.every((f) => Number(f.slice(5)) < step)).toBe(true);
  }, 120_000);
});
