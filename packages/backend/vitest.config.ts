// Not the shared config: @mixdepth/vitest-config depends on this package (a cycle otherwise).
import { defineConfig } from "vitest/config";
export default defineConfig({ test: { include: ["src/**/*.test.ts"], pool: "forks", maxWorkers: 2, testTimeout: 60_000 } });
