// Shared package build. Libraries ship ESM (`index.js`, `index.d.ts`) and CommonJS
// (`index.cjs`, `index.d.cts`) so that both `import` and `require()` work on every Node
// version and in CJS tool chains; each package's `exports` map has an `import` and a
// `require` condition, `types` first in each. tfjs stays external: its package resolves to
// the same CommonJS file from both, so a CJS consumer shares one tfjs engine with ESM code.
// Mixing `import` and `require()` of the *same* @mixdepth package in one program loads it
// twice (two router registries), as with any dual package: pick one per program.
// A package's tsup.config.ts re-exports `libraryBuild(...)` in two lines.
import { defineConfig } from "tsup";

/** @param {{ entry?: string[], external?: string[] }} [options] */
export function libraryBuild(options = {}) {
  return defineConfig({
    entry: options.entry ?? ["src/index.ts"],
    format: ["esm", "cjs"],
    target: "es2022",
    platform: "neutral",
    dts: true,
    sourcemap: true,
    clean: true,
    splitting: false,
    treeshake: true,
    external: [/^@tensorflow\//, /^@mixdepth\//, ...(options.external ?? [])],
  });
}

/** Node entry points (CLIs): ESM, no declarations, `#!` kept. */
export function nodeAppBuild(options = {}) {
  return defineConfig({
    entry: options.entry ?? ["src/cli.ts"],
    format: ["esm"],
    target: "node20",
    platform: "node",
    dts: false,
    sourcemap: true,
    clean: true,
    splitting: false,
    external: [/^@tensorflow\//, /^@mixdepth\//, ...(options.external ?? [])],
  });
}
