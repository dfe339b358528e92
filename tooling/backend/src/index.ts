export { loadBackend, parseBackendChoice, wasmBinaryDir, BACKEND_CHOICES, BackendError } from "./load-backend.js";
export type { BackendChoice, LoadedBackend, SkippedBackend } from "./load-backend.js";
