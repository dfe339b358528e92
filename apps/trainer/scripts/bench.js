// `pnpm bench` (not a test: it prints measured numbers). One run, so that ratios compare
// like with like on a machine shared with other jobs (absolute times are noisy there; the
// step times are also given as this process's CPU time, which other jobs disturb less):
// backend and threads; the 1024^3 matmul peak; dense and MoD training steps (@mixdepth/train's
// trainStep: forward, backward, clipping, AdamW; median of BENCH_STEPS after one warmup) at
// the benchmark config and at the quick/compare presets' shape; achieved GFLOP/s and share of the peak; MoD/dense time
// against the FLOPs ratio; decode ms/token (the sampler's own bench script); and, when
// /usr/bin/python3 has torch, ../shared/bench/torch_step.py on the same shapes.
// Run: pnpm build && pnpm bench. Options (env): BENCH_STEPS (3), BENCH_BACKEND (auto),
// BENCH_DECODE=0 (skip decoding), BENCH_TORCH=0 (skip PyTorch), BENCH_TWIN=0 (skip the
// PyTorch twin's step, python/mixdepth-torch; BENCH_TWIN_THREADS, default 1), BENCH_CONFIGS=bench,quick,
// BENCH_RANKS (2; 0 skips the data-parallel "2 cores" lines).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { setupBackend } from "@mixdepth/backend";
import { resolveModelConfig } from "@mixdepth/core";
import { trainingFlops } from "@mixdepth/flops-accounting";
import { registerBuiltinRouters, routerCost } from "@mixdepth/router";
import { createTransformer } from "@mixdepth/transformer";
import { AdamW, decayRule, trainableWeights, trainStep } from "@mixdepth/train";
import { DataParallel, describeTimings } from "@mixdepth/train/node";

const STEPS = Number(process.env.BENCH_STEPS ?? 3);
// The "2 cores" lines: the same steps with this many data-parallel ranks (0: skip them).
const RANKS = Number(process.env.BENCH_RANKS ?? 2);
const root = fileURLToPath(new URL("../../../", import.meta.url));
const TORCH_SCRIPT = `${root}../shared/bench/torch_step.py`;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const cpuMs = (c) => (c.user + c.system) / 1000;

// gpt2 for both shapes: the PyTorch reference implements gpt2 only.
const CONFIGS = {
  bench: { model: { vocabSize: 256, dModel: 256, nHeads: 8, nLayers: 8, contextLength: 256, family: "gpt2" }, batch: 8, micro: 2 },
  quick: { model: { vocabSize: 256, dModel: 128, nHeads: 4, nLayers: 4, contextLength: 128, family: "gpt2" }, batch: 8, micro: 1 },
};
const MOD = { blocks: "every-other", capacity: 0.125 };

function matmulPeak() {
  const n = 1024;
  const a = tf.randomNormal([n, n], 0, 1, "float32", 1);
  const b = tf.randomNormal([n, n], 0, 1, "float32", 2);
  const cpu = [];
  const wall = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    // Not tf.tidy(() => tf.matMul(a, b).dataSync()): on wasm that form measured 10-20x slower.
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
    cpu.push(cpuMs(process.cpuUsage(c0)));
    wall.push(performance.now() - t0);
  }
  tf.dispose([a, b]);
  const g = (ms) => (2 * n ** 3) / (ms / 1000) / 1e9;
  return { cpu: g(median(cpu.slice(1))), wall: g(median(wall.slice(1))) };
}

/**
 * Median step time of one model: @mixdepth/train's trainStep, the step `mixdepth train` runs
 * (B sequences as `micro` micro-batches, each split over `ranks` ranks by
 * @mixdepth/train/node's DataParallel, gradients averaged, clipped at 1, one AdamW update with
 * the quick preset's settings). Losses are lm + aux per step.
 */
async function stepTimes(model, config, batch, micro, ranks) {
  const s = model.config.contextLength;
  const params = trainableWeights(model);
  const dp = await DataParallel.start(model, params, { ranks, config, seed: 0, backend: tf.getBackend() });
  const optimizer = new AdamW(params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, decay: decayRule({ decayEmbeddings: false, decayNormsAndBiases: false }) });
  const rows = batch / micro;
  // A constant rate: the schedule's cost is nil, and the steps stay comparable.
  const settings = { batchSize: rows, seqLen: s, gradAccum: micro, gradClip: 1, lr: 1e-3, minLr: 1e-3, warmupSteps: 0, steps: STEPS + 1 };
  const data = Array.from({ length: batch * (s + 1) }, (_, i) => (i * 7919 + 13) % model.config.vocabSize);
  const inputs = Int32Array.from(data.filter((_, i) => i % (s + 1) !== s));
  const targets = Int32Array.from(data.filter((_, i) => i % (s + 1) !== 0));
  const cpu = [];
  const wall = [];
  const losses = [];
  let m = 0; // the micro-batches of a step, in order; every step sees the same B sequences
  const nextBatch = () => {
    const part = { inputs: inputs.subarray(m * rows * s, (m + 1) * rows * s), targets: targets.subarray(m * rows * s, (m + 1) * rows * s) };
    m = (m + 1) % micro;
    return part;
  };
  try {
    for (let i = 0; i < STEPS + 1; i++) {
      if (i === 1) Object.assign(dp.timings, { calls: 0, copy: 0, own: 0, wait: 0, combine: 0, workerLoad: 0, workerCompute: 0, ownCpu: 0, workerCpu: 0 });
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const r = await trainStep({ model, params, optimizer, nextBatch, lossAndGrads: (b, n, len) => dp.step(b, n, len) }, settings, i);
      const loss = r.loss + r.aux;
      if (i > 0) {
        cpu.push(cpuMs(process.cpuUsage(c0)));
        wall.push(performance.now() - t0);
      }
      losses.push(loss);
    }
  } finally {
    await dp.close();
    optimizer.dispose();
  }
  return { cpu: median(cpu), wall: median(wall), losses, timings: { ...dp.timings } };
}

// The PyTorch twin's own training step (python/mixdepth-torch, train.train_step) on the same shape.
function twinStep(c) {
  const args = ["-m", "mixdepth_torch.bench", "--model", JSON.stringify(c.model), "--batch", c.batch, "--micro", c.micro, "--capacity", MOD.capacity, "--steps", STEPS, "--threads", process.env.BENCH_TWIN_THREADS ?? 1].map(String);
  const env = { ...process.env, PYTHONPATH: `${root}python/mixdepth-torch` };
  return JSON.parse(execFileSync(process.env.MIXDEPTH_PYTHON || "/usr/bin/python3", args, { env, encoding: "utf8" }).trim().split("\n").at(-1));
}

function torchStep(name, c) {
  const m = c.model;
  const args = [TORCH_SCRIPT, "--d", m.dModel, "--layers", m.nLayers, "--heads", m.nHeads, "--seq", m.contextLength, "--batch", c.batch, "--vocab", m.vocabSize, "--capacity", MOD.capacity, "--threads", 1, "--steps", STEPS].map(String);
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return JSON.parse(execFileSync("/usr/bin/python3", args, { env, encoding: "utf8" }).trim().split("\n").at(-1));
}

const loaded = await setupBackend({ backend: process.env.BENCH_BACKEND ?? "auto" });
let threads = "n/a";
if (loaded.name === "wasm") threads = String((await import("@tensorflow/tfjs-backend-wasm")).getThreadsCount());
console.log(`${loaded.details}`);
console.log(`threads: ${threads}; ranks: ${RANKS > 1 ? `1 and ${RANKS} (data parallel over worker threads, the "${RANKS} cores" lines)` : 1}; node ${process.versions.node}; tfjs ${tf.version.tfjs}; ${new Date().toISOString()}`);
const peak = matmulPeak();
console.log(`matmul 1024^3: ${peak.cpu.toFixed(1)} GFLOP/s per CPU-second (${peak.wall.toFixed(1)} by wall clock)`);

const hasTorch = () =>
  process.env.BENCH_TORCH !== "0" &&
  existsSync(TORCH_SCRIPT) &&
  (() => {
    try {
      execFileSync("/usr/bin/python3", ["-c", "import torch"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  })();
const results = {};
for (const name of (process.env.BENCH_CONFIGS ?? "bench,quick").split(",")) {
  const c = CONFIGS[name];
  if (!c) throw new Error(`BENCH_CONFIGS: unknown config ${JSON.stringify(name)}; expected ${Object.keys(CONFIGS).join(", ")}`);
  const m = c.model;
  console.log(`\n== ${name}: ${m.family} d=${m.dModel} L=${m.nLayers} H=${m.nHeads} S=${m.contextLength} B=${c.batch} (${c.micro} micro-batch${c.micro > 1 ? "es" : ""}) V=${m.vocabSize}, trainStep (AdamW); median of ${STEPS} steps after 1 warmup`);
  const r = {};
  for (const [variant, config] of [["dense", m], ["MoD", { ...m, routing: MOD }]]) {
    const model = createTransformer(config, { seed: 0 });
    // The peak is measured again right before and after the steps: on a shared machine the
    // conditions drift during a run, and the share should compare like with like.
    const before = matmulPeak();
    const t = await stepTimes(model, config, c.batch, c.micro, 1);
    const after = matmulPeak();
    model.dispose();
    const local = (before.cpu + after.cpu) / 2;
    registerBuiltinRouters();
    const flops = c.batch * trainingFlops(config, { seqLen: m.contextLength, routerCost: routerCost(resolveModelConfig(config)) }).total; // routers at their declared cost
    r[variant] = { ...t, flops };
    const g = flops / (t.cpu / 1000) / 1e9;
    console.log(`${variant.padEnd(5)} step: cpu ${(t.cpu / 1000).toFixed(2)} s, wall ${(t.wall / 1000).toFixed(2)} s; ${(flops / 1e9).toFixed(1)} GFLOP -> ${g.toFixed(1)} GFLOP/s = ${((100 * g) / local).toFixed(0)} % of the matmul peak measured around it (${before.cpu.toFixed(1)}, ${after.cpu.toFixed(1)}); losses ${t.losses.map((l) => l.toFixed(4)).join(" ")}`);
    if (RANKS > 1) {
      // Each rank gets as many rows per pass as one rank had (fewer micro-batches), so a
      // rank's memory and kernel shapes stay those of the 1-rank run.
      const micro = Math.max(1, Math.round(c.micro / RANKS));
      const m2 = createTransformer(config, { seed: 0 });
      const t2 = await stepTimes(m2, config, c.batch, micro, RANKS);
      m2.dispose();
      const rel = Math.max(...t.losses.map((l, k) => Math.abs(l - t2.losses[k]) / Math.abs(l)));
      const tm = t2.timings;
      const passes = tm.calls / STEPS; // micro-batches per step
      const per = (x) => x / Math.max(tm.calls, 1);
      // What 2 free cores would give, from CPU times (robust to other jobs): the 1-rank step
      // with its forward/backward (taken as the two blocks' CPU) replaced by the slower block
      // plus what data parallelism adds on the critical path (copy, load, combine).
      const blocks = passes * (per(tm.ownCpu) + per(tm.workerCpu));
      const critical = passes * (Math.max(per(tm.ownCpu), per(tm.workerCpu)) + per(tm.copy) + per(tm.workerLoad) + per(tm.combine));
      const estimate = t.cpu / (t.cpu - blocks + critical);
      console.log(
        `${variant.padEnd(5)} ${RANKS} cores: wall ${(t2.wall / 1000).toFixed(2)} s vs ${(t.wall / 1000).toFixed(2)} s with 1 rank = ${(t.wall / t2.wall).toFixed(2)}x (target >= 1.6x); ` +
          `cpu ${(t2.cpu / 1000).toFixed(2)} s; losses ${t2.losses.map((l) => l.toFixed(4)).join(" ")} (max relative difference to 1 rank ${rel.toExponential(1)}: ${rel <= 1e-5 ? "equal within 1e-5" : "NOT equal within 1e-5"})`,
      );
      console.log(`      ${describeTimings(tm)}; estimate from CPU times with ${RANKS} free cores: ${Number.isFinite(estimate) ? `${estimate.toFixed(2)}x` : "n/a (no /proc/thread-self)"}`);
    }
  }
  const timeRatio = r.MoD.cpu / r.dense.cpu;
  const flopsRatio = r.MoD.flops / r.dense.flops;
  console.log(`MoD/dense: time ${timeRatio.toFixed(3)} (wall ${(r.MoD.wall / r.dense.wall).toFixed(3)}), FLOPs ${flopsRatio.toFixed(3)}, time/FLOPs ${(timeRatio / flopsRatio).toFixed(3)} (target within 15 %: ${Math.abs(timeRatio / flopsRatio - 1) <= 0.15 ? "met" : "not met"})`);
  if (hasTorch()) {
    const t = torchStep(name, c);
    console.log(`PyTorch ${t.torch} (1 thread): dense ${t.dense_step_ms} ms, MoD ${t.mod_step_ms} ms per step, matmul 1024^3 ${t.matmul_1024_gflops} GFLOP/s`);
    console.log(`mixdepth/PyTorch: dense ${(r.dense.wall / t.dense_step_ms).toFixed(1)}x wall (${(r.dense.cpu / t.dense_step_ms).toFixed(1)}x by CPU time), MoD ${(r.MoD.wall / t.mod_step_ms).toFixed(1)}x wall (${(r.MoD.cpu / t.mod_step_ms).toFixed(1)}x by CPU time)`);
  }
  if (process.env.BENCH_TWIN !== "0") {
    try {
      const w = twinStep(c);
      console.log(`mixdepth-torch twin (torch ${w.torch}, ${w.device}, ${w.threads} thread${w.threads > 1 ? "s" : ""}): dense ${w.dense_step_ms} ms, MoD ${w.mod_step_ms} ms per step; mixdepth/twin: dense ${(r.dense.wall / w.dense_step_ms).toFixed(1)}x, MoD ${(r.MoD.wall / w.mod_step_ms).toFixed(1)}x wall`);
    } catch (e) {
      console.log(`mixdepth-torch twin: not run (${String(e.message).split("\n")[0]}; set MIXDEPTH_PYTHON to a Python with torch)`);
    }
  }
  results[name] = r;
}
if (!hasTorch()) console.log("\nPyTorch: /usr/bin/python3 cannot import torch (see ../shared/bench/torch_step.py to install it); no ratios");

if (process.env.BENCH_DECODE !== "0") {
  console.log("\n== decode (packages/sampler/scripts/bench.js, BENCH_REPEATS=1, at the bench size)");
  const out = execFileSync("node", [`${root}packages/sampler/scripts/bench.js`], { env: { ...process.env, BENCH_REPEATS: "1", BENCH_BACKEND: loaded.name === "tensorflow" ? "tensorflow" : loaded.name }, encoding: "utf8", cwd: `${root}packages/sampler` });
  for (const line of out.split("\n")) if (/^(ms per generated token|FLOPs per token|time ratio|prefill)/.test(line)) console.log(line);
}
