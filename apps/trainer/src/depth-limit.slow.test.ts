// Slow (three runs of a 300-block model as child processes on the cpu backend): a depth the
// config accepts is a depth its checkpoints can be read back at. A 300-block run used to train
// and save, then its own `eval` and `--resume` exited 2 at the checkpoint reader's 256 blocks
// (core allowed 10,000); both limits are now core's MODEL_LIMITS.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { run, tinySetup } from "./cli-test-helpers.js";

describe("a 300-block run", () => {
  it("trains, evaluates and resumes (exit 0 each)", async () => {
    const { dir } = tinySetup();
    const config = join(dir, "deep.yaml");
    writeFileSync(
      config,
      [
        "model: { vocabSize: 256, dModel: 8, nHeads: 2, nLayers: 300, contextLength: 8, mlpHidden: 8, routing: { blocks: [299], capacity: 0.5 } }",
        "training: { steps: 2, batchSize: 1, seqLen: 8, warmupSteps: 0, evalEvery: 2, evalBatches: 1, checkpointEvery: 1, workers: 1 }",
        `data: { source: ${JSON.stringify(join(dir, "text.txt"))}, cacheDir: ${JSON.stringify(join(dir, "cache"))} }`,
      ].join("\n"),
    );
    const out = join(dir, "deep");
    const trained = await run(["train", "--config", config, "--backend", "cpu", "--out", out]);
    expect(trained.code, trained.stderr).toBe(0);
    const evaluated = await run(["eval", out, "--backend", "cpu", "--data", join(dir, "text.txt"), "--batches", "1", "--batch-size", "1"]);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(evaluated.stdout).toMatch(/top-k routing: +loss \d/);
    const resumed = await run(["train", "--config", config, "--backend", "cpu", "--out", out, "--resume", "--steps", "3"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/done: 3 steps/);
  }, 600_000);
});
