// A speed fix for the wasm backend of tfjs 4.22, applied by the app after it picks wasm:
// BatchMatMul with transposeA/transposeB runs 8-30x slower there than on pre-transposed
// inputs (measured on this project's machines: 512x128x512 with transposeA 0.3 GFLOP/s, with an
// explicit Transpose first 9.8 GFLOP/s). Every matmul gradient uses those flags, so the
// backward pass dominated training. This wraps the registered kernel: transposed operands are
// materialised with the Transpose kernel, then the original kernel runs without the flags.
// Same products, summed in the same order per output element.
import { getKernel, registerKernel, unregisterKernel, type KernelConfig, type KernelFunc, type TensorInfo } from "@tensorflow/tfjs";

let installed = false;

/** Installs the wrapper once (no-op when the wasm kernels are not registered). Returns whether it is active. */
export function installWasmMatMulFix(): boolean {
  if (installed) return true;
  const mm = getKernel("BatchMatMul", "wasm");
  const tr = getKernel("Transpose", "wasm");
  if (!mm || !tr) return false;
  const orig = mm.kernelFunc;
  const transpose = tr.kernelFunc;
  const wrapped: KernelFunc = (args) => {
    const { inputs, backend, attrs } = args as unknown as {
      inputs: { a: TensorInfo; b: TensorInfo };
      backend: { disposeData(id: object): void };
      attrs: { transposeA: boolean; transposeB: boolean };
    };
    if (!attrs.transposeA && !attrs.transposeB) return orig(args);
    const t = (x: TensorInfo): TensorInfo => {
      const r = x.shape.length;
      const perm = [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2];
      return transpose({ inputs: { x }, backend, attrs: { perm } } as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
    };
    const a = attrs.transposeA ? t(inputs.a) : inputs.a;
    const b = attrs.transposeB ? t(inputs.b) : inputs.b;
    try {
      return orig({ ...args, inputs: { a, b }, attrs: { ...attrs, transposeA: false, transposeB: false } } as unknown as Parameters<KernelFunc>[0]);
    } finally {
      if (a !== inputs.a) backend.disposeData(a.dataId);
      if (b !== inputs.b) backend.disposeData(b.dataId);
    }
  };
  unregisterKernel("BatchMatMul", "wasm");
  registerKernel({ ...(mm as KernelConfig), kernelFunc: wrapped });
  installed = true;
  return true;
}
