import type { ViteUserConfig } from "vitest/config";
export interface MixdepthTestOptions {
  /** Load @tensorflow/tfjs and select the test backend (MIXDEPTH_TEST_BACKEND, default cpu) before each file. */
  tfjs?: boolean;
  /** Per-test timeout in ms (default 60 s; 15 min for slow tests). */
  testTimeout?: number;
  /** Folders searched for `*.test.ts|js` (default src, test, examples, scripts). */
  include?: string[];
}
export declare function defineMixdepthConfig(options?: MixdepthTestOptions): ViteUserConfig;
