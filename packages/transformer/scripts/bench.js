// Training-step benchmark on the wasm backend (not a test: it prints measured numbers).
// Dense vs MoD (capacity 0.125, every other block) at d=256, L=8, H=8, S=256, B=8, V=256:
// median time of a full step (forward, backward, Adam update), the time ratio against the
// training-FLOPs ratio from @mixdepth/flops-accounting, achieved GFLOP/s, and a 1024^3
// matmul GFLOP/s measured in the same run as the backend's ceiling.
// Run: pnpm --filter @mixdepth/transformer... build && pnpm --filter @mixdepth/transformer run bench
// Options (env): BENCH_STEPS (default 3), BENCH_WARMUP (default 1), BENCH_BACKEND (default wasm),
// BENCH_WASM_FIXES=0 (measure without @mixdepth/backend's wasm matmul fix).
import * as tf from "@tensorflow/tfjs";
import { setupBackend } from "@mixdepth/backend";
import { resolveModelConfig } from "@mixdepth/core";
import { trainingFlops } from "@mixdepth/flops-accounting";
import { registerBuiltinRouters, routerCost } from "@mixdepth/router";
import { createTransformer } from "../dist/index.js";

const STEPS = Number(process.env.BENCH_STEPS ?? 3);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1);
const BACKEND = process.env.BENCH_BACKEND ?? "wasm";
const B = 8;
// The wasm heap (32-bit) runs out at B=8 when the whole step's activations are alive at
// once, so the batch is processed as BENCH_MICRO micro-batches whose gradients are summed
// before one Adam update: the same FLOPs and the same update as one B=8 step.
const MICRO = Number(process.env.BENCH_MICRO ?? 2);
const S = 256;

async function setup() {
  // The same one call a user makes: on wasm it installs the matmul fix (BENCH_WASM_FIXES=0: without).
  const got = await setupBackend({ backend: BACKEND, wasmFixes: process.env.BENCH_WASM_FIXES !== "0" });
  console.log(got.details);
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
    const c0 = process.cpuUsage();
    const c = tf.matMul(a, b);
    c.dataSync();
    const u = process.cpuUsage(c0);
    times.push((u.user + u.system) / 1000); // CPU ms, like the step times below
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
  const cpuTimes = [];
  let loss = NaN;
  let before = 0;
  for (let i = 0; i < WARMUP + STEPS; i++) {
    if (i === Math.max(WARMUP, 1)) before = tf.memory().numTensors; // after Adam has created its slots
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    let sum = null;
    let total = 0;
    for (let m = 0; m < MICRO; m++) {
      const rows = B / MICRO;
      const xs = tf.slice(x, [m * rows, 0], [rows, S]);
      const ys = tf.slice(y, [m * rows, 0], [rows, S]);
      const { value, grads } = tf.variableGrads(() => tf.div(model.loss(xs, ys).total, MICRO), vars);
      total += value.dataSync()[0];
      if (sum === null) sum = grads;
      else {
        for (const k of Object.keys(grads)) {
          const s2 = tf.add(sum[k], grads[k]);
          tf.dispose([sum[k], grads[k]]);
          sum[k] = s2;
        }
      }
      tf.dispose([xs, ys, value]);
    }
    optimizer.applyGradients(sum);
    tf.dispose(Object.values(sum));
    loss = total;
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    const cpuMs = (c.user + c.system) / 1000;
    if (i >= WARMUP) {
      times.push(ms);
      cpuTimes.push(cpuMs);
    }
    console.log(`  ${name} step ${i}${i < WARMUP ? " (warmup)" : ""}: wall ${(ms / 1000).toFixed(2)} s, cpu ${(cpuMs / 1000).toFixed(2)} s, loss (lm + aux) ${loss.toFixed(4)}`);
  }
  registerBuiltinRouters();
  const flops = B * trainingFlops(config, { seqLen: S, routerCost: routerCost(resolveModelConfig(config)) }).total; // routers at their declared cost
  // CPU time of this (single-threaded wasm) process: robust when other jobs share the cores.
  const ms = median(cpuTimes);
  const wallMs = median(times);
  const leaked = WARMUP + STEPS > 1 ? (tf.memory().numTensors - before) / (WARMUP + STEPS - Math.max(WARMUP, 1)) : NaN;
  tf.dispose([x, y]);
  optimizer.dispose();
  model.dispose();
  return { name, ms, wallMs, flops, gflops: flops / (ms / 1000) / 1e9, leaked };
}

await setup();
const base = { vocabSize: 256, dModel: 256, nHeads: 8, nLayers: 8, contextLength: S, family: "gpt2" };
const dense = { ...base };
const mod = { ...base, routing: { blocks: "every-other", capacity: 0.125 } };
console.log(`config: d=256 L=8 H=8 S=${S} B=${B} (${MICRO} micro-batches) V=256, Adam; ${WARMUP} warmup + ${STEPS} timed steps each`);
const peak = matmulGflops();
console.log(`matmul 1024^3: ${peak.toFixed(1)} GFLOP/s (cpu time)`);
const d = benchModel("dense", dense);
const m = benchModel("MoD", mod);
const timeRatio = m.ms / d.ms;
const flopsRatio = m.flops / d.flops;
const row = (r) => `${r.name.padEnd(6)} median step cpu ${(r.ms / 1000).toFixed(2)} s (wall ${(r.wallMs / 1000).toFixed(2)} s)  training FLOPs ${(r.flops / 1e9).toFixed(1)} GFLOP  achieved ${r.gflops.toFixed(1)} GFLOP/s (${((100 * r.gflops) / peak).toFixed(0)}% of matmul)  tensors leaked per step ${r.leaked}`;
console.log(row(d));
console.log(row(m));
console.log(`MoD/dense (cpu time): time ratio ${timeRatio.toFixed(3)} (wall ${(m.wallMs / d.wallMs).toFixed(3)}), FLOPs ratio ${flopsRatio.toFixed(3)}, time/FLOPs ${(timeRatio / flopsRatio).toFixed(3)} (target within 15%: ${Math.abs(timeRatio / flopsRatio - 1) <= 0.15 ? "yes" : "no"})`);
