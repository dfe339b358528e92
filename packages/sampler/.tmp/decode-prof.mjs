import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { createTransformer } from "@mixdepth/transformer";
const require = createRequire(import.meta.url);
const dir = dirname(require.resolve("@tensorflow/tfjs-backend-wasm"));
setWasmPaths({ "tfjs-backend-wasm.wasm": join(dir, "tfjs-backend-wasm.wasm"), "tfjs-backend-wasm-simd.wasm": join(dir, "tfjs-backend-wasm-simd.wasm"), "tfjs-backend-wasm-threaded-simd.wasm": join(dir, "tfjs-backend-wasm-threaded-simd.wasm") });
await tf.setBackend(process.env.B ?? "wasm"); await tf.ready();
const D = Number(process.env.D ?? 64);
const base = D === 64 ? { vocabSize: 256, dModel: 64, nHeads: 4, nLayers: 4, contextLength: 128, family: "gpt2" } : { vocabSize: 256, dModel: 256, nHeads: 8, nLayers: 8, contextLength: 320, family: "gpt2" };
const dense = createTransformer(base, { seed: 0 });
const mod = createTransformer({ ...base, routing: { blocks: "every-other", capacity: 0.125 } }, { seed: 0 });
// make MoD route ~12.5%: shift predictor bias strongly negative except sometimes
for (const [n, v] of mod.getWeights()) if (n.endsWith("predictor.b2")) tf.tidy(() => v.assign(tf.fill([1], -1.2)));
const steps = Number(process.env.N ?? 96);
function run(model) {
  const cache = model.createCache();
  const prompt = tf.tensor2d([Array.from({ length: 32 }, (_, i) => (i * 7) % 256)], [1, 32], "int32");
  model.forward(prompt, { routing: "causal", cache, logits: "last" }).logits.dispose();
  prompt.dispose();
  const times = [];
  let routed = 0;
  for (let i = 0; i < steps; i++) {
    const x = tf.tensor2d([[(i * 13) % 256]], [1, 1], "int32");
    const c0 = process.cpuUsage();
    const out = model.forward(x, { routing: "causal", cache, logits: "last", trace: true });
    out.logits.dataSync();
    const c = process.cpuUsage(c0);
    times.push((c.user + c.system) / 1000);
    routed += out.traces.reduce((a, t) => a + t.processed[0].length, 0);
    out.logits.dispose(); x.dispose();
  }
  cache.dispose();
  times.sort((a, b) => a - b);
  return { med: times[times.length >> 1], routed: routed / steps };
}
for (let r = 0; r < 2; r++) { run(dense); run(mod); }
const res = { dense: [], mod: [] };
for (let r = 0; r < 3; r++) { res.dense.push(run(dense).med); const m = run(mod); res.mod.push(m.med); if (r === 0) console.log("mod routed per step (of 2 routed blocks):", m.routed.toFixed(2)); }
const med = (a) => a.sort((x, y) => x - y)[1];
console.log(`d=${D} cpu ms/step: dense ${med(res.dense).toFixed(3)} MoD ${med(res.mod).toFixed(3)} ratio ${(med(res.mod) / med(res.dense)).toFixed(3)}`);
if (process.env.PROF) {
  for (const [name, model] of [["dense", dense], ["mod", mod]]) {
    const cache = model.createCache();
    const p = tf.tensor2d([[1, 2, 3, 4]], [1, 4], "int32");
    model.forward(p, { routing: "causal", cache, logits: "last" }).logits.dispose();
    const x = tf.tensor2d([[5]], [1, 1], "int32");
    const prof = await tf.profile(() => { const o = model.forward(x, { routing: "causal", cache, logits: "last" }); o.logits.dispose(); });
    console.log(name, "kernels per step:", prof.kernels.length);
    cache.dispose();
  }
}
