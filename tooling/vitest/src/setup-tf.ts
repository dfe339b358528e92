// Test setup: registers tfjs (ops + gradients) and selects the default test backend.
// MIXDEPTH_TEST_BACKEND=cpu|wasm|tensorflow (default cpu); suites that must agree across backends
// loop over `testBackends()` from "@mixdepth/vitest-config/tf" themselves.
import "@tensorflow/tfjs";
import { beforeAll } from "vitest";
import { parseTestBackend, useBackend } from "./tf.js";

beforeAll(async () => {
  await useBackend(parseTestBackend(process.env.MIXDEPTH_TEST_BACKEND || "cpu", "MIXDEPTH_TEST_BACKEND"));
});
