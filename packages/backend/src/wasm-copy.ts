// The wasm copy fix for tfjs-backend-wasm 4.22. Identity, and Cast to the dtype a tensor
// already has, copy the whole tensor there; tfjs' gradients cast every input of a product or
// quotient to float32 and clone freely, so a training step made some 600 such copies. Here
// they share the input's memory (a reference count, as tfjs' cpu backend does).
// Slice, SplitV and Concat are JS kernels there,
// and a strided slice first copies the WHOLE input out of the heap (readSync), then copies
// one innermost row at a time through a fresh subarray view; Concat does the same per row.
// With short rows that is mostly allocation: splitting attention heads' [8, 4, 128, 32] in
// halves (rotary) or [8, 128, 384] into q, k, v took 1-15 ms per call where a plain copy
// loop takes a tenth of a millisecond (scripts/copy-kernels.js prints both). The kernels
// here read the input in place and copy contiguous runs: long runs with one `set`, short ones
// element by element. Same values, only moved. Installed by setupBackend() when it picks wasm,
// never on import; uninstallWasmCopyFix() restores tfjs' kernels. String tensors go to tfjs'
// own kernels.
import { getKernel, registerKernel, slice_util, unregisterKernel, util, type KernelConfig, type KernelFunc, type TensorInfo } from "@tensorflow/tfjs";

/** The parts of tfjs-backend-wasm's BackendWasm this file uses (stable across 4.x). */
interface WasmBackend {
  makeOutput(shape: number[], dtype: TensorInfo["dtype"]): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
  incRef(dataId: object): void;
}

/** The input itself under a new reference (freed when both are disposed). */
function shared(backend: WasmBackend, x: TensorInfo): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Runs shorter than this are copied element by element (a `set` costs a view allocation). */
const SHORT_RUN = 64;

function copyRun(src: Float32Array | Int32Array | Uint8Array, from: number, dst: Float32Array | Int32Array | Uint8Array, to: number, n: number): void {
  if (n >= SHORT_RUN) {
    dst.set(src.subarray(from, from + n), to);
    return;
  }
  for (let i = 0; i < n; i++) dst[to + i] = src[from + i] as number;
}

/**
 * out = x[begin : begin + size] (every axis), written into a new output. Trailing axes that
 * are taken whole merge into one contiguous run per position of the leading axes.
 */
function sliceInto(backend: WasmBackend, x: TensorInfo, begin: readonly number[], size: readonly number[]): TensorInfo {
  const out = backend.makeOutput([...size], x.dtype);
  const total = util.sizeFromShape([...size]);
  if (total === 0) return out;
  // Views after the allocation: a growing heap detaches older ones.
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const shape = x.shape;
  const rank = shape.length;
  const strides = util.computeStrides([...shape]);
  const stride = (axis: number) => (axis === rank - 1 ? 1 : (strides[axis] as number));
  // The run: the innermost axes taken whole, plus the first partial one from the end.
  let inner = rank - 1;
  let run = size[rank - 1] as number;
  while (inner > 0 && size[inner] === shape[inner]) {
    inner -= 1;
    run *= size[inner] as number;
  }
  // Odometer over axes 0..inner-1 (the run covers inner..rank-1, starting at begin[inner]).
  const outer = total / run;
  const idx = new Array<number>(inner).fill(0);
  let base = 0;
  for (let a = 0; a < rank; a++) base += (begin[a] as number) * stride(a);
  let offset = base;
  for (let r = 0; r < outer; r++) {
    copyRun(src, offset, dst, r * run, run);
    for (let a = inner - 1; a >= 0; a--) {
      idx[a] = (idx[a] as number) + 1;
      offset += stride(a);
      if ((idx[a] as number) < (size[a] as number)) break;
      offset -= (size[a] as number) * stride(a);
      idx[a] = 0;
    }
  }
  return out;
}

interface Originals {
  slice: KernelConfig;
  splitV: KernelConfig;
  concat: KernelConfig;
  identity: KernelConfig;
  cast: KernelConfig;
}

let originals: Originals | null = null;

/** Whether the copy kernels are installed now. */
export function wasmCopyFixInstalled(): boolean {
  return originals !== null;
}

/** Installs the copy kernels once (no-op when the wasm kernels are not registered). Returns whether they are active. */
export function installWasmCopyFix(): boolean {
  if (originals) return true;
  const slice = getKernel("Slice", "wasm");
  const splitV = getKernel("SplitV", "wasm");
  const concat = getKernel("Concat", "wasm");
  const identity = getKernel("Identity", "wasm");
  const cast = getKernel("Cast", "wasm");
  if (!slice || !splitV || !concat || !identity || !cast) return false;

  const identityFn: KernelFunc = (args) => {
    const { inputs, backend } = args as unknown as { inputs: { x: TensorInfo }; backend: WasmBackend };
    return inputs.x.dtype === "string" ? identity.kernelFunc(args) : shared(backend, inputs.x);
  };

  const castFn: KernelFunc = (args) => {
    const { inputs, backend, attrs } = args as unknown as { inputs: { x: TensorInfo }; backend: WasmBackend; attrs: { dtype: string } };
    return inputs.x.dtype === attrs.dtype && inputs.x.dtype !== "string" ? shared(backend, inputs.x) : cast.kernelFunc(args);
  };

  const sliceFn: KernelFunc = (args) => {
    const { inputs, backend, attrs } = args as unknown as { inputs: { x: TensorInfo }; backend: WasmBackend; attrs: { begin: number | number[]; size: number | number[] } };
    const x = inputs.x;
    if (x.dtype === "string") return slice.kernelFunc(args);
    const [begin, size] = slice_util.parseSliceParams(x as unknown as Parameters<typeof slice_util.parseSliceParams>[0], attrs.begin, attrs.size) as [number[], number[]];
    return sliceInto(backend, x, begin, size);
  };

  const splitVFn: KernelFunc = (args) => {
    const { inputs, backend, attrs } = args as unknown as { inputs: { x: TensorInfo }; backend: WasmBackend; attrs: { numOrSizeSplits: number | number[]; axis: number | number[] } };
    const x = inputs.x;
    if (x.dtype === "string") return splitV.kernelFunc(args);
    const axis = util.parseAxisParam(attrs.axis, [...x.shape])[0] as number;
    const n = x.shape[axis] as number;
    const sizes = typeof attrs.numOrSizeSplits === "number" ? new Array<number>(attrs.numOrSizeSplits).fill(n / attrs.numOrSizeSplits) : [...attrs.numOrSizeSplits];
    const free = sizes.indexOf(-1);
    if (free !== -1) sizes[free] = n - sizes.reduce((a, b) => a + (b === -1 ? 0 : b), 0);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = [...x.shape];
      size[axis] = s;
      const out = sliceInto(backend, x, begin, size);
      begin[axis] = (begin[axis] as number) + s;
      return out;
    });
  };

  const concatFn: KernelFunc = (args) => {
    const { inputs, backend, attrs } = args as unknown as { inputs: TensorInfo[]; backend: WasmBackend; attrs: { axis: number | number[] } };
    const first = inputs[0];
    if (!first || first.dtype === "string") return concat.kernelFunc(args);
    const axis = util.parseAxisParam(attrs.axis, [...first.shape])[0] as number;
    const parts = inputs.filter((t) => util.sizeFromShape([...t.shape]) > 0);
    if (parts.length <= 1) return concat.kernelFunc(args); // tfjs' identity path
    const outShape = [...first.shape];
    outShape[axis] = inputs.reduce((a, t) => a + (t.shape[axis] as number), 0);
    const out = backend.makeOutput(outShape, first.dtype);
    const dst = backend.typedArrayFromHeap(out);
    const rows = util.sizeFromShape(outShape.slice(0, axis));
    const inner = parts.map((t) => util.sizeFromShape([...t.shape].slice(axis)));
    const width = inner.reduce((a, b) => a + b, 0);
    let col = 0;
    parts.forEach((t, i) => {
      const src = backend.typedArrayFromHeap(t);
      const w = inner[i] as number;
      for (let r = 0; r < rows; r++) copyRun(src, r * w, dst, r * width + col, w);
      col += w;
    });
    return out;
  };

  originals = { slice, splitV, concat, identity, cast };
  for (const [cfg, fn] of [
    [slice, sliceFn],
    [splitV, splitVFn],
    [concat, concatFn],
    [identity, identityFn],
    [cast, castFn],
  ] as const) {
    unregisterKernel(cfg.kernelName, "wasm");
    registerKernel({ ...cfg, kernelFunc: fn });
  }
  return true;
}

/** Restores tfjs' own wasm Slice, SplitV, Concat, Identity and Cast kernels (no-op when not installed). */
export function uninstallWasmCopyFix(): void {
  if (!originals) return;
  for (const cfg of Object.values(originals)) {
    unregisterKernel(cfg.kernelName, "wasm");
    registerKernel(cfg);
  }
  originals = null;
}
