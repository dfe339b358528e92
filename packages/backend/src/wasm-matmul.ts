// The wasm speed fix for tfjs-backend-wasm 4.22, the one place it lives: BatchMatMul with
// transposeA/transposeB runs 8-40x slower there than the same product on pre-transposed
// operands (see the table in this package's README, measured by scripts/matmul-variants.js).
// Every matmul gradient uses those flags (dA = dy B^T, dB = A^T dy), so without this the
// backward pass dominates training. The registered wasm kernel is wrapped: transposed
// operands are materialised with the wasm Transpose kernel, then the original kernel runs
// without flags. Same products, summed in the same order per output element, so results
// match the cpu backend within float32 rounding. Transposing an operand moves K*N (or K*M)
// floats for a product of M*N*K multiply-adds, so it only pays when the other side has more
// than SMALL_SIDE rows: a decode step's [1, d] x [V, d]^T head keeps the flag (measured
// 0.05 ms with transposeB against 0.39 ms transposing the table first). Installed by
// setupBackend() when it picks wasm, never on import; uninstallWasmMatMulFix() restores
// tfjs' kernel.
import { getKernel, registerKernel, unregisterKernel, type KernelConfig, type KernelFunc, type TensorInfo } from "@tensorflow/tfjs";

/** The parts of tfjs-backend-wasm's BackendWasm this file uses (stable across 4.x). */
interface WasmBackend {
  makeOutput(shape: number[], dtype: "float32"): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array;
  disposeData(id: object): void;
}

const sizeOf = (shape: readonly number[]) => shape.reduce((x, y) => x * y, 1);

/**
 * A batched product as one 2-D product per batch entry: tfjs-backend-wasm sends any batch
 * above 1 to a plain loop (measured 0.55 GFLOP/s for attention's [32, 256, 32] x
 * [32, 32, 256]), while a 2-D product goes to XNNPACK (2.4x faster there, 5x for
 * [32, 256, 256] x [32, 256, 32]). Each slice is copied out of the heap, multiplied, and its
 * result copied into the output; the copies are O(size) against O(size * K) work.
 */
function slicedMatMul(orig: KernelFunc, backend: WasmBackend, a: TensorInfo, b: TensorInfo, flags: { transposeA: boolean; transposeB: boolean }, outShape: number[]): TensorInfo {
  const batch = sizeOf(a.shape.slice(0, -2));
  const a2 = a.shape.slice(-2) as [number, number];
  const b2 = b.shape.slice(-2) as [number, number];
  const m = outShape[outShape.length - 2]!;
  const n = outShape[outShape.length - 1]!;
  const out = backend.makeOutput(outShape, "float32");
  const sa = sizeOf(a2);
  const sb = sizeOf(b2);
  for (let i = 0; i < batch; i++) {
    const ai = backend.makeOutput(a2, "float32");
    const bi = backend.makeOutput(b2, "float32");
    // Views are taken after every allocation: a growing heap detaches older ones.
    backend.typedArrayFromHeap(ai).set(backend.typedArrayFromHeap(a).subarray(i * sa, (i + 1) * sa));
    backend.typedArrayFromHeap(bi).set(backend.typedArrayFromHeap(b).subarray(i * sb, (i + 1) * sb));
    const ri = orig({ inputs: { a: ai, b: bi }, backend, attrs: flags } as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
    backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap({ ...ri, shape: [m * n] }), i * m * n);
    backend.disposeData(ai.dataId);
    backend.disposeData(bi.dataId);
    backend.disposeData(ri.dataId);
  }
  return out;
}

let original: KernelConfig | null = null;

/** Up to this many rows on the other side, a transposed operand is left to tfjs' kernel. */
export const SMALL_SIDE = 8;

/**
 * Batched products with fewer multiply-adds than this per batch entry stay in tfjs' batched
 * loop: slicing costs about 20 us per entry, more than the loop takes for small ones
 * (a routed block's attention at k = 16: [32,16,16]x[32,16,32], 0.3 ms in the loop against
 * 1.0 ms sliced; from [32,32,32]x[32,32,32] on, slicing wins: 0.8 ms against 0.3).
 */
export const SLICE_MIN_WORK = 16384;

/** Whether the wrapper is installed now. */
export function wasmMatMulFixInstalled(): boolean {
  return original !== null;
}

/** Installs the wrapper once (no-op when the wasm kernels are not registered). Returns whether it is active. */
export function installWasmMatMulFix(): boolean {
  if (original) return true;
  const mm = getKernel("BatchMatMul", "wasm");
  const tr = getKernel("Transpose", "wasm");
  if (!mm || !tr) return false;
  const orig = mm.kernelFunc;
  const transpose = tr.kernelFunc;
  const wrapped: KernelFunc = (args) => {
    const { inputs, backend, attrs } = args as unknown as { inputs: { a: TensorInfo; b: TensorInfo }; backend: WasmBackend; attrs: { transposeA: boolean; transposeB: boolean } };
    const ra = inputs.a.shape.length;
    const rb = inputs.b.shape.length;
    const m = inputs.a.shape[attrs.transposeA ? ra - 1 : ra - 2] ?? 1; // output rows
    const n = inputs.b.shape[attrs.transposeB ? rb - 2 : rb - 1] ?? 1; // output columns
    const preA = attrs.transposeA && n > SMALL_SIDE;
    const preB = attrs.transposeB && m > SMALL_SIDE;
    const batch = sizeOf(inputs.a.shape.slice(0, -2));
    const k = inputs.a.shape[attrs.transposeA ? ra - 2 : ra - 1] ?? 1; // inner dimension
    const perSlice = batch > 1 && sizeOf(inputs.b.shape.slice(0, -2)) === batch && ra === rb && m > SMALL_SIDE && m * n * k >= SLICE_MIN_WORK;
    if (!preA && !preB && !perSlice) return orig(args);
    const t = (x: TensorInfo): TensorInfo => {
      const r = x.shape.length;
      const perm = [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2];
      return transpose({ inputs: { x }, backend, attrs: { perm } } as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
    };
    const a = preA ? t(inputs.a) : inputs.a;
    const b = preB ? t(inputs.b) : inputs.b;
    const flags = { transposeA: attrs.transposeA && !preA, transposeB: attrs.transposeB && !preB };
    try {
      if (!perSlice) return orig({ ...args, inputs: { a, b }, attrs: { ...attrs, ...flags } } as unknown as Parameters<KernelFunc>[0]);
      return slicedMatMul(orig, backend, a, b, flags, [...inputs.a.shape.slice(0, -2), m, n]);
    } finally {
      if (a !== inputs.a) backend.disposeData(a.dataId);
      if (b !== inputs.b) backend.disposeData(b.dataId);
    }
  };
  original = mm;
  unregisterKernel("BatchMatMul", "wasm");
  registerKernel({ ...mm, kernelFunc: wrapped });
  return true;
}

/** Restores tfjs' own wasm BatchMatMul kernel (no-op when the wrapper is not installed). */
export function uninstallWasmMatMulFix(): void {
  if (!original) return;
  unregisterKernel("BatchMatMul", "wasm");
  registerKernel(original);
  original = null;
}
