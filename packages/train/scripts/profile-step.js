// Per-kernel profile of the default job's training step (not a test: it prints a table):
// trainStep, the step `mixdepth train --preset quick` runs (loss and gradients, the
// non-finite checks, clipByGlobalNorm, AdamW with its weight decay groups), on the quick preset's model (llama
// d=128 L=4 H=4 S=128 B=8 V=256, MoD every other block at 12.5 %) after STEPS warmup steps.
// Kernel times from tf.profile (wasm kernels run synchronously, so each time is the kernel's
// own); "step ms" is the median wall and process-CPU time of STEPS unprofiled steps.
// Run: pnpm turbo run build --filter @mixdepth/train... && node packages/train/scripts/profile-step.js
// Options (env): PROFILE_FAMILY (llama), PROFILE_D (128), PROFILE_L (4), PROFILE_H (4),
// PROFILE_S (128), PROFILE_B (8), PROFILE_MOD (1; 0 = dense), PROFILE_BACKEND (wasm),
// PROFILE_TOP (16), PROFILE_STEPS (5), PROFILE_AB=1 (also time STEPS steps alternating with
// @mixdepth/backend's wasm copy and sum fixes uninstalled and installed, in this one process;
// the matmul fix stays on).
import * as tf from "@tensorflow/tfjs";
import * as backend from "@mixdepth/backend";
import { createTransformer } from "@mixdepth/transformer";
import { AdamW, decayRule, trainableWeights, trainStep } from "../dist/index.js";

const env = (name, fallback) => process.env[name] ?? fallback;
const B = Number(env("PROFILE_B", 8));
const S = Number(env("PROFILE_S", 128));
const MOD = env("PROFILE_MOD", "1") !== "0";
const TOP = Number(env("PROFILE_TOP", 16));
const STEPS = Number(env("PROFILE_STEPS", 5));
const got = await backend.setupBackend({ backend: env("PROFILE_BACKEND", "wasm") });
console.log(got.details);
const config = {
  vocabSize: 256,
  dModel: Number(env("PROFILE_D", 128)),
  nHeads: Number(env("PROFILE_H", 4)),
  nLayers: Number(env("PROFILE_L", 4)),
  contextLength: S,
  family: env("PROFILE_FAMILY", "llama"),
  ...(MOD ? { routing: { blocks: "every-other", capacity: 0.125 } } : {}),
};
const model = createTransformer(config, { seed: 0 });
const params = trainableWeights(model);
// The quick preset's optimizer settings (apps/trainer/src/config.ts).
const opt = new AdamW(params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, decay: decayRule({ decayEmbeddings: false, decayNormsAndBiases: false }) });
const data = Array.from({ length: B * (S + 1) }, (_, i) => (i * 7919 + 13) % 256);
const batch = { inputs: Int32Array.from(data.filter((_, i) => i % (S + 1) !== S)), targets: Int32Array.from(data.filter((_, i) => i % (S + 1) !== 0)) };
// One micro-batch per step, clipped at 1, a constant rate of 1e-3 (the schedule costs nothing).
const settings = { batchSize: B, seqLen: S, gradAccum: 1, gradClip: 1.0, lr: 1e-3, minLr: 1e-3, warmupSteps: 0, steps: 1 };
const losses = [];
let taken = 0;
const step = async () => {
  const r = await trainStep({ model, params, optimizer: opt, nextBatch: () => batch }, settings, taken++);
  losses.push(r.loss + r.aux);
};
await step();
const wall = [];
const cpuMs = [];
for (let i = 0; i < STEPS; i++) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await step();
  const c = process.cpuUsage(c0);
  wall.push(performance.now() - t0);
  cpuMs.push((c.user + c.system) / 1000);
}
const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
if (env("PROFILE_AB", "0") === "1") {
  const ab = { without: [], with: [] };
  for (let i = 0; i < STEPS; i++) {
    // Looked up here, so that the script also runs on builds from before these fixes.
    const fixes = (on) => () => (on ? [backend.installWasmCopyFix(), backend.installWasmSumFix()] : [backend.uninstallWasmCopyFix(), backend.uninstallWasmSumFix()]);
    for (const [key, set] of [["without", fixes(false)], ["with", fixes(true)]]) {
      set();
      const c0 = process.cpuUsage();
      await step();
      const c = process.cpuUsage(c0);
      ab[key].push((c.user + c.system) / 1000);
    }
  }
  console.log(`A/B, process cpu ms per step, median of ${STEPS}: without the copy and sum fixes ${median(ab.without).toFixed(0)}, with them ${median(ab.with).toFixed(0)}`);
}
const info = await tf.profile(step);
const rows = new Map();
let total = 0;
for (const k of info.kernels) {
  const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
  total += ms;
  const r = rows.get(k.name) ?? { ms: 0, n: 0 };
  r.ms += ms;
  r.n += 1;
  rows.set(k.name, r);
}
const shape = `${config.family} d=${config.dModel} L=${config.nLayers} H=${config.nHeads} S=${S} B=${B}${MOD ? " MoD" : " dense"}`;
console.log(`${shape}: step median of ${STEPS}: ${median(wall).toFixed(0)} ms wall, ${median(cpuMs).toFixed(0)} ms process cpu; first losses ${losses.slice(0, 4).map((l) => l.toFixed(4)).join(" ")}`);
console.log(`profiled step: ${info.kernels.length} kernels, ${total.toFixed(0)} ms in kernels`);
console.log("| kernel | calls | ms | share |\n| --- | ---: | ---: | ---: |");
for (const [name, r] of [...rows].sort((a, b) => b[1].ms - a[1].ms).slice(0, TOP)) console.log(`| ${name} | ${r.n} | ${r.ms.toFixed(1)} | ${((100 * r.ms) / total).toFixed(1)} % |`);
opt.dispose();
model.dispose();
