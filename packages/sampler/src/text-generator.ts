// One call from a checkpoint to text, like transformers.js's pipeline("text-generation"):
// a TextGenerator holds a checkpoint's model and tokenizer and streams text with the CLI's
// behaviour (the context slides instead of throwing ContextLengthError; each character is
// emitted once, when complete) and, per token, which blocks processed it. Browser-safe: the
// sources are a URL of a checkpoint folder, the picked Files, or bytes in memory; folders on
// disk (and a run folder's latest checkpoint) are @mixdepth/sampler/node's loadTextGenerator.
// Every source is read with a size limit first and checked by @mixdepth/transformer's reader.
import { CheckpointError, checkpointLimits, checkpointToModel, parseCheckpoint, type BlockVisit, type CheckpointReadOptions, type ParsedCheckpoint, type Transformer } from "@mixdepth/transformer";
import type { Tokenizer } from "@mixdepth/text";
import { checkpointTokenizer } from "./checkpoint-tokenizer.js";
import { generateStream, type FinishReason, type GenerateOptions } from "./generate.js";
import type { RoutedFraction } from "./stats.js";

/** generateStream's options without the text ones (the generator brings its tokenizer). Context overflow default: "slide". */
export type TextGenerationOptions = Omit<GenerateOptions, "decode" | "tokenBytes">;

/** One generated token and the text it completes. */
export interface TextPiece {
  /** 0-based index of the generated token. */
  step: number;
  token: number;
  /** The characters this token completes ("" while a multi-byte character is incomplete). */
  text: string;
  /**
   * The token the model consumed to predict this one (the previous token; the prompt's last at
   * step 0): its position and, per block, whether the block processed it (causal routing).
   */
  consumed: { position: number; blocks: BlockVisit[] };
  /** Set on the last piece: why generation stopped. */
  finishReason: FinishReason | null;
}

export interface TextGenerationResult {
  text: string;
  tokens: number[];
  finishReason: FinishReason;
  /** Realized routed fraction per routed block vs its nominal capacity (prefill and decode). */
  routing: RoutedFraction[];
  /** Times the context slid (the model then sees the last slideKeep tokens). */
  slides: number;
}

/** A checkpoint's model and tokenizer, ready to generate. Owns the model: call dispose(). */
export class TextGenerator {
  constructor(
    readonly model: Transformer,
    /** The checkpoint's tokenizer (@mixdepth/text). */
    readonly tokenizer: Tokenizer,
    /** The checkpoint's config.json (free fields such as description and step included). */
    readonly config: Readonly<Record<string, unknown>>,
  ) {}

  /** Prompt text -> token ids; an empty prompt is a RangeError. */
  encode(prompt: string): number[] {
    const ids = Array.from(this.tokenizer.encode(prompt));
    if (ids.length === 0) throw new RangeError('prompt: must not be empty (got ""); give some text to continue');
    return ids;
  }

  /**
   * Streams the continuation of `prompt` one token at a time (`for await (const p of g.stream(...))`);
   * the iterator's return value is the {@link TextGenerationResult}. Stopping early frees everything.
   */
  async *stream(prompt: string, options: TextGenerationOptions = {}): AsyncGenerator<TextPiece, TextGenerationResult, undefined> {
    const it = generateStream(this.model, this.encode(prompt), { contextOverflow: "slide", ...options, tokenBytes: (id) => this.tokenizer.tokenBytes(id) });
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) {
          const s = r.value.sequences[0];
          if (!s) throw new Error("internal: generateStream returned no sequence");
          return { text: s.text ?? "", tokens: s.tokens, finishReason: s.finishReason, routing: r.value.routing, slides: r.value.slides };
        }
        const e = r.value;
        const token = e.tokens[0];
        const consumed = e.visits[0];
        if (token === null || token === undefined || !consumed) continue;
        yield { step: e.step, token, text: e.text?.[0] ?? "", consumed, finishReason: e.finished[0] ?? null };
      }
    } finally {
      await it.return(undefined as never); // frees the KV cache and logits when stopped early
    }
  }

  /** The whole continuation at once ({@link stream} run to the end). */
  async generate(prompt: string, options: TextGenerationOptions = {}): Promise<TextGenerationResult> {
    const it = this.stream(prompt, options);
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
    }
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** The generator of a checkpoint already read and checked (parseCheckpoint, readCheckpoint). */
export function textGenerator(ck: ParsedCheckpoint): TextGenerator {
  const tokenizer = checkpointTokenizer(ck.json.tokenizer, ck.resolved.vocabSize);
  return new TextGenerator(checkpointToModel(ck), tokenizer, ck.json);
}

/** A picked or dropped file (the browser's File has these). */
export interface NamedBlob {
  readonly name: string;
  readonly size: number;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/**
 * Where a checkpoint comes from in the browser: the URL of its folder (config.json and
 * model.safetensors inside), its two Files (config.json or the one .json, and the one
 * .safetensors), or its bytes.
 */
export type CheckpointSource = string | URL | Iterable<NamedBlob> | ArrayLike<NamedBlob> | { config: string | object; weights: Uint8Array };

const isUrl = (s: unknown): s is string | URL => typeof s === "string" || s instanceof URL;

async function fetchBounded(url: URL, max: number, limit: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new CheckpointError(`${url.href}: cannot be fetched (${(e as Error).message})`);
  }
  if (!res.ok) throw new CheckpointError(`${url.href}: HTTP ${res.status}`);
  const declared = Number(res.headers.get("content-length") ?? Number.NaN);
  if (declared > max) throw new CheckpointError(`${url.href} has ${declared} bytes, more than the limit ${max} (limits.${limit})`);
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  // The body is read with the limit applied as it arrives (a server may omit or misstate the length).
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > max) {
      await reader.cancel();
      throw new CheckpointError(`${url.href} has more than ${max} bytes, the limit (limits.${limit})`);
    }
    parts.push(value);
  }
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function checkSize(f: NamedBlob, max: number, limit: string): void {
  if (f.size > max) throw new CheckpointError(`${f.name} has ${f.size} bytes, more than the limit ${max} (limits.${limit})`);
}

async function readFileBounded(f: NamedBlob, max: number, limit: string): Promise<Uint8Array> {
  checkSize(f, max, limit);
  const bytes = new Uint8Array(await f.arrayBuffer());
  checkSize({ ...f, name: f.name, size: bytes.length }, max, limit); // a size that lied
  return bytes;
}

/** config.json (or the one .json) and the one .safetensors among picked files; the error says what is missing. */
function pickFiles(files: readonly NamedBlob[]): { config: NamedBlob; weights: NamedBlob } {
  const jsons = files.filter((f) => f.name.endsWith(".json"));
  const weights = files.filter((f) => f.name.endsWith(".safetensors"));
  const config = jsons.length === 1 ? jsons[0] : jsons.find((f) => f.name === "config.json");
  if (!config || weights.length !== 1) {
    throw new CheckpointError(`a checkpoint is config.json and one .safetensors file; got ${files.map((f) => JSON.stringify(f.name)).join(", ") || "no files"}`);
  }
  return { config, weights: weights[0] as NamedBlob };
}

function decodeConfig(bytes: Uint8Array, where: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new CheckpointError(`${where} is not valid UTF-8`);
  }
}

/**
 * Reads and checks a checkpoint from `source` (see {@link CheckpointSource}) and returns its
 * generator; every read is bounded by the checkpoint limits. Throws CheckpointError on one
 * line. In Node, @mixdepth/sampler/node's loadTextGenerator also takes folders and run folders.
 */
export async function loadTextGenerator(source: CheckpointSource, options: CheckpointReadOptions = {}): Promise<TextGenerator> {
  const lim = checkpointLimits(options);
  if (isUrl(source)) {
    let base: URL;
    try {
      base = new URL(String(source), (globalThis as { location?: { href: string } }).location?.href); // relative to the page in a browser
    } catch {
      throw new CheckpointError(`checkpoint: ${JSON.stringify(String(source))} is not a URL (in Node, load folders with @mixdepth/sampler/node)`);
    }
    if (!base.pathname.endsWith("/")) base = new URL(`${base.pathname}/${base.search}`, base);
    const config = await fetchBounded(new URL("config.json", base), lim.maxConfigBytes, "maxConfigBytes");
    const weights = await fetchBounded(new URL("model.safetensors", base), lim.maxWeightsBytes, "maxWeightsBytes");
    const where = base.href.replace(/\/$/, "");
    return textGenerator(parseCheckpoint(decodeConfig(config, `${where}/config.json`), weights, { ...options, where }));
  }
  if ("weights" in source && "config" in source) return textGenerator(parseCheckpoint(source.config, source.weights, options));
  const files = pickFiles(Array.from(source as Iterable<NamedBlob>));
  for (const [f, max, limit] of [[files.config, lim.maxConfigBytes, "maxConfigBytes"], [files.weights, lim.maxWeightsBytes, "maxWeightsBytes"]] as const) checkSize(f, max, limit);
  const config = decodeConfig(await readFileBounded(files.config, lim.maxConfigBytes, "maxConfigBytes"), files.config.name);
  const weights = await readFileBounded(files.weights, lim.maxWeightsBytes, "maxWeightsBytes");
  return textGenerator(parseCheckpoint(config, weights, options));
}
