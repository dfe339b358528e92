// Sampling settings -> logits processors, in the usual order: repetition penalty, then
// temperature (0: greedy, after which top-k and top-p would change nothing), top-k, top-p.
// The one mapping that the `mixdepth sample` command and the demo page both use, so a
// setting means the same thing in both.
import { greedy, repetitionPenalty, temperature, topK, topP, type LogitsProcessor } from "./processors.js";

/** Plain sampling settings; every field is optional and its default does nothing. */
export interface SamplingSettings {
  /** Softmax temperature, >= 0; 0 is greedy decoding. Default 1. */
  temperature?: number;
  /** Keep the k most likely tokens; 0 turns it off. Default 0 (off). */
  topK?: number;
  /** Nucleus threshold in (0, 1]; 1 turns it off. Default 1 (off). */
  topP?: number;
  /** Repetition penalty, > 0; 1 turns it off. Default 1 (off). */
  repetitionPenalty?: number;
}

/** The processors for `settings` (only those that change something, except temperature). Errors name the field and quote the value. */
export function processorsFor(settings: SamplingSettings): LogitsProcessor[] {
  const { temperature: t = 1, topK: k = 0, topP: p = 1, repetitionPenalty: penalty = 1 } = settings;
  const bad = (field: string, what: string, v: unknown) => new RangeError(`${field}: must be ${what} (got ${JSON.stringify(v)})`);
  if (typeof t !== "number" || !Number.isFinite(t) || t < 0) throw bad("temperature", "a finite number >= 0 (0: greedy)", t);
  if (!Number.isInteger(k) || k < 0) throw bad("topK", "an integer >= 0 (0: off)", k);
  if (typeof p !== "number" || !(p > 0 && p <= 1)) throw bad("topP", "a number in (0, 1] (1: off)", p);
  if (typeof penalty !== "number" || !Number.isFinite(penalty) || penalty <= 0) throw bad("repetitionPenalty", "a finite number > 0 (1: off)", penalty);
  const out: LogitsProcessor[] = [];
  if (penalty !== 1) out.push(repetitionPenalty(penalty));
  if (t === 0) return [...out, greedy()];
  out.push(temperature(t));
  if (k > 0) out.push(topK(k));
  if (p < 1) out.push(topP(p));
  return out;
}
