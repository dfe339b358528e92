export { describeNative, setupBackend, wasmBinaryDir } from "./setup-backend.js";
export type { LoadedBackend, NativeLibrary, SetupBackendOptions, SkippedBackend } from "./setup-backend.js";
export { BACKEND_CHOICES, BACKEND_ENV, BackendChoiceError, BackendError, parseBackendChoice, resolveBackendChoice } from "./backend-choice.js";
export type { BackendChoice, BackendSources, ResolvedBackendChoice } from "./backend-choice.js";
export {
  installWasmCopyFix,
  installWasmFixes,
  installWasmMatMulFix,
  installWasmSumFix,
  uninstallWasmCopyFix,
  uninstallWasmFixes,
  uninstallWasmMatMulFix,
  uninstallWasmSumFix,
  wasmCopyFixInstalled,
  wasmMatMulFixInstalled,
  wasmSumFixInstalled,
} from "./wasm-fixes.js";
