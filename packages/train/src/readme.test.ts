// Runs the README's ```ts blocks against the package source (transpiled, not type-checked),
// with a require() that maps the README's imports to the modules under test: the training
// loop must print a falling loss, save, load and stream a sample, leaving no tensor behind; the
// @mixdepth/train/node block must resume on 1 rank the losses it trained on 2.
import { readFileSync } from "node:fs";
import { runTsModule, tsBlocks } from "@mixdepth/vitest-config/readme";
import ts from "typescript";
import * as nodeFs from "node:fs";
import * as nodeOs from "node:os";
import * as nodePath from "node:path";
import * as tf from "@tensorflow/tfjs";
import * as backend from "@mixdepth/backend";
import * as sampler from "@mixdepth/sampler";
import * as text from "@mixdepth/text";
import * as transformer from "@mixdepth/transformer";
import * as transformerNode from "@mixdepth/transformer/node";
import { describe, expect, it } from "vitest";
import { expectNoLeaks } from "@mixdepth/vitest-config/tf";
import * as train from "./index.js";
import * as trainNode from "./node.js";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const blocks = tsBlocks(readme);

const modules: Record<string, unknown> = {
    "@tensorflow/tfjs": tf,
    "node:fs": nodeFs,
    "node:os": nodeOs,
    "node:path": nodePath,
    "@mixdepth/backend": backend,
    "@mixdepth/sampler": sampler,
    "@mixdepth/text": text,
    "@mixdepth/transformer": transformer,
    "@mixdepth/transformer/node": transformerNode,
    "@mixdepth/train": train,
    "@mixdepth/train/node": trainNode,
  };
const run = (code: string, log: (...args: unknown[]) => void): Promise<void> => runTsModule(code, modules, log);

describe("README code blocks", () => {
  it("has the three runnable blocks this test expects", () => {
    expect(blocks).toHaveLength(3);
  });

  it("the training loop runs without leaks, its loss falls, and the saved model loads and samples", async () => {
    const lines: string[] = [];
    await expectNoLeaks(() => run(blocks[0] as string, (...args) => lines.push(args.join(" "))));
    process.stdout.write(lines.join("\n") + "\n");
    expect(lines[0]).toMatch(/^backend: /);
    const losses = lines.flatMap((l) => /^step \d+: loss ([\d.]+), grad norm [\d.]+$/.exec(l)?.[1] ?? []).map(Number);
    expect(losses).toHaveLength(4); // steps 10, 20, 30, 40
    expect(losses[0]).toBeLessThan(Math.log(256)); // below a uniform guess already
    for (let i = 1; i < 4; i++) expect(losses[i]).toBeLessThan(losses[i - 1] as number);
    expect(losses[3]).toBeLessThan(0.6 * (losses[0] as number));
    const sample = JSON.parse(lines[5] as string) as string;
    expect(sample).toMatch(/^the quick brown/); // greedy continuation from the loaded weights: it learned the sentence
  }, 120_000);

  it("the tf.train block: the array form of applyGradients runs and updates the weights", async () => {
    const lines: unknown[][] = [];
    await expectNoLeaks(() => run(blocks[1] as string, (...args) => lines.push(args)));
    const [before, arrow, after] = lines[0] as [number, string, number];
    expect(arrow).toBe("->");
    expect(after).toBeLessThan(before);
  });
});

describe("README code blocks: @mixdepth/train/node", () => {
  it("2 data-parallel ranks, then a resume on 1 rank from the checkpoint: the same losses, no leaks, no worker left", async () => {
    const lines: string[] = [];
    await expectNoLeaks(() => run(blocks[2] as string, (...args) => lines.push(args.join(" "))));
    process.stdout.write(lines.join("\n") + "\n");
    // resolveRanks keeps the native backend at 1 rank (MIXDEPTH_TEST_BACKEND=tensorflow).
    const ranks = tf.getBackend() === "tensorflow" ? 1 : 2;
    const rows = lines.map((l) => new RegExp(`^step (\\d+): loss ([\\d.]+) on ${ranks} ranks, ([\\d.]+) resumed on 1$`).exec(l));
    expect(rows.map((m) => Number(m?.[1]))).toEqual([4, 5, 6]);
    for (const m of rows) expect(Math.abs(Number(m?.[2]) - Number(m?.[3]))).toBeLessThanOrEqual(1e-4); // printed to 4 decimals
    expect(trainNode.liveWorkers()).toBe(0);
  }, 120_000);
});

describe("README code blocks type-check", () => {
  // Strict, against the package's tsconfig; "@mixdepth/train" maps to this source. The
  // tf.train section's claim is checked too: the obvious line is TS2345, the shown one is not.
  function diagnostics(code: string): string[] {
    const dir = new URL("./", import.meta.url).pathname;
    const file = `${dir}__readme-block.ts`;
    const source = code.replace('from "@mixdepth/train"', 'from "./index.js"').replace('from "@mixdepth/train/node"', 'from "./node.js"') + "\nexport {};\n";
    const parsed = ts.getParsedCommandLineOfConfigFile(`${dir}../tsconfig.json`, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
    if (!parsed) throw new Error("tsconfig.json did not parse");
    const host = ts.createCompilerHost(parsed.options);
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (name, lang, ...rest) => (name === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest));
    const fileExists = host.fileExists.bind(host);
    host.fileExists = (name) => name === file || fileExists(name);
    const program = ts.createProgram([file], parsed.options, host);
    return ts.getPreEmitDiagnostics(program).map((d) => `TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
  }

  it("the blocks compile; `optimizer.applyGradients(grads)` would not", () => {
    expect(diagnostics(blocks[0] as string)).toEqual([]);
    expect(diagnostics(blocks[1] as string)).toEqual([]);
    expect(diagnostics(blocks[2] as string)).toEqual([]);
    const obvious = (blocks[1] as string).replace(/optimizer\.applyGradients\(.*\); \/\/ not applyGradients\(grads\)/, "optimizer.applyGradients(grads);");
    expect(obvious).not.toBe(blocks[1]);
    expect(diagnostics(obvious)).toEqual([expect.stringMatching(/^TS2345: Argument of type 'NamedTensorMap' is not assignable to parameter of type 'NamedVariableMap \| NamedTensor\[\]'/)]);
  }, 60_000);
});
