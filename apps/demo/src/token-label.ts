// What the routing map and the depth view print for one token: its text with spaces and
// control characters made visible, a lone byte of a multi-byte character as \xNN, and an id
// the tokenizer has no text for as #id. Works from the token's bytes, so every kind of
// @mixdepth/text tokenizer gets the same labels.
import type { Tokenizer } from "@mixdepth/text";

const VISIBLE: Record<string, string> = { " ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍" };

const hex = (b: number) => `\\x${b.toString(16).padStart(2, "0")}`;

/** A short visible label for token `id`. */
export function tokenLabel(tokenizer: Tokenizer, id: number): string {
  const bytes = tokenizer.tokenBytes(id);
  if (bytes.length === 0) return `#${id}`;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    return bytes.map(hex).join(""); // part of a multi-byte UTF-8 character
  }
  return [...text].map((ch) => VISIBLE[ch] ?? (ch < " " || ch === "\x7f" ? hex(ch.charCodeAt(0)) : ch)).join("");
}
