// Shared vitest configuration. Default runs exclude `*.slow.test.ts` (training runs,
// browser tests); `vitest run --config ... --mode slow` (the `test:slow` script) runs only those.
import { defineConfig, type ViteUserConfig } from "vitest/config";

export interface MixdepthTestOptions {
  /** Load @tensorflow/tfjs and select the test backend before each file. */
  tfjs?: boolean;
  /** Per-test timeout in ms (tensor tests on 2 cores want more than vitest's 5 s). */
  testTimeout?: number;
}

const SETUP_TF = new URL("./setup-tf.ts", import.meta.url).pathname;

export function defineMixdepthConfig(options: MixdepthTestOptions = {}): ViteUserConfig {
  const slow = process.env.MIXDEPTH_SLOW === "1";
  return defineConfig({
    test: {
      include: slow ? ["src/**/*.slow.test.ts", "test/**/*.slow.test.ts"] : ["src/**/*.test.ts", "test/**/*.test.ts"],
      exclude: slow ? ["**/node_modules/**"] : ["**/node_modules/**", "**/*.slow.test.ts"],
      setupFiles: options.tfjs ? [SETUP_TF] : [],
      testTimeout: options.testTimeout ?? (slow ? 600_000 : 60_000),
      hookTimeout: 120_000,
      // One fork per file keeps the tfjs engine (a process-wide singleton) isolated per file;
      // two workers match the 2-core machines this project runs on.
      pool: "forks",
      maxWorkers: 2,
      passWithNoTests: slow,
      reporters: process.env.CI ? ["default"] : ["default"],
    },
  });
}
