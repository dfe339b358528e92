// Matmul FLOPs actually executed, read from a tf.profile() kernel trace (docs/method.md section 7:
// the accounting "must agree exactly with what the model actually executes").
// For a (Batch)MatMul with first input [..., M, K] (or [..., K, M] transposed) and output
// [..., M, N], the multiply-adds are prod(out) * K = prod(a) * N: 2 * prod(a) * N FLOPs,
// whatever the transpose flags (which the trace does not record).

/** The kernel fields tf.profile() reports that this needs. */
export interface ProfiledKernel {
  name: string;
  inputShapes: (number[] | null)[];
  outputShapes: number[][];
}

export interface KernelMatmulFlops {
  /** Sum of 2 * M * N * K over every matmul kernel. */
  total: number;
  /** Number of matmul kernels seen. */
  kernels: number;
  /** Per kernel: name, shapes and FLOPs, in execution order. */
  detail: { name: string; a: number[]; b: number[]; out: number[]; flops: number }[];
}

const MATMUL_KERNELS = new Set(["MatMul", "BatchMatMul", "_FusedMatMul"]);

/** Sums matmul FLOPs over a profile's kernels (e.g. `(await tf.profile(fn)).kernels`). */
export function kernelMatmulFlops(kernels: readonly ProfiledKernel[]): KernelMatmulFlops {
  const detail: KernelMatmulFlops["detail"] = [];
  for (const k of kernels) {
    if (!MATMUL_KERNELS.has(k.name)) continue;
    const a = k.inputShapes[0];
    const b = k.inputShapes[1];
    const out = k.outputShapes[0];
    if (!a || !b || !out) throw new Error(`kernel ${k.name}: missing shapes in the profile`);
    const n = out[out.length - 1] as number;
    const flops = 2 * a.reduce((x, y) => x * y, 1) * n;
    detail.push({ name: k.name, a, b, out, flops });
  }
  return { total: detail.reduce((s, d) => s + d.flops, 0), kernels: detail.length, detail };
}
