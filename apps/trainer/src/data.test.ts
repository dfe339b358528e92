import { mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DataError } from "@mixdepth/train";
import { byteTokenizer } from "@mixdepth/text";
import { brownToText, loadText, prepareTokens, splitDocuments } from "./data.js";

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

  it("small data trains: one small file splits within itself, validation close to valFraction", () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-data-"));
    const line = (i: number) => `line ${i}: the quick brown fox jumps over the lazy dog.\n`;
    for (const [bytes, fraction] of [[10_000, 0.05], [46_000, 0.05], [46_000, 0.2]] as const) {
      const file = join(dir, `t${bytes}.txt`);
      let text = "";
      for (let i = 0; text.length < bytes; i++) text += line(i);
      writeFileSync(file, text);
      const { train, val } = splitDocuments(loadText(file), { valFraction: fraction, splitSeed: 1, minPartChars: 129 });
      const share = val.reduce((a, d) => a + d.text.length, 0) / text.length;
      expect(share).toBeGreaterThan(fraction * 0.9);
      expect(share).toBeLessThan(fraction * 1.1 + 129 / text.length);
      expect(train.map((d) => d.text).join("").length + val[0]!.text.length).toBeGreaterThanOrEqual(text.length - 2);
    }
  });

  it("two windows of text are enough; less is a DataError saying how much is needed", () => {
    const docs = [{ name: "a", text: "x".repeat(34) }];
    const { train, val } = splitDocuments(docs, { valFraction: 0.05, splitSeed: 3, minPartChars: 17 });
    expect(val[0]!.text.length).toBe(17);
    expect(train.reduce((a, d) => a + d.text.length, 0)).toBe(17);
    expect(() => splitDocuments([{ name: "a", text: "x".repeat(33) }], { valFraction: 0.05, splitSeed: 3, minPartChars: 17 })).toThrow(
      /data: 33 characters of text \(1 document\) are too few: .* at least 34 characters; add text or lower training\.seqLen/,
    );
  });

  it("follows symlinks in a --data folder (loops visited once, broken links named) and refuses oversized files", () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-data-"));
    const other = mkdtempSync(join(tmpdir(), "mixdepth-data-"));
    writeFileSync(join(dir, "a.txt"), "alpha");
    writeFileSync(join(other, "b.txt"), "beta");
    symlinkSync(join(other, "b.txt"), join(dir, "b-link.txt"));
    symlinkSync(other, join(dir, "sub"));
    symlinkSync(dir, join(other, "loop"));
    expect(loadText(dir).map((d) => d.name)).toEqual(["a.txt", "b-link.txt", "sub/b.txt"]);
    symlinkSync(join(other, "missing"), join(dir, "z-broken"));
    expect(() => loadText(dir)).toThrow(DataError);
    expect(() => loadText(dir)).toThrow(/z-broken is a broken symlink/);
    expect(() => loadText(join(dir, "a.txt"), { maxFileBytes: 4 })).toThrow(/a\.txt has 5 bytes, more than the limit 4 \(bytes read per file; split it into several files in a folder\)/);
  });
});
