// Text from checkpoints and models (descriptions, sampled bytes) is untrusted: printed raw,
// an escape sequence could move the cursor, rewrite the screen or set the window title. We
// keep printable characters, newline and tab, and show every other control character
// (C0, DEL, C1; ESC starts every terminal sequence) as a visible \uXXXX escape.

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** `text` with terminal control characters made visible (newline and tab kept). */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
