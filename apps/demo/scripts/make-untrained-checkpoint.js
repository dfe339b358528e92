// Writes a seeded, UNTRAINED (random-init) checkpoint pair for the demo:
//   public/checkpoints/<name>/model.safetensors + config.json
// It exists so the page has a model to run before `mixdepth train` can produce a trained one;
// the config says "trained": false and the page labels it "untrained".
// Usage (after `pnpm --filter @mixdepth/transformer build`):
//   node apps/demo/scripts/make-untrained-checkpoint.js [outDir]
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { createTransformer, encodeSafetensors } from "@mixdepth/transformer";

const here = dirname(fileURLToPath(import.meta.url));
const outRoot = process.argv[2] ?? join(here, "..", "public", "checkpoints");

/** The shape of the bundled trained checkpoints (scripts/train-*.json): under 1 MB each. */
const base = { vocabSize: 256, dModel: 64, nHeads: 4, nLayers: 4, contextLength: 128, family: "gpt2" };
const configs = {
  mod: { ...base, routing: { blocks: "every-other", capacity: 0.125 } },
  dense: { ...base, routing: { blocks: "none" } },
};

/** The model's weights as safetensors bytes (F32), through the transformer's codec. */
function weightBytes(model) {
  const named = new Map();
  for (const [name, v] of model.getWeights()) named.set(name, { dtype: "F32", shape: [...v.shape], data: new Float32Array(v.dataSync()) });
  return encodeSafetensors(named, { format: "mixdepth", trained: "false" });
}

await tf.setBackend("cpu");
for (const [name, config] of Object.entries(configs)) {
  const model = createTransformer(config, { seed: 1234 });
  const dir = join(outRoot, name);
  mkdirSync(dir, { recursive: true });
  const bytes = weightBytes(model);
  writeFileSync(join(dir, "model.safetensors"), bytes);
  const json = {
    model: config,
    tokenizer: { type: "byte" },
    trained: false,
    description: "Random-init weights written by apps/demo/scripts/make-untrained-checkpoint.js (seed 1234): the routing is real, the text is noise.",
  };
  writeFileSync(join(dir, "config.json"), JSON.stringify(json, null, 2) + "\n");
  console.log(`${dir}: ${(bytes.byteLength / 1024).toFixed(0)} KiB, ${model.getWeights().size} weights`);
  model.dispose();
}
writeFileSync(join(outRoot, "index.json"), JSON.stringify({ mod: "checkpoints/mod", dense: "checkpoints/dense" }, null, 2) + "\n");
