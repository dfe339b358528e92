// Measures what the wasm sum fix is for (not a test: it prints numbers): process-CPU ms per
// call (median of 15) of tfjs' own wasm Sum and of the fix, for the reductions of a training
// step's gradients (a bias or a norm gain: dy summed over the rows) at the bench shape.
// Run: pnpm --filter @mixdepth/backend build && node packages/backend/scripts/sum-variants.js
import * as tf from "@tensorflow/tfjs";
import { installWasmSumFix, setupBackend, uninstallWasmSumFix } from "../dist/index.js";
import { cpuMs as measureCpuMs } from "./measure.js";

await setupBackend({ backend: "wasm" });
const cpuMs = (f, reps = 15) => measureCpuMs(f, reps, 2);
console.log("| sum | tfjs kernel ms | with the fix ms |\n| --- | ---: | ---: |");
for (const shape of [[2048, 1024], [2048, 256], [8, 256, 256], [1024, 128]]) {
  const x = tf.randomNormal(shape);
  const axes = shape.length === 3 ? [0, 1] : [0];
  uninstallWasmSumFix();
  const before = cpuMs(() => tf.sum(x, axes));
  installWasmSumFix();
  const after = cpuMs(() => tf.sum(x, axes));
  console.log(`| [${shape}] over axes [${axes}] | ${before.toFixed(2)} | ${after.toFixed(2)} |`);
  x.dispose();
}
