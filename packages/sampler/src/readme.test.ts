// Runs the README's ```ts blocks against the package source (transpiled, not type-checked),
// with a require() that maps the README's imports to the modules under test.
import { readFileSync } from "node:fs";
import { runTsModule, tsBlocks } from "@mixdepth/vitest-config/readme";
import * as tf from "@tensorflow/tfjs";
import * as transformer from "@mixdepth/transformer";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, useBackend } from "@mixdepth/vitest-config/tf";
import * as sampler from "./index.js";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const blocks = tsBlocks(readme);

const modules: Record<string, unknown> = { "@tensorflow/tfjs": tf, "@mixdepth/transformer": transformer, "@mixdepth/sampler": sampler };
const run = (code: string, log: (...args: unknown[]) => void): Promise<void> => runTsModule(code, modules, log);

describe("README code blocks", () => {
  beforeAll(() => useBackend("cpu"));

  it("has the one runnable block this test expects", () => {
    expect(blocks).toHaveLength(1);
  });

  it("the example runs without error or leaks and prints what it says", async () => {
    const lines: unknown[][] = [];
    await expectNoLeaks(() => run(blocks[0] as string, (...args) => lines.push(args)));
    expect(lines).toHaveLength(2 + 8); // results, routing, then one line per streamed step
    const routing = lines[1]?.[0] as sampler.RoutedFraction[];
    expect(routing.map((r) => r.layer)).toEqual([1, 3]);
  });
});
