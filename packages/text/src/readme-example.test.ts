// Runs every `ts` block of the README against the source (see @mixdepth/vitest-config/readme).
import { readFileSync } from "node:fs";
import { runReadmeBlock, tsBlocks } from "@mixdepth/vitest-config/readme";
import { describe, expect, it } from "vitest";
import * as own from "./index.js";

const blocks = tsBlocks(readFileSync(new URL("../README.md", import.meta.url), "utf8"));
const api: Record<string, unknown> = { ...own };

describe("README code blocks", () => {
  it("has runnable blocks", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
  });

  it.each(blocks.map((b, i) => [i, b] as const))("block %i runs and every stated value holds", (_i, block) => {
    const checks = runReadmeBlock(block, api, ["@mixdepth/text"]);
    expect(checks.length).toBeGreaterThan(0);
    for (const c of checks) {
      if (c.kind === "=>") expect(c.actual, c.expr).toEqual(JSON.parse(c.expected));
      else {
        expect(c.threw, c.expr).toBeInstanceOf(own.TokenizerError);
        expect((c.threw as Error).message, c.expr).toBe(c.expected);
      }
    }
  });
});
