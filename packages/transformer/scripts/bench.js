// Training-step benchmark on the wasm backend (not a test: it prints measured numbers).
// Dense vs MoD (capacity 0.125, every other block) at d=256, L=8, H=8, S=256, B=8, V=256:
// median time of a full step (forward, backward, Adam update), the time ratio against the
// training-FLOPs ratio from @mixdepth/flops-accounting, achieved GFLOP/s, and a 1024^3
// matmul GFLOP/s measured in the same run as the backend's ceiling.
// Run: pnpm --filter @mixdepth/transformer... build && pnpm --filter @mixdepth/transformer run bench
// Options (env): BENCH_STEPS (default 3), BENCH_WARMUP (default 1), BENCH_BACKEND (default wasm).
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { trainingFlops } from "@mixdepth/flops-accounting";
import { createTransformer } from "../dist/index.js";

const require = createRequire(import.meta.url);
const STEPS = Number(process.env.BENCH_STEPS ?? 3);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1);
const BACKEND = process.env.BENCH_BACKEND ?? "wasm";
const B = 8;
const S = 256;

async function setup() {
  if (BACKEND === "wasm") {
    const dir = dirname(require.resolve("@tensorflow/tfjs-backend-wasm"));
    setWasmPaths({
      "tfjs-backend-wasm.wasm": join(dir, "tfjs-backend-wasm.wasm"),
      "tfjs-backend-wasm-simd.wasm": join(dir, "tfjs-backend-wasm-simd.wasm"),
      "tfjs-backend-wasm-threaded-simd.wasm": join(dir, "tfjs-backend-wasm-threaded-simd.wasm"),
    });
  }
  if (!(await tf.setBackend(BACKEND))) throw new Error(`could not start the ${BACKEND} backend`);
  await tf.ready();
  console.log(`backend: ${tf.getBackend()}`);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function matmulGflops() {
  const n = 1024;
  const a = tf.randomNormal([n, n], 0, 1, "float32", 1);
  const b = tf.randomNormal([n, n], 0, 1, "float32", 2);
  const times = [];
  for (let i = 0; i < 4; i++) {
    const t0 = performance.now();
    const c = tf.matMul(a, b);
    c.dataSync();
    times.push(performance.now() - t0);
    c.dispose();
  }
  tf.dispose([a, b]);
  return (2 * n ** 3) / (median(times.slice(1)) / 1000) / 1e9;
}

function benchModel(name, config) {
  const model = createTransformer(config, { seed: 0 });
  const optimizer = tf.train.adam(1e-3);
  const vars = model.trainableVariables();
  const data = Array.from({ length: B * (S + 1) }, (_, i) => (i * 7919 + 13) % config.vocabSize);
  const x = tf.tensor2d(data.filter((_, i) => i % (S + 1) !== S), [B, S], "int32");
  const y = tf.tensor2d(data.filter((_, i) => i % (S + 1) !== 0), [B, S], "int32");
  const times = [];
  let loss = NaN;
  const before = tf.memory().numTensors;
  for (let i = 0; i < WARMUP + STEPS; i++) {
    const t0 = performance.now();
    const cost = optimizer.minimize(() => model.loss(x, y).total, true, vars);
    loss = cost.dataSync()[0];
    cost.dispose();
    const ms = performance.now() - t0;
    if (i >= WARMUP) times.push(ms);
    console.log(`  ${name} step ${i}${i < WARMUP ? " (warmup)" : ""}: ${(ms / 1000).toFixed(2)} s, loss ${loss.toFixed(4)}`);
  }
  const flops = B * trainingFlops(config, { seqLen: S }).total;
  const ms = median(times);
  const leaked = tf.memory().numTensors - before;
  tf.dispose([x, y]);
  optimizer.dispose();
  model.dispose();
  return { name, ms, flops, gflops: flops / (ms / 1000) / 1e9, leaked };
}

await setup();
const base = { vocabSize: 256, dModel: 256, nHeads: 8, nLayers: 8, contextLength: S, family: "gpt2" };
const dense = { ...base };
const mod = { ...base, routing: { blocks: "every-other", capacity: 0.125 } };
console.log(`config: d=256 L=8 H=8 S=${S} B=${B} V=256, Adam; ${WARMUP} warmup + ${STEPS} timed steps each`);
const peak = matmulGflops();
console.log(`matmul 1024^3: ${peak.toFixed(1)} GFLOP/s`);
const d = benchModel("dense", dense);
const m = benchModel("MoD", mod);
const timeRatio = m.ms / d.ms;
const flopsRatio = m.flops / d.flops;
const row = (r) => `${r.name.padEnd(6)} median step ${(r.ms / 1000).toFixed(2)} s  training FLOPs ${(r.flops / 1e9).toFixed(1)} GFLOP  achieved ${r.gflops.toFixed(1)} GFLOP/s (${((100 * r.gflops) / peak).toFixed(0)}% of matmul)  tensors leaked/step ${r.leaked}`;
console.log(row(d));
console.log(row(m));
console.log(`MoD/dense: time ratio ${timeRatio.toFixed(3)}, FLOPs ratio ${flopsRatio.toFixed(3)}, time/FLOPs ${(timeRatio / flopsRatio).toFixed(3)} (target within 15%: ${Math.abs(timeRatio / flopsRatio - 1) <= 0.15 ? "yes" : "no"})`);
