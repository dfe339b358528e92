// Non-finite training stops before any save: a NaN loss, and weights that an update made
// Inf while the loss stayed finite (the case that used to be checkpointed). The message names
// the step and the last checkpoint, whose weights are finite.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeSafetensors } from "@mixdepth/transformer";
import { loadConfig } from "./config.js";
import { NonFiniteError, train, type TrainFaults } from "./train.js";

function setup() {
  const dir = mkdtempSync(join(tmpdir(), "mixdepth-nf-"));
  writeFileSync(join(dir, "t.txt"), Array.from({ length: 2000 }, (_, i) => `sentence number ${i} of the finite test.`).join("\n"));
  const valid = loadConfig({
    overrides: [
      {
        model: { vocabSize: 256, dModel: 16, nHeads: 2, nLayers: 2, contextLength: 16, routing: { blocks: "every-other", capacity: 0.25 } },
        training: { steps: 8, batchSize: 2, seqLen: 16, warmupSteps: 2, evalEvery: 0, evalBatches: 1, checkpointEvery: 2, workers: 1 },
        data: { source: join(dir, "t.txt"), cacheDir: join(dir, "cache") },
      },
    ],
  });
  return { dir, valid, runDir: join(dir, "run") };
}

async function failing(faults: TrainFaults) {
  const { valid, runDir } = setup();
  const err = await train({ valid, runDir, resume: false, backendLine: "backend: test", out: { write: () => true }, report: false, faults }).then(
    () => null,
    (e: unknown) => e,
  );
  return { err, runDir };
}

function checkpointSteps(runDir: string): string[] {
  return readdirSync(join(runDir, "checkpoints")).filter((f) => f.startsWith("step-")).sort();
}

describe("non-finite training", () => {
  it("a weight made Inf by an update (finite loss) stops the run at that step, before the checkpoint", async () => {
    const { err, runDir } = await failing({ infWeightAtStep: 4 });
    expect(err).toBeInstanceOf(NonFiniteError);
    expect((err as Error).message).toMatch(/weight "tok_emb" is not finite after the update at step 4; training stopped without writing a checkpoint \(the last checkpoint with finite weights, .*step-000002, is intact\)/);
    expect(checkpointSteps(runDir)).toEqual(["step-000002"]);
    for (const t of decodeSafetensors(readFileSync(join(runDir, "checkpoints", "step-000002", "model.safetensors"))).tensors.values()) {
      expect(t.data.every((x) => Number.isFinite(x))).toBe(true);
    }
  }, 60_000);

  it("a NaN loss stops the run and names the last checkpoint", async () => {
    const { err, runDir } = await failing({ nanLossAtStep: 5 });
    expect((err as Error).message).toMatch(/the loss is NaN at step 5; training stopped without writing a checkpoint \(the last checkpoint with finite weights, .*step-000004, is intact\)/);
    expect(JSON.parse(readFileSync(join(runDir, "checkpoints", "latest.json"), "utf8"))).toEqual({ checkpoint: "step-000004", step: 4 });
  }, 60_000);

  it("a second trainer on a locked run folder is refused, naming the owner; nothing is written", async () => {
    const { valid, runDir } = setup();
    mkdirSync(runDir, { recursive: true });
    writeFileSync(join(runDir, ".lock"), JSON.stringify({ pid: process.ppid, host: hostname(), started: "t0" }));
    await expect(train({ valid, runDir, resume: false, backendLine: "b", out: { write: () => true }, report: false })).rejects.toThrow(
      new RegExp(`in use by another trainer \\(process ${process.ppid}`),
    );
    expect(readdirSync(runDir)).toEqual([".lock"]);
  }, 60_000);

  it("a fresh run in a folder with a stale metrics.jsonl starts a new file", async () => {
    const { valid, runDir } = setup();
    mkdirSync(runDir, { recursive: true });
    writeFileSync(join(runDir, "metrics.jsonl"), JSON.stringify({ type: "train", step: 99, loss: 123 }) + "\n");
    const short = { ...valid, config: { ...valid.config, training: { ...valid.config.training, steps: 2 } } };
    await train({ valid: short, runDir, resume: false, backendLine: "b", out: { write: () => true }, report: false });
    const steps = readFileSync(join(runDir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { type: string; step?: number });
    expect(steps.filter((r) => r.type === "train").map((r) => r.step)).toEqual([1, 2]);
    expect(existsSync(join(runDir, ".lock"))).toBe(false);
  }, 60_000);
});
