// The wasm backend's speed fixes (matmul, copy, sum), on their own: the browser-safe entry
// `@mixdepth/backend/wasm-fixes`. Nothing here imports Node (tested: wasm-fixes.test.ts), so
// a web page on tfjs' wasm backend installs the same kernels that setupBackend installs in
// Node. Install after `tf.setBackend("wasm")` has resolved (each fix wraps the registered
// wasm kernel), never on import; uninstall restores tfjs' own kernels.
import { installWasmCopyFix, uninstallWasmCopyFix, wasmCopyFixInstalled } from "./wasm-copy.js";
import { installWasmMatMulFix, uninstallWasmMatMulFix, wasmMatMulFixInstalled } from "./wasm-matmul.js";
import { installWasmSumFix, uninstallWasmSumFix, wasmSumFixInstalled } from "./wasm-sum.js";

/** Each fix, in the words setupBackend reports it (LoadedBackend.fixes). */
const FIXES = [
  { name: "matmuls on XNNPACK (transposed, batched)", install: installWasmMatMulFix },
  { name: "slice/split/concat copy runs in place", install: installWasmCopyFix },
  { name: "sums over leading axes on XNNPACK", install: installWasmSumFix },
] as const;

/**
 * Installs the matmul, copy and sum fixes on the wasm backend, and returns the names of those
 * installed (all three once the wasm backend is registered; none when it is not: call it
 * after `await tf.setBackend("wasm")`). Calling it again changes nothing.
 */
export function installWasmFixes(): string[] {
  return FIXES.filter((f) => f.install()).map((f) => f.name);
}

/** Restores tfjs' own kernels for every fix (a no-op for those not installed). */
export function uninstallWasmFixes(): void {
  uninstallWasmMatMulFix();
  uninstallWasmCopyFix();
  uninstallWasmSumFix();
}

export { installWasmCopyFix, installWasmMatMulFix, installWasmSumFix, uninstallWasmCopyFix, uninstallWasmMatMulFix, uninstallWasmSumFix, wasmCopyFixInstalled, wasmMatMulFixInstalled, wasmSumFixInstalled };
