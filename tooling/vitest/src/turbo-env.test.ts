// The test knobs reach the tests through `pnpm test`: turbo (strict env mode) hands a task
// only the variables its turbo.json entry lists, and keys its cache on them. Every
// MIXDEPTH_* variable the test setup or the backend package reads must be listed for both
// test tasks; MIXDEPTH_SLOW is set by the test:slow scripts themselves.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseTestBackend, testBackends } from "./tf.js";

const root = new URL("../../../", import.meta.url).pathname;

function knobsReadIn(dir: string): Set<string> {
  const names = new Set<string>();
  for (const f of readdirSync(dir)) {
    if (!/\.(ts|js)$/.test(f) || f.includes(".test.")) continue;
    for (const m of readFileSync(join(dir, f), "utf8").matchAll(/\b(MIXDEPTH_[A-Z_]+)\b/g)) names.add(m[1]!);
  }
  names.delete("MIXDEPTH_SLOW");
  return names;
}

describe("turbo.json passes the test knobs", () => {
  const turbo = JSON.parse(readFileSync(join(root, "turbo.json"), "utf8")) as { tasks: Record<string, { env?: string[] }> };
  const knobs = new Set([...knobsReadIn(join(root, "tooling/vitest/src")), ...knobsReadIn(join(root, "packages/backend/src"))]);

  it("finds the knobs it guards", () => {
    expect([...knobs].sort()).toEqual(["MIXDEPTH_BACKEND", "MIXDEPTH_TEST_BACKEND", "MIXDEPTH_TEST_BACKENDS"]);
  });
  it.each(["test", "test:slow"])("lists every knob in the %s task's env", (task) => {
    expect(turbo.tasks[task]?.env ?? []).toEqual(expect.arrayContaining([...knobs]));
  });
});

describe("testBackends", () => {
  it("reads MIXDEPTH_TEST_BACKENDS, default cpu and wasm", () => {
    expect(testBackends({})).toEqual(["cpu", "wasm"]);
    expect(testBackends({ MIXDEPTH_TEST_BACKENDS: " wasm " })).toEqual(["wasm"]);
    expect(testBackends({ MIXDEPTH_TEST_BACKENDS: "cpu,tensorflow" })).toEqual(["cpu", "tensorflow"]);
  });
  it("rejects an unknown name, naming the variable", () => {
    expect(() => testBackends({ MIXDEPTH_TEST_BACKENDS: "cpu,gpu" })).toThrow('MIXDEPTH_TEST_BACKENDS: unknown test backend "gpu"; expected cpu, wasm or tensorflow');
    expect(() => parseTestBackend("webgl", "MIXDEPTH_TEST_BACKEND")).toThrow(/MIXDEPTH_TEST_BACKEND: unknown test backend "webgl"/);
  });
});
