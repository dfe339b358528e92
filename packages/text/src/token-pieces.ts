// Text per token, for showing tokens side by side (a routing map, a depth view): the streaming
// decoder's output, split where it arrives.
import type { Tokenizer } from "./tokenizer.js";

/**
 * The text each token completes, one string per id: joined they equal `tokenizer.decode(ids)`.
 * A multi-byte character shows up in the piece of its last byte (the earlier ones are ""); a
 * truncated character at the end is the last piece's U+FFFD.
 */
export function tokenPieces(tokenizer: Tokenizer, ids: ArrayLike<number>): string[] {
  const d = tokenizer.decoder();
  const out = Array.from(ids, (id) => d.push(id));
  if (out.length) out[out.length - 1] += d.flush();
  return out;
}
