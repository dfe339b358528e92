// Backend selection in the browser: webgpu, then webgl, then wasm (style.md: the
// application, not the libraries, decides where tensors live). Each skipped backend keeps
// the reason so the page can say why it did not run. The wasm binaries are bundled by Vite
// from the installed @tensorflow/tfjs-backend-wasm package (no CDN). On wasm the page installs
// the backend's speed fixes (matmul, copy, sum) from the browser-safe entry of
// @mixdepth/backend, the same kernels that setupBackend installs in Node.
import * as tf from "@tensorflow/tfjs";
import { installWasmFixes } from "@mixdepth/backend/wasm-fixes";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import wasmPlain from "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url";
import wasmSimd from "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url";
import wasmThreaded from "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url";

export const BROWSER_BACKENDS = ["webgpu", "webgl", "wasm"] as const;
export type BrowserBackend = (typeof BROWSER_BACKENDS)[number];
export type BackendRequest = BrowserBackend | "auto";

export interface SkippedBackend {
  name: BrowserBackend;
  reason: string;
}

export interface BackendChoiceResult {
  name: BrowserBackend;
  requested: BackendRequest;
  skipped: SkippedBackend[];
  /** Speed fixes installed for this backend (wasm: @mixdepth/backend/wasm-fixes' names). */
  fixes: string[];
  /** One line for the page, e.g. "wasm (auto; 3 wasm fixes; skipped webgpu: no adapter; skipped webgl: ...)". */
  line: string;
}

/** Parses `?backend=` (missing or unknown means auto). */
export function parseBackendRequest(value: string | null): BackendRequest {
  return value !== null && (BROWSER_BACKENDS as readonly string[]).includes(value) ? (value as BrowserBackend) : "auto";
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

interface GpuLike {
  requestAdapter(): Promise<unknown>;
}

async function tryWebgpu(): Promise<string | null> {
  const gpu = (navigator as unknown as { gpu?: GpuLike }).gpu;
  if (!gpu) return "navigator.gpu is missing (this browser has no WebGPU)";
  let adapter: unknown;
  try {
    adapter = await gpu.requestAdapter();
  } catch (err) {
    return `requestAdapter failed: ${errorText(err)}`;
  }
  if (!adapter) return "no WebGPU adapter (GPU disabled or blocklisted)";
  await import("@tensorflow/tfjs-backend-webgpu"); // registers "webgpu" on import
  return (await tf.setBackend("webgpu")) ? null : "tfjs could not initialise webgpu";
}

async function tryWebgl(allowSoftware: boolean): Promise<string | null> {
  // Probe first: tf.setBackend("webgl") on a machine without WebGL logs console errors.
  const canvas = document.createElement("canvas");
  const gl = canvas.getContext("webgl2") ?? canvas.getContext("webgl");
  if (!gl) return "no WebGL context (GPU disabled or blocklisted)";
  const renderer = readRenderer(gl);
  gl.getExtension("WEBGL_lose_context")?.loseContext();
  // In auto mode: software rasterisers run tfjs' shaders slower than the wasm backend does.
  if (!allowSoftware && /swiftshader|llvmpipe|software/i.test(renderer)) return `software renderer (${renderer}); wasm is faster`;
  return (await tf.setBackend("webgl")) ? null : "tfjs could not initialise webgl";
}

function readRenderer(gl: WebGLRenderingContext | WebGL2RenderingContext): string {
  const ext = gl.getExtension("WEBGL_debug_renderer_info");
  const r: unknown = ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
  return typeof r === "string" ? r : "unknown";
}

async function tryWasm(): Promise<string | null> {
  setWasmPaths({
    "tfjs-backend-wasm.wasm": wasmPlain,
    "tfjs-backend-wasm-simd.wasm": wasmSimd,
    "tfjs-backend-wasm-threaded-simd.wasm": wasmThreaded,
  });
  return (await tf.setBackend("wasm")) ? null : "tfjs could not initialise wasm";
}


/**
 * Activates the first backend that works, in order webgpu, webgl, wasm (or only the one
 * requested). Throws if none works, with every reason in the message.
 */
export async function selectBackend(requested: BackendRequest = "auto"): Promise<BackendChoiceResult> {
  const order: readonly BrowserBackend[] = requested === "auto" ? BROWSER_BACKENDS : [requested];
  const skipped: SkippedBackend[] = [];
  for (const name of order) {
    let reason: string | null;
    try {
      // An explicit ?backend=webgl runs WebGL even on a software rasteriser.
      reason = name === "webgpu" ? await tryWebgpu() : name === "webgl" ? await tryWebgl(requested === "webgl") : await tryWasm();
    } catch (err) {
      reason = errorText(err);
    }
    if (reason === null) {
      await tf.ready();
      const fixes = name === "wasm" ? installWasmFixes() : [];
      const why = skipped.map((s) => `skipped ${s.name}: ${s.reason}`).join("; ");
      const how = requested === "auto" ? "auto" : `requested ${requested}`;
      const fixed = fixes.length > 0 ? `; ${fixes.length} wasm fixes: ${fixes.join(", ")}` : "";
      return { name, requested, skipped, fixes, line: `${name} (${how}${fixed}${why ? `; ${why}` : ""})` };
    }
    skipped.push({ name, reason });
  }
  throw new Error(`no tfjs backend works here: ${skipped.map((s) => `${s.name}: ${s.reason}`).join("; ")}`);
}
