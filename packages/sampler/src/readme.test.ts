// Runs the README's ```ts blocks against the package source (transpiled, not type-checked),
// with a require() that maps the README's imports to the modules under test.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runTsModule, tsBlocks } from "@mixdepth/vitest-config/readme";
import * as tf from "@tensorflow/tfjs";
import * as transformer from "@mixdepth/transformer";
import * as transformerNode from "@mixdepth/transformer/node";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { expectNoLeaks, useBackend } from "@mixdepth/vitest-config/tf";
import * as sampler from "./index.js";
import * as samplerNode from "./node.js";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const blocks = tsBlocks(readme);

const modules: Record<string, unknown> = { "@tensorflow/tfjs": tf, "@mixdepth/transformer": transformer, "@mixdepth/transformer/node": transformerNode, "@mixdepth/sampler": sampler, "@mixdepth/sampler/node": samplerNode };
const run = (code: string, log: (...args: unknown[]) => void): Promise<void> => runTsModule(code, modules, log);

describe("README code blocks", () => {
  beforeAll(() => useBackend("cpu"));

  it("has the two runnable blocks this test expects", () => {
    expect(blocks).toHaveLength(2);
  });

  it("the one-call example saves a checkpoint and streams its text", async () => {
    // The block writes "checkpoints/example"; here it goes to a temporary folder (vitest's workers cannot chdir).
    const dir = join(mkdtempSync(join(tmpdir(), "mixdepth-readme-")), "example");
    const code = blocks[0] as string;
    expect(code.match(/"checkpoints\/example"/g)).toHaveLength(2);
    const written: string[] = [];
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => (written.push(String(s)), true));
    try {
      await expectNoLeaks(() => run(code.replaceAll('"checkpoints/example"', JSON.stringify(dir)), () => undefined));
    } finally {
      spy.mockRestore();
    }
    // 40 byte tokens, the seeded sampler's, as text.
    const g = await samplerNode.loadTextGenerator(dir);
    const want = await g.generate("The ", { maxNewTokens: 40, seed: 0 });
    g.dispose();
    expect(want.tokens).toHaveLength(40);
    expect(written.join("")).toBe(want.text);
  });

  it("the example runs without error or leaks and prints what it says", async () => {
    const lines: unknown[][] = [];
    await expectNoLeaks(() => run(blocks[1] as string, (...args) => lines.push(args)));
    expect(lines).toHaveLength(2 + 8); // results, routing, then one line per streamed step
    const routing = lines[1]?.[0] as sampler.RoutedFraction[];
    expect(routing.map((r) => r.layer)).toEqual([1, 3]);
  });
});
