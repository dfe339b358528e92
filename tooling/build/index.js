// Shared package build: ESM only, declarations beside the code, sources mapped.
// A package's tsup.config.ts re-exports `libraryBuild(...)` in two lines.
import { defineConfig } from "tsup";

/** @param {{ entry?: string[], external?: string[] }} [options] */
export function libraryBuild(options = {}) {
  return defineConfig({
    entry: options.entry ?? ["src/index.ts"],
    format: ["esm"],
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
