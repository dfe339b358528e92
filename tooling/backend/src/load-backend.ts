// Backend selection for the apps and the test setup. Libraries never call this: the
// application decides where tensors live (style.md). Order for `auto`: native TensorFlow
// (GPU build, then CPU build), then wasm (SIMD, wasm files from the installed package, no
// network), then the pure-JS cpu backend. An explicit choice never falls back silently.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs";

export const BACKEND_CHOICES = ["auto", "tensorflow", "wasm", "cpu"] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface SkippedBackend {
  name: string;
  reason: string;
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
  /** The one-line summary printed at start, e.g. `backend: wasm (auto; skipped ...)`. */
  line: string;
}

/** Thrown when an explicitly requested backend cannot be loaded. */
export class BackendError extends Error {
  constructor(
    message: string,
    readonly skipped: SkippedBackend[],
  ) {
    super(message);
    this.name = "BackendError";
  }
}

/** Validates a user-supplied choice (flag or environment variable). */
export function parseBackendChoice(value: string | undefined, field = "--backend"): BackendChoice {
  const v = (value ?? "auto").trim().toLowerCase();
  if ((BACKEND_CHOICES as readonly string[]).includes(v)) return v as BackendChoice;
  throw new BackendError(
    `${field}: unknown backend ${JSON.stringify(value)}; expected one of ${BACKEND_CHOICES.join(", ")}`,
    [],
  );
}

const require = createRequire(import.meta.url);

/** First line of an error message, without the stack: enough to say why in one line. */
function reasonOf(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const first = msg.split("\n").find((l) => l.trim() !== "") ?? "unknown error";
  if ((err as { code?: string }).code === "ERR_MODULE_NOT_FOUND" || /Cannot find (module|package)/.test(first)) {
    return "package not installed";
  }
  return first.trim().slice(0, 200);
}

async function tryNative(pkg: string): Promise<void> {
  // The package registers the "tensorflow" backend as an import side effect; its
  // native addon is missing when libtensorflow could not be downloaded at install time.
  await import(pkg);
  if (!tf.findBackend("tensorflow")) throw new Error(`${pkg} loaded but registered no "tensorflow" backend`);
  const ok = await tf.setBackend("tensorflow");
  if (!ok) throw new Error(`tf.setBackend("tensorflow") failed after loading ${pkg}`);
}

/** Folder holding the `.wasm` binaries shipped inside @tensorflow/tfjs-backend-wasm. */
export function wasmBinaryDir(): string {
  const entry = require.resolve("@tensorflow/tfjs-backend-wasm");
  // entry: <pkg>/dist/tf-backend-wasm.node.js (or similar); binaries sit in <pkg>/dist/.
  return dirname(entry) + "/";
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
  const ok = await tf.setBackend("wasm");
  if (!ok) throw new Error("tf.setBackend(\"wasm\") returned false (wasm binaries failed to initialise)");
}

async function tryCpu(): Promise<void> {
  const ok = await tf.setBackend("cpu");
  if (!ok) throw new Error("tf.setBackend(\"cpu\") returned false");
}

interface Candidate {
  name: string;
  provider: string;
  load: () => Promise<void>;
}

const NATIVE: Candidate[] = [
  { name: "tensorflow", provider: "@tensorflow/tfjs-node-gpu", load: () => tryNative("@tensorflow/tfjs-node-gpu") },
  { name: "tensorflow", provider: "@tensorflow/tfjs-node", load: () => tryNative("@tensorflow/tfjs-node") },
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
 * Activates a backend and returns what was chosen and why. With `auto` it falls back in
 * order; with an explicit choice it throws {@link BackendError} naming the reason.
 * `log` receives the one summary line (default: stderr, so stdout stays machine-readable).
 */
export async function loadBackend(
  choice: BackendChoice = "auto",
  options: { log?: ((line: string) => void) | null } = {},
): Promise<LoadedBackend> {
  const skipped: SkippedBackend[] = [];
  for (const c of candidatesFor(choice)) {
    try {
      await c.load();
      await tf.ready();
      const why = skipped.length > 0 ? `; ${describeSkipped(skipped)}` : "";
      const line = `backend: ${c.name} via ${c.provider} (requested ${choice}${why})`;
      const log = options.log === undefined ? (l: string) => process.stderr.write(l + "\n") : options.log;
      log?.(line);
      return { name: c.name, provider: c.provider, requested: choice, skipped, line };
    } catch (err) {
      skipped.push({ name: c.provider, reason: reasonOf(err) });
    }
  }
  throw new BackendError(
    `backend "${choice}" cannot be loaded: ${describeSkipped(skipped)}`,
    skipped,
  );
}

/** File URL of the wasm binaries folder, for environments that want URLs. */
export function wasmBinaryUrl(): string {
  return pathToFileURL(wasmBinaryDir()).href;
}
