// Shared vitest configuration (plain JS: vitest loads config files through Node, which
// cannot import TypeScript from a linked workspace package). Default runs exclude
// `*.slow.test.ts` (training runs, browser tests); with MIXDEPTH_SLOW=1 (the `test:slow`
// scripts) only those run.
import { defineConfig } from "vitest/config";

const SETUP_TF = new URL("./setup-tf.ts", import.meta.url).pathname;

/** @param {import("./config.js").MixdepthTestOptions} [options] */
export function defineMixdepthConfig(options = {}) {
  const slow = process.env.MIXDEPTH_SLOW === "1";
  const roots = options.include ?? ["src", "test", "examples", "scripts"];
  const ext = slow ? "slow.test" : "test";
  return defineConfig({
    test: {
      include: roots.flatMap((r) => [`${r}/**/*.${ext}.ts`, `${r}/**/*.${ext}.js`]),
      exclude: slow ? ["**/node_modules/**"] : ["**/node_modules/**", "**/*.slow.test.*"],
      setupFiles: options.tfjs ? [SETUP_TF] : [],
      testTimeout: options.testTimeout ?? (slow ? 900_000 : 60_000),
      hookTimeout: 120_000,
      // One process per file keeps the tfjs engine (a process-wide singleton) isolated per
      // file; two workers match the 2-core machines this project runs on.
      pool: "forks",
      maxWorkers: 2,
      // Packages without slow tests still succeed under `test:slow`.
      passWithNoTests: slow,
    },
  });
}
