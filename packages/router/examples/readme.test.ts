// Runs every ```ts block of the package README against the package source, so the README
// cannot drift from the API. Blocks are transpiled (not type-checked) and given a require()
// that maps the README's imports to the modules under test.
import { readFileSync } from "node:fs";
import { runTsModule, tsBlocks } from "@mixdepth/vitest-config/readme";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, useBackend } from "@mixdepth/vitest-config/tf";
import * as core from "@mixdepth/core";
import * as router from "../src/index.js";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const blocks = tsBlocks(readme);

const modules: Record<string, unknown> = { "@tensorflow/tfjs": tf, "@mixdepth/core": core, "@mixdepth/router": router };

describe("README code blocks", () => {
  beforeAll(() => useBackend("cpu"));

  it("has the four blocks this test expects", () => {
    expect(blocks).toHaveLength(4);
  });

  it("the sampling-time block prints the decisions it says", async () => {
    const block = blocks.find((b) => b.includes("routeByThreshold")) as string;
    const lines: unknown[][] = [];
    await expectNoLeaks(() => runTsModule(block, modules, (...args) => lines.push(args)));
    expect(lines).toEqual([[[1, 0, 1, 0]], [[1, 0, 1, 0], [0.711, 0.31, 0.622, 0.426]]]);
  });

  it.each(blocks.map((code, i) => [i, code] as const))("block %i runs without error or leaks", async (_i, code) => {
    await expectNoLeaks(() => runTsModule(code, modules));
  });

  it("the blocks really ran: they registered the built-ins and the custom kind", () => {
    expect(router.listRouters()).toEqual(["biased", "learned", "stochastic"]);
  });
});
