// Per-kernel profile of one training step of the benchmark model (not a test: it prints a
// table). gpt2 d=256 L=8 H=8 S=256 V=256, one micro-batch of 4 sequences (half of the bench
// step's B=8), forward + backward + Adam update, after one warmup step; kernel times from
// tf.profile (wasm kernels run synchronously, so each time is the kernel's own).
// Run: pnpm turbo run build --filter @mixdepth/transformer... && node packages/transformer/scripts/profile.js
// Options (env): PROFILE_MOD=1 (MoD model), PROFILE_WASM_FIXES=0, PROFILE_TOP (default 14).
import * as tf from "@tensorflow/tfjs";
import { setupBackend } from "@mixdepth/backend";
import { createTransformer } from "../dist/index.js";

const MOD = process.env.PROFILE_MOD === "1";
const TOP = Number(process.env.PROFILE_TOP ?? 14);
const B = 4;
const S = 256;
const got = await setupBackend({ backend: process.env.PROFILE_BACKEND ?? "wasm", wasmFixes: process.env.PROFILE_WASM_FIXES !== "0" });
console.log(got.details);
const config = { vocabSize: 256, dModel: 256, nHeads: 8, nLayers: 8, contextLength: S, family: "gpt2", ...(MOD ? { routing: { blocks: "every-other", capacity: 0.125 } } : {}) };
const model = createTransformer(config, { seed: 0 });
const vars = model.trainableVariables();
const optimizer = tf.train.adam(1e-3);
const data = Array.from({ length: B * (S + 1) }, (_, i) => (i * 7919 + 13) % 256);
const x = tf.tensor2d(data.filter((_, i) => i % (S + 1) !== S), [B, S], "int32");
const y = tf.tensor2d(data.filter((_, i) => i % (S + 1) !== 0), [B, S], "int32");
const step = () => {
  const { value, grads } = tf.variableGrads(() => model.loss(x, y).total, vars);
  optimizer.applyGradients(grads);
  tf.dispose([value, ...Object.values(grads)]);
};
step();
const c0 = process.cpuUsage();
const info = await tf.profile(step);
const cpu = process.cpuUsage(c0);
const rows = new Map();
const shapes = new Map();
let total = 0;
for (const k of info.kernels) {
  const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
  total += ms;
  const r = rows.get(k.name) ?? { ms: 0, n: 0 };
  r.ms += ms;
  r.n += 1;
  rows.set(k.name, r);
  if (k.name === "BatchMatMul") {
    const key = k.inputShapes.map((s) => `[${s}]`).join("x");
    const q = shapes.get(key) ?? { ms: 0, n: 0 };
    q.ms += ms;
    q.n += 1;
    shapes.set(key, q);
  }
}
console.log(`${MOD ? "MoD" : "dense"} step (B=${B}, S=${S}): ${info.kernels.length} kernels, ${total.toFixed(0)} ms in kernels, process cpu ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms`);
console.log("| kernel | calls | ms | share |\n| --- | ---: | ---: | ---: |");
for (const [name, r] of [...rows].sort((a, b) => b[1].ms - a[1].ms).slice(0, TOP)) console.log(`| ${name} | ${r.n} | ${r.ms.toFixed(0)} | ${((100 * r.ms) / total).toFixed(1)} % |`);
console.log("\nBatchMatMul by input shapes:\n| shapes | calls | ms |\n| --- | ---: | ---: |");
for (const [key, r] of [...shapes].sort((a, b) => b[1].ms - a[1].ms).slice(0, 10)) console.log(`| ${key} | ${r.n} | ${r.ms.toFixed(0)} |`);
tf.dispose([x, y]);
optimizer.dispose();
model.dispose();
