// A seeded, untrained checkpoint folder written the way a user's would be (saveModel from
// @mixdepth/transformer/node, in a child Node process on the cpu backend), for the tests that
// bundle or load a checkpoint of another shape than the bundled ones.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ModelConfig } from "@mixdepth/core";

const demoDir = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Writes `dir` (config.json with `extra` beside the model, model.safetensors); throws with the child's stderr on failure. */
export function makeCheckpoint(dir: string, model: ModelConfig, seed: number, extra: Record<string, unknown>): void {
  const made = spawnSync(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `import * as tf from "@tensorflow/tfjs";
       import { createTransformer } from "@mixdepth/transformer";
       import { saveModel } from "@mixdepth/transformer/node";
       await tf.setBackend("cpu");
       const m = createTransformer(${JSON.stringify(model)}, { seed: ${JSON.stringify(seed)} });
       saveModel(${JSON.stringify(dir)}, m, ${JSON.stringify(extra)});
       m.dispose();`,
    ],
    { cwd: demoDir, encoding: "utf8" },
  );
  if (made.status !== 0) throw new Error(`makeCheckpoint ${dir}: exit ${made.status}\n${made.stderr}`);
}
