// Measures what the wasm copy fix is for (not a test: it prints numbers). For the copies of a
// training step at the quick preset's shape (B=8 S=128 d=128 H=4, SwiGLU hidden 344):
// process-CPU ms per call (median of 40) of tfjs' own wasm kernels and of the fix's.
// Run: pnpm --filter @mixdepth/backend build && node packages/backend/scripts/copy-kernels.js
import * as tf from "@tensorflow/tfjs";
import { installWasmCopyFix, setupBackend, uninstallWasmCopyFix } from "../dist/index.js";
import { cpuMs as measureCpuMs } from "./measure.js";

await setupBackend({ backend: "wasm" });
const cpuMs = (f, reps = 40) => measureCpuMs(f, reps, 3);
const qkv = tf.randomNormal([8, 128, 384]);
const heads = tf.randomNormal([8, 4, 128, 32]);
const hidden = tf.randomNormal([8, 128, 344]);
const cases = [
  ["a gradient's cast to float32 of [8,128,344]", () => tf.cast(hidden, "float32")],
  ["clone of [8,128,344]", () => tf.clone(hidden)],
  ["split q, k, v [8,128,384] on axis 2", () => tf.split(qkv, 3, 2)],
  ["concat 3 x [8,128,128] on axis 2 (its gradient)", () => tf.tidy(() => tf.concat(tf.split(qkv, 3, 2), 2))],
  ["rotary halves: split [8,4,128,32] on axis 3 + concat", () => tf.tidy(() => tf.concat(tf.split(heads, 2, 3).reverse(), 3))],
  ["last token: slice [8,1,384] of [8,128,384]", () => tf.slice(qkv, [0, 127, 0], [8, 1, 384])],
];
console.log("| copy | tfjs kernel ms | with the fix ms |\n| --- | ---: | ---: |");
for (const [name, f] of cases) {
  uninstallWasmCopyFix();
  const before = cpuMs(f);
  installWasmCopyFix();
  const after = cpuMs(f);
  console.log(`| ${name} | ${before.toFixed(2)} | ${after.toFixed(2)} |`);
}
tf.dispose([qkv, heads, hidden]);
