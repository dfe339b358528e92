// Autoregressive generation for a batch of prompts: a streaming API (an async iterator of
// per-step events) and a one-shot API built on it. Each sequence has its own CachedDecoder
// (its own sparse KV cache, whose routed-block lengths differ from sequence to sequence);
// one step samples the next token of every unfinished sequence with one seeded RNG, in
// prompt order, so a seed fixes the whole batch's output.
import * as tf from "@tensorflow/tfjs-core";
import type { CausalRouting } from "@mixdepth/core";
import type { TokenVisits, Transformer } from "@mixdepth/transformer";
import { CachedDecoder, ContextLengthError } from "./decoder.js";
import { heldBackDelta, Utf8Stream } from "@mixdepth/text";
import { processedProbabilities, type LogitsProcessor } from "./processors.js";
import { createRng } from "./rng.js";
import { RoutingCounter, type RoutedFraction } from "./stats.js";
import { sampleIndex } from "./rng.js";

export type FinishReason = "length" | "stop";

/** What happens when a sequence reaches the model's contextLength. */
export type ContextOverflow = "error" | "slide";

export interface GenerateOptions {
  /** New tokens per sequence, at most. Default 32. */
  maxNewTokens?: number;
  /** Applied in order to each step's logits [B, V]; default none (sampling at temperature 1). */
  processors?: readonly LogitsProcessor[];
  /** Seed of the sampling RNG (mulberry32 on the host). Default 0. */
  seed?: number;
  /** Token-id sequences that end a sequence once generated (the stop tokens are kept in the output). */
  stopSequences?: readonly (readonly number[])[];
  /** Strings that end a sequence once they appear in its decoded output (needs `decode`). */
  stopStrings?: readonly string[];
  /** Token ids -> text; when given, events carry text deltas and results carry text. */
  decode?: (ids: readonly number[]) => string;
  /**
   * Token id -> its UTF-8 bytes (byte-level tokenizers: `(id) => [id]`). When given, text is
   * decoded incrementally (@mixdepth/text's Utf8Stream): a character split across tokens is emitted
   * once, when complete, with O(1) work per token; `decode` is then not needed for text.
   */
  tokenBytes?: (id: number) => ArrayLike<number>;
  /** Causal routing rule of the routed blocks. Default: the model's config.routing.causal. */
  causal?: CausalRouting;
  /**
   * "error" (default): throw a ContextLengthError before any work if
   * prompt length + maxNewTokens - 1 > contextLength. "slide": when a sequence fills the
   * context, drop its oldest tokens, keep the last `slideKeep` and re-prefill them at
   * positions 0.. (one prompt-sized pass; the model then sees a window, not the whole text).
   */
  contextOverflow?: ContextOverflow;
  /** Tokens kept when sliding. Default floor(contextLength / 2). */
  slideKeep?: number;
}

/** One generation step: one new token for each unfinished sequence. */
export interface GenerateEvent {
  /** 0-based index of the generated token. */
  step: number;
  /** Per sequence (prompt order): the new token, or null if the sequence had already finished. */
  tokens: (number | null)[];
  /** Per sequence: decoded text added by this token (with `decode`), or null. */
  text: (string | null)[] | null;
  /** Per sequence: the reason it finished at this step, else null. */
  finished: (FinishReason | null)[];
  /**
   * Per sequence: the blocks that processed the token whose forward pass produced this
   * step's logits (the previous token: the prompt's last token at step 0), one entry per
   * block, that token's position and depth. null where the sequence had finished.
   */
  visits: (TokenVisits | null)[];
  /** Realized routed fraction per routed block so far (prefill included), pooled over the batch. */
  routing: RoutedFraction[];
}

export interface SequenceResult {
  /** Generated token ids (without the prompt). */
  tokens: number[];
  /** The text of `tokens`, with `decode` or `tokenBytes` (the streamed deltas joined). */
  text?: string;
  finishReason: FinishReason;
}

export interface GenerateResult {
  sequences: SequenceResult[];
  /** Realized routed fraction per routed block vs nominal capacity, pooled over the batch (prefill and decode). */
  routing: RoutedFraction[];
  /** Number of times a sequence slid its window (contextOverflow "slide"). */
  slides: number;
}

interface SequenceState {
  decoder: CachedDecoder;
  history: number[]; // prompt + generated
  generated: number[];
  text: string;
  /** With tokenBytes: the streaming UTF-8 decoder of this sequence. */
  utf8: Utf8Stream | null;
  finished: FinishReason | null;
  logits: tf.Tensor2D | null; // [1, V] next-token logits, owned
  lastVisit: TokenVisits;
}

function resolve(model: Transformer, prompts: readonly (readonly number[])[], options: GenerateOptions) {
  const c = model.config;
  const maxNewTokens = options.maxNewTokens ?? 32;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new RangeError(`maxNewTokens: must be an integer >= 1 (got ${JSON.stringify(maxNewTokens)})`);
  const overflow = options.contextOverflow ?? "error";
  if (overflow !== "error" && overflow !== "slide") throw new RangeError(`contextOverflow: must be "error" or "slide" (got ${JSON.stringify(overflow)})`);
  const slideKeep = options.slideKeep ?? Math.floor(c.contextLength / 2);
  if (!Number.isInteger(slideKeep) || slideKeep < 1 || slideKeep >= c.contextLength) {
    throw new RangeError(`slideKeep: must be an integer in [1, ${c.contextLength - 1}] (got ${JSON.stringify(slideKeep)})`);
  }
  if (prompts.length === 0) throw new RangeError("prompts: give at least one prompt");
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new RangeError(`prompts[${i}]: empty prompt (give at least one token, e.g. a BOS id)`);
    p.forEach((t, j) => {
      if (!Number.isInteger(t) || t < 0 || t >= c.vocabSize) throw new RangeError(`prompts[${i}][${j}]: token ${JSON.stringify(t)} is not an id in [0, ${c.vocabSize - 1}]`);
    });
    // The last generated token is never fed back, hence the - 1.
    const needed = p.length + maxNewTokens - 1;
    if (overflow === "error" && needed > c.contextLength) {
      throw new ContextLengthError(needed, c.contextLength, `prompts[${i}] has ${p.length} tokens and maxNewTokens is ${maxNewTokens}; lower maxNewTokens to ${Math.max(0, c.contextLength - p.length + 1)} or pass contextOverflow: "slide"`);
    }
  });
  if (options.stopStrings?.length && !options.decode && !options.tokenBytes) throw new RangeError("stopStrings: needs a decode function (or tokenBytes)");
  for (const [i, s] of (options.stopSequences ?? []).entries()) {
    if (s.length === 0) throw new RangeError(`stopSequences[${i}]: empty`);
  }
  return { maxNewTokens, overflow, slideKeep };
}

function endsWith(seq: readonly number[], tail: readonly number[]): boolean {
  if (tail.length > seq.length) return false;
  for (let i = 1; i <= tail.length; i++) if (seq[seq.length - i] !== tail[tail.length - i]) return false;
  return true;
}

/**
 * Streams generation for `prompts` (token-id arrays; one prompt or a batch). Each prompt is
 * prefilled in one pass, then every unfinished sequence advances one token per event.
 * The iterator's return value is the {@link GenerateResult}. Every tensor is freed when the
 * iteration ends, including when the consumer stops early (break / return).
 */
export async function* generateStream(
  model: Transformer,
  prompts: readonly (readonly number[])[] | readonly number[],
  options: GenerateOptions = {},
): AsyncGenerator<GenerateEvent, GenerateResult, undefined> {
  const batch: readonly (readonly number[])[] = typeof prompts[0] === "number" ? [prompts as readonly number[]] : (prompts as readonly (readonly number[])[]);
  const { maxNewTokens, overflow, slideKeep } = resolve(model, batch, options);
  const processors = options.processors ?? [];
  const rng = createRng(options.seed ?? 0);
  const counter = new RoutingCounter(model);
  const decode = options.decode;
  const tokenBytes = options.tokenBytes;
  const withText = Boolean(decode || tokenBytes);
  const stopStrings = options.stopStrings ?? [];
  const longestStop = Math.max(0, ...stopStrings.map((x) => x.length));
  const stopSequences = options.stopSequences ?? [];
  const states: SequenceState[] = [];
  let slides = 0;

  const prefill = (s: SequenceState, tokens: readonly number[]) => {
    const out = s.decoder.prefill(tokens);
    counter.add(out.routing);
    s.logits = out.logits;
    s.lastVisit = out.tokens[tokens.length - 1] as TokenVisits;
  };

  try {
    for (const prompt of batch) {
      const s: SequenceState = {
        decoder: new CachedDecoder(model, options.causal ? { causal: options.causal } : {}),
        history: [...prompt],
        generated: [],
        text: "",
        utf8: tokenBytes ? new Utf8Stream() : null,
        finished: null,
        logits: null,
        lastVisit: { position: 0, depth: 0, blocks: [] },
      };
      states.push(s);
      const c = model.config.contextLength;
      prefill(s, prompt.length > c ? prompt.slice(-slideKeep) : prompt); // longer prompts only get here with "slide"
    }

    for (let step = 0; step < maxNewTokens; step++) {
      const active = states.filter((s) => s.finished === null);
      if (active.length === 0) break;
      // Sample every active sequence's next token from one batched softmax.
      const probs = tf.tidy(() => {
        const rowsIn = active.map((s) => s.logits as tf.Tensor2D);
        const logits = rowsIn.length === 1 ? (rowsIn[0] as tf.Tensor2D) : (tf.concat(rowsIn, 0) as tf.Tensor2D); // [A, V]
        return processedProbabilities(logits, processors, { tokens: active.map((s) => s.history) });
      });
      const v = model.config.vocabSize;
      const rows = probs.dataSync();
      probs.dispose();
      const event: GenerateEvent = {
        step,
        tokens: states.map(() => null),
        text: withText ? states.map(() => null) : null,
        finished: states.map(() => null),
        visits: states.map(() => null),
        routing: [],
      };
      active.forEach((s, a) => {
        const i = states.indexOf(s);
        const token = sampleIndex(rows.subarray(a * v, (a + 1) * v), rng);
        s.logits?.dispose();
        s.logits = null;
        s.history.push(token);
        s.generated.push(token);
        event.tokens[i] = token;
        event.visits[i] = s.lastVisit;
        if (stopSequences.some((stop) => endsWith(s.generated, stop))) s.finished = "stop";
        if (s.finished === null && s.generated.length >= maxNewTokens) s.finished = "length";
        if (event.text) {
          // Each character once: held back while incomplete, flushed when the sequence ends.
          const decoded = s.utf8 ? null : (decode as (ids: readonly number[]) => string)(s.generated);
          let delta = s.utf8 ? s.utf8.push((tokenBytes as (id: number) => ArrayLike<number>)(token)) : heldBackDelta(decoded as string, s.text, s.finished !== null);
          s.text += delta;
          // Only the tail can hold a stop string that this token completed.
          if (s.finished === null && stopStrings.some((stop) => s.text.slice(-(longestStop + delta.length)).includes(stop))) {
            s.finished = "stop";
            const rest = s.utf8 ? "" : heldBackDelta(decoded as string, s.text, true);
            delta += rest;
            s.text += rest;
          }
          if (s.finished !== null && s.utf8) {
            const rest = s.utf8.flush();
            delta += rest;
            s.text += rest;
          }
          event.text[i] = delta;
        }
        event.finished[i] = s.finished;
      });
      // Feed each new token to its sequence (not needed for finished ones).
      for (const s of active) {
        if (s.finished !== null) continue;
        if (s.decoder.remaining === 0) {
          // Only reachable with "slide" (resolve() checked the budget otherwise).
          if (overflow !== "slide") throw new ContextLengthError(s.decoder.position + 1, model.config.contextLength, "internal: budget check missed this");
          s.decoder.reset();
          prefill(s, s.history.slice(-slideKeep));
          slides++;
          continue;
        }
        const out = s.decoder.step(s.history[s.history.length - 1] as number);
        counter.add(out.routing);
        s.logits = out.logits;
        s.lastVisit = out.tokens[0] as TokenVisits;
      }
      event.routing = counter.fractions();
      yield event;
    }
    return {
      sequences: states.map((s) => ({ tokens: s.generated, ...(withText ? { text: s.text } : {}), finishReason: s.finished ?? "length" })),
      routing: counter.fractions(),
      slides,
    };
  } finally {
    for (const s of states) {
      s.logits?.dispose();
      s.decoder.dispose();
    }
  }
}

/** One-shot generation: runs {@link generateStream} to the end and returns its result. */
export async function generate(
  model: Transformer,
  prompts: readonly (readonly number[])[] | readonly number[],
  options: GenerateOptions = {},
): Promise<GenerateResult> {
  const it = generateStream(model, prompts, options);
  for (;;) {
    const r = await it.next();
    if (r.done) return r.value;
  }
}
