// Loads checkpoint folders with the TypeScript loader (@mixdepth/transformer/node loadModel, cpu
// backend) and prints, per request, the logits of the given tokens or the loader's error:
//   node scripts/ts-load.mjs requests.json   ([{ dir, tokens, shape: [B, S], routing, causal? }])
// -> stdout: JSON [{ ok: true, logits: number[], routerStates, tokenizer } | { ok: false, error }]
// The twin's round-trip tests (tests/test_checkpoint.py) run it on twin-written folders.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { setupBackend } from "@mixdepth/backend";
import { loadModel, readCheckpoint } from "@mixdepth/transformer/node";

const require = createRequire(import.meta.url);
const tf = await import(pathToFileURL(createRequire(require.resolve("@mixdepth/transformer")).resolve("@tensorflow/tfjs-core")).href);
await setupBackend({ backend: "cpu", log: () => {} });

const requests = JSON.parse(readFileSync(process.argv[2], "utf8"));
const results = requests.map((r) => {
  let model;
  try {
    const ck = readCheckpoint(r.dir);
    model = loadModel(r.dir);
    const routerStates = model.getRouterStates();
    if (!r.tokens) return { ok: true, routerStates, tokenizer: ck.json.tokenizer ?? null };
    const logits = tf.tidy(() => model.forward(tf.tensor2d(r.tokens, r.shape, "int32"), { routing: r.routing ?? "topk", ...(r.causal ? { causal: r.causal } : {}) }).logits);
    const out = { ok: true, logits: [...logits.dataSync()], routerStates, tokenizer: ck.json.tokenizer ?? null };
    logits.dispose();
    return out;
  } catch (e) {
    return { ok: false, error: e.message, name: e.name };
  } finally {
    model?.dispose();
  }
});
process.stdout.write(JSON.stringify(results));
