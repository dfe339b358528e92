// Measures what the wasm matmul fix is for (not a test: it prints numbers). For the matmul
// shapes of a training step and of a decode step: GFLOP/s of tfjs' own wasm BatchMatMul
// with each transpose flag, and of the same product through the fix (transpose, then NN).
// Run: pnpm --filter @mixdepth/backend build && node packages/backend/scripts/matmul-variants.js
import * as tf from "@tensorflow/tfjs";
import { installWasmMatMulFix, setupBackend, uninstallWasmMatMulFix } from "../dist/index.js";
import { median } from "./measure.js";

await setupBackend({ backend: "wasm", wasmFixes: false });

function gflops(shapeA, shapeB, ta, tb, reps) {
  const a = tf.randomNormal(shapeA, 0, 1, "float32", 1);
  const b = tf.randomNormal(shapeB, 0, 1, "float32", 2);
  const m = ta ? shapeA.at(-1) : shapeA.at(-2);
  const k = ta ? shapeA.at(-2) : shapeA.at(-1);
  const n = tb ? shapeB.at(-2) : shapeB.at(-1);
  const batch = shapeA.slice(0, -2).reduce((x, y) => x * y, 1);
  const times = [];
  for (let i = 0; i < reps + 1; i++) {
    const t0 = performance.now();
    const c = tf.matMul(a, b, ta, tb);
    c.dataSync();
    times.push(performance.now() - t0);
    c.dispose();
  }
  tf.dispose([a, b]);
  const ms = median(times.slice(1));
  return { ms, gflops: (2 * batch * m * n * k) / (ms / 1000) / 1e9 };
}

const cases = [
  // name, a, b: the operand shapes as stored, for NN; TA/TB use the stored transposes.
  ["linear fwd [2048,256]x[256,768]", [2048, 256], [256, 768], 6],
  ["attention scores [32,256,32]x[32,32,256]", [32, 256, 32], [32, 32, 256], 6],
  ["routed attention (k=16) [32,16,16]x[32,16,32]", [32, 16, 16], [32, 16, 32], 40],
  ["decode head [1,256]x[256,256]", [1, 256], [256, 256], 40],
  ["decode linear [1,256]x[256,1024]", [1, 256], [256, 1024], 40],
];
const T = (s) => [...s.slice(0, -2), s.at(-1), s.at(-2)];
console.log("shape | flags | tfjs kernel GFLOP/s (ms) | with fix GFLOP/s (ms)");
for (const [name, sa, sb, reps] of cases) {
  for (const [ta, tb] of [[false, false], [true, false], [false, true]]) {
    const A = ta ? T(sa) : sa;
    const B = tb ? T(sb) : sb;
    uninstallWasmMatMulFix();
    const raw = gflops(A, B, ta, tb, reps);
    installWasmMatMulFix();
    const fixed = gflops(A, B, ta, tb, reps);
    const flag = ta ? "transposeA" : tb ? "transposeB" : "none";
    console.log(`${name} | ${flag} | ${raw.gflops.toFixed(2)} (${raw.ms.toFixed(2)}) | ${fixed.gflops.toFixed(2)} (${fixed.ms.toFixed(2)})`);
  }
}
