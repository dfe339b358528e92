// The wasm sum fix for tfjs-backend-wasm 4.22: Sum over leading axes (a bias's or a norm
// gain's gradient: dy [B*T, n] summed over the rows) transposes the input so that the axes
// become innermost, then reduces (about 20-30 ms for [2048, 1024] on axis 0). Here such a Sum
// reads the input in place and adds row after row into float64 column sums: sequential
// reads, no transpose (scripts/sum-variants.js prints both). A different summation order
// (and more precise), so results match the cpu backend within float32 rounding (tested at 1e-4).
// Installed by setupBackend() when it picks wasm, never on import; uninstallWasmSumFix()
// restores tfjs' kernel. Other reductions go to tfjs' own kernel.
import { getKernel, registerKernel, unregisterKernel, util, type KernelConfig, type KernelFunc, type TensorInfo } from "@tensorflow/tfjs";

/** The parts of tfjs-backend-wasm's BackendWasm this file uses (stable across 4.x). */
interface WasmBackend {
  makeOutput(shape: number[], dtype: "float32"): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array;
}

let original: KernelConfig | null = null;

/** Whether the wrapper is installed now. */
export function wasmSumFixInstalled(): boolean {
  return original !== null;
}

/** Installs the wrapper once (no-op when the wasm kernels are not registered). Returns whether it is active. */
export function installWasmSumFix(): boolean {
  if (original) return true;
  const sum = getKernel("Sum", "wasm");
  if (!sum) return false;
  const orig = sum.kernelFunc;
  const wrapped: KernelFunc = (args) => {
    const { inputs, backend, attrs } = args as unknown as { inputs: { x: TensorInfo }; backend: WasmBackend; attrs: { axis: number | number[]; keepDims: boolean } };
    const x = inputs.x;
    const rank = x.shape.length;
    const axes = [...new Set(util.parseAxisParam(attrs.axis, [...x.shape]))].sort((p, q) => p - q);
    const k = axes.length;
    const leading = k > 0 && k < rank && axes.every((a, i) => a === i);
    const rows = util.sizeFromShape(x.shape.slice(0, k));
    const cols = util.sizeFromShape(x.shape.slice(k));
    if (x.dtype !== "float32" || !leading || rows < 2 || cols < 1) return orig(args);
    const out = backend.makeOutput(attrs.keepDims ? [...new Array<number>(k).fill(1), ...x.shape.slice(k)] : x.shape.slice(k), "float32");
    const src = backend.typedArrayFromHeap(x); // views after the allocation
    const dst = backend.typedArrayFromHeap(out);
    // Column sums, row after row: sequential reads, accumulated in float64.
    const acc = new Float64Array(cols);
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      for (let c = 0; c < cols; c++) acc[c] = (acc[c] as number) + (src[base + c] as number);
    }
    dst.set(acc);
    return out;
  };
  original = sum;
  unregisterKernel("Sum", "wasm");
  registerKernel({ ...sum, kernelFunc: wrapped });
  return true;
}

/** Restores tfjs' own wasm Sum kernel (no-op when the wrapper is not installed). */
export function uninstallWasmSumFix(): void {
  if (!original) return;
  unregisterKernel("Sum", "wasm");
  registerKernel(original);
  original = null;
}
