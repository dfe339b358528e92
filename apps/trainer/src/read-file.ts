// Every file the CLI reads goes through here: the one bounded reader of
// @mixdepth/transformer/node (also the checkpoint loader's), which opens without blocking and
// refuses FIFOs, devices (/dev/zero), folders and files over the bound before reading a byte.
// Bounds (documented in docs/reliability.md):
//   MAX_TEXT_BYTES   256 MiB  a --data text file (split bigger text into a folder)
//   MAX_LOG_BYTES    256 MiB  metrics.jsonl (about a million steps)
//   MAX_JSON_BYTES    16 MiB  config files, run.json, depth.json, sweep.json, token cache meta
// A refusal is an InputFileError: one line naming the file, exit 2.
import { readRegularFile } from "@mixdepth/transformer/node";

export const MAX_TEXT_BYTES = 256 * 2 ** 20;
export const MAX_LOG_BYTES = 256 * 2 ** 20;
export const MAX_JSON_BYTES = 16 * 2 ** 20;

/** A file the CLI reads is missing, not a regular file, too large or not UTF-8 (exit 2). */
export class InputFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InputFileError";
  }
}

/**
 * The bytes of `path`, a regular file of at most `maxBytes`. `what` names the file in the
 * message ("--data", "run.json"); `bound` names the limit.
 */
export function readBounded(path: string, maxBytes: number, what: string, bound = `${maxBytes} bytes`): Uint8Array {
  return readRegularFile(path, maxBytes, { what: "it", limit: bound, error: (m) => new InputFileError(`${what}: ${m}`) });
}

/** The text of `path` (strict UTF-8), bounded as readBounded. */
export function readBoundedText(path: string, maxBytes: number, what: string, bound?: string): string {
  const bytes = readBounded(path, maxBytes, what, bound);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new InputFileError(`${what}: ${path} is not valid UTF-8 text`);
  }
}
