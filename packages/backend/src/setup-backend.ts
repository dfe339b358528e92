// One call that puts TensorFlow.js on the fastest backend this Node process can load, for
// the apps, the test setup and library users alike. Libraries never call it: the
// application decides where tensors live (style.md). Order for "auto": native TensorFlow
// (tfjs-node-gpu, then tfjs-node), then wasm (SIMD binaries read from the installed
// package, no network, with the matmul fix of wasm-matmul.ts), then the pure-JS cpu backend.
// An explicit choice never falls back silently.
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { BackendError, parseBackendChoice, type BackendChoice } from "./backend-choice.js";
import { installWasmFixes, uninstallWasmFixes } from "./wasm-fixes.js";

export interface SkippedBackend {
  /** The npm package that was tried. */
  name: string;
  reason: string;
}

/** What a native backend really runs: the package that loaded, its TensorFlow library, and where ops execute. */
export interface NativeLibrary {
  /** The npm package whose binding loaded, e.g. "@tensorflow/tfjs-node-gpu". */
  package: string;
  /** TF_Version of the TensorFlow C library the binding runs (e.g. "2.21.0"). */
  tfVersion: string;
  /** "GPU" when TensorFlow found a GPU device, else "CPU" (the GPU package on a CPU-only library runs on the CPU). */
  device: "CPU" | "GPU";
}

export interface LoadedBackend {
  /** The tfjs backend name now active: "tensorflow", "wasm" or "cpu". */
  name: string;
  /** Which npm package provides it. */
  provider: string;
  /** What was asked for. */
  requested: BackendChoice;
  /** Backends tried before this one, with the reason each was skipped. */
  skipped: SkippedBackend[];
  /** On "tensorflow": the package, TensorFlow version and device that really run; null otherwise. */
  native: NativeLibrary | null;
  /** Speed fixes installed for this backend (e.g. "matmuls on XNNPACK (transposed, batched)"). */
  fixes: string[];
  /** One short line: `backend: wasm (auto)`. */
  line: string;
  /** Everything: provider, fixes, why the others were skipped. For `mixdepth info` and logs. */
  details: string;
}

export interface SetupBackendOptions {
  /** "auto" (default), "tensorflow", "wasm" or "cpu"; validated, case-insensitive. */
  backend?: BackendChoice | string;
  /** Receives the one-line summary. Default: none (the caller prints `line` if it wants). */
  log?: ((line: string) => void) | null;
  /**
   * More folders to resolve the native packages (tfjs-node-gpu, tfjs-node) from, tried after
   * this package, the running script and the working directory: e.g. the app that lists them,
   * when the code calling setupBackend lives elsewhere (a test runner). Default none.
   */
  resolveFrom?: readonly string[];
  /** Install the wasm matmul, copy and sum fixes when wasm is picked (default true; false only to measure without them). */
  wasmFixes?: boolean;
}

const requireHere = createRequire(import.meta.url);

/** First line of an error message, without the stack: enough to say why in one line. */
function reasonOf(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const first = msg.split("\n").find((l) => l.trim() !== "") ?? "unknown error";
  const code = (err as { code?: string }).code;
  if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND" || /Cannot find (module|package)/.test(first)) return "package not installed";
  return first.trim().slice(0, 200);
}

/**
 * Resolves an optional package from this package first (npm hoisting, pnpm optional peers),
 * then from the running script and the working directory: an app that lists tfjs-node-gpu
 * in its own dependencies gets it even where this package cannot see it.
 */
function resolveOptional(pkg: string, extra: readonly string[] = []): string {
  const bases = [
    import.meta.url,
    process.argv[1] ? pathToFileURL(resolve(process.argv[1])).href : null,
    pathToFileURL(join(process.cwd(), "noop.js")).href,
    ...extra.map((d) => pathToFileURL(join(resolve(d), "noop.js")).href),
  ];
  let last: unknown;
  for (const base of bases) {
    if (!base) continue;
    try {
      return createRequire(base).resolve(pkg);
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

async function tryNative(pkg: string, resolveFrom: readonly string[]): Promise<void> {
  // The package registers the "tensorflow" backend as an import side effect; its native
  // addon is missing when libtensorflow could not be downloaded at install time.
  await import(pathToFileURL(resolveOptional(pkg, resolveFrom)).href);
  if (!tf.findBackend("tensorflow")) throw new Error(`${pkg} loaded but registered no "tensorflow" backend`);
  if (!(await tf.setBackend("tensorflow"))) throw new Error(`tf.setBackend("tensorflow") failed after loading ${pkg}`);
}

/** Folder holding the `.wasm` binaries shipped inside @tensorflow/tfjs-backend-wasm. */
export function wasmBinaryDir(): string {
  // entry: <pkg>/dist/tf-backend-wasm.node.js; the binaries sit beside it.
  return dirname(requireHere.resolve("@tensorflow/tfjs-backend-wasm")) + "/";
}

async function tryWasm(): Promise<void> {
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  const dir = wasmBinaryDir();
  // In Node the emscripten loader reads these paths from disk: no network is involved.
  wasm.setWasmPaths({
    "tfjs-backend-wasm.wasm": join(dir, "tfjs-backend-wasm.wasm"),
    "tfjs-backend-wasm-simd.wasm": join(dir, "tfjs-backend-wasm-simd.wasm"),
    "tfjs-backend-wasm-threaded-simd.wasm": join(dir, "tfjs-backend-wasm-threaded-simd.wasm"),
  });
  if (!(await tf.setBackend("wasm"))) throw new Error('tf.setBackend("wasm") returned false (wasm binaries failed to initialise)');
}

/** The loaded native backend's library, as its binding reports it (tfjs-node's NodeJSKernelBackend). */
function nativeLibrary(pkg: string): NativeLibrary {
  const b = tf.backend() as unknown as { binding?: { TF_Version?: unknown }; isUsingGpuDevice?: unknown };
  const v = b.binding?.TF_Version;
  return { package: pkg, tfVersion: typeof v === "string" ? v : "unknown", device: b.isUsingGpuDevice === true ? "GPU" : "CPU" };
}

/** Said when the GPU package runs on the CPU: its name would suggest otherwise. */
function cpuOnGpuPackage(n: NativeLibrary): string | null {
  return n.device === "CPU" && n.package.endsWith("-gpu") ? "the GPU package, running on the CPU (no GPU device, or a CPU-only TensorFlow library)" : null;
}

/** `@tensorflow/tfjs-node (TensorFlow 2.21.0, CPU)`: what runs, in words. */
export function describeNative(n: NativeLibrary): string {
  const note = cpuOnGpuPackage(n);
  return `${n.package} (TensorFlow ${n.tfVersion}, ${n.device}${note ? `: ${note}` : ""})`;
}

async function tryCpu(): Promise<void> {
  if (!(await tf.setBackend("cpu"))) throw new Error('tf.setBackend("cpu") returned false');
}

interface Candidate {
  name: string;
  provider: string;
  load: (resolveFrom: readonly string[]) => Promise<void>;
}

const NATIVE: Candidate[] = [
  { name: "tensorflow", provider: "@tensorflow/tfjs-node-gpu", load: (from) => tryNative("@tensorflow/tfjs-node-gpu", from) },
  { name: "tensorflow", provider: "@tensorflow/tfjs-node", load: (from) => tryNative("@tensorflow/tfjs-node", from) },
];
const WASM: Candidate = { name: "wasm", provider: "@tensorflow/tfjs-backend-wasm", load: tryWasm };
const CPU: Candidate = { name: "cpu", provider: "@tensorflow/tfjs", load: tryCpu };

function candidatesFor(choice: BackendChoice): Candidate[] {
  switch (choice) {
    case "auto":
      return [...NATIVE, WASM, CPU];
    case "tensorflow":
      return NATIVE;
    case "wasm":
      return [WASM];
    case "cpu":
      return [CPU];
  }
}

function describeSkipped(skipped: SkippedBackend[]): string {
  return skipped.map((s) => `skipped ${s.name}: ${s.reason}`).join("; ");
}

/**
 * Activates the fastest loadable backend (or the one asked for) and returns what runs and
 * why. With "auto" it falls back in order; an explicit choice that cannot load throws
 * {@link BackendError} naming the reason, leaving the previous backend active. On wasm it
 * installs the matmul, copy and sum fixes; on any other backend it removes them.
 */
export async function setupBackend(options: SetupBackendOptions = {}): Promise<LoadedBackend> {
  const choice = parseBackendChoice(options.backend ?? "auto", "backend");
  const skipped: SkippedBackend[] = [];
  for (const c of candidatesFor(choice)) {
    try {
      await c.load(options.resolveFrom ?? []);
      await tf.ready();
    } catch (err) {
      skipped.push({ name: c.provider, reason: reasonOf(err) });
      continue;
    }
    const wasmFixes = c.name === "wasm" && options.wasmFixes !== false;
    const fixes = wasmFixes ? installWasmFixes() : [];
    if (!wasmFixes) uninstallWasmFixes();
    const native = c.name === "tensorflow" ? nativeLibrary(c.provider) : null;
    const line = `backend: ${c.name} (${choice})${native ? ` on TensorFlow ${native.tfVersion} ${native.device}` : ""}`;
    const note = native ? cpuOnGpuPackage(native) : null;
    const details = [`${line} via ${c.provider}`, ...(note ? [note] : []), ...fixes.map((f) => `fix: ${f}`), ...skipped.map((s) => `skipped ${s.name}: ${s.reason}`)].join("; ");
    options.log?.(line);
    return { name: c.name, provider: c.provider, requested: choice, skipped, native, fixes, line, details };
  }
  throw new BackendError(`backend "${choice}" cannot be loaded: ${describeSkipped(skipped)}`, skipped);
}
