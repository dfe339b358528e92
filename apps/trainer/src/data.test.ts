import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { brownToText, evalBatches, loadText, prepareTokens, randomBatch, splitDocuments } from "./data.js";
import { Rng } from "./rng.js";
import { byteTokenizer } from "./tokenizer.js";

describe("data", () => {
  it("strips Brown POS tags to plain English", () => {
    const raw = "\n\n\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, that/cs Atlanta's/np$ 1/2/cd (/( x/nn )/) ./.\n\n\tNext/ap one/cd ./.\n";
    expect(brownToText(raw)).toBe('The jury said "no evidence", that Atlanta\'s 1/2 (x).\nNext one.');
  });

  it("splits by document deterministically and independently of order of calls", () => {
    const docs = Array.from({ length: 40 }, (_, i) => ({ name: `d${i}`, text: `doc ${i}` }));
    const a = splitDocuments(docs, { valFraction: 0.1, splitSeed: 7 });
    const b = splitDocuments(docs, { valFraction: 0.1, splitSeed: 7 });
    expect(a.val.map((d) => d.name)).toEqual(b.val.map((d) => d.name));
    expect(a.val).toHaveLength(4);
    expect(a.train).toHaveLength(36);
    expect(new Set([...a.train, ...a.val].map((d) => d.name)).size).toBe(40);
    expect(splitDocuments(docs, { valFraction: 0.1, splitSeed: 8 }).val.map((d) => d.name)).not.toEqual(a.val.map((d) => d.name));
  });

  it("tokenizes once and reads the cache the second time", () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-data-"));
    const file = join(dir, "t.txt");
    writeFileSync(file, Array.from({ length: 3000 }, (_, i) => `line ${i} héllo`).join("\n"));
    const docs = loadText(file);
    expect(docs.length).toBeGreaterThan(2);
    const split = { valFraction: 0.2, splitSeed: 1 };
    const first = prepareTokens(docs, split, byteTokenizer(), join(dir, "cache"));
    const second = prepareTokens(docs, split, byteTokenizer(), join(dir, "cache"));
    expect(first.fromCache).toBe(false);
    expect(second.fromCache).toBe(true);
    expect(second.key).toBe(first.key);
    expect([...second.train]).toEqual([...first.train]);
    expect(byteTokenizer().decode(first.val)).toContain("héllo");
  });

  it("random windows are reproducible from a saved RNG state", () => {
    const tokens = Int32Array.from({ length: 1000 }, (_, i) => i % 256);
    const rng = new Rng(3);
    randomBatch(tokens, 2, 8, rng);
    const saved = rng.state;
    const a = randomBatch(tokens, 2, 8, rng);
    rng.state = saved;
    const b = randomBatch(tokens, 2, 8, rng);
    expect(b).toEqual(a);
    // targets are the inputs shifted by one token
    expect(a.targets[0]).toBe(((a.inputs[0] as number) + 1) % 256);
    const ev = evalBatches(tokens, 2, 8, 3);
    expect(ev).toHaveLength(3);
    expect(evalBatches(tokens, 2, 8, 3)).toEqual(ev);
    expect(() => randomBatch(Int32Array.from([1, 2, 3]), 1, 8, rng)).toThrow(/fewer than seqLen \+ 2/);
  });
});
