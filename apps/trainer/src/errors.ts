// One error policy for the CLI. A user error prints one line that names the file, field or
// value and what to do, and exits with a documented code; a stack trace appears only with
// --debug (or MIXDEPTH_DEBUG=1), and for bugs.
//   0  done (also after Ctrl-C with a checkpoint)
//   1  environment: no usable backend, disk full, read-only or unwritable output, run folder locked, a worker thread died
//   2  input: usage, config, data, checkpoint, prompt (nothing was written)
//   3  numerical: a loss, gradient or weight is not finite (no checkpoint written after it)
//   70 internal error (a bug: please report it with the --debug output)

import { printable } from "./printable.js";

export const EXIT = { ok: 0, environment: 1, input: 2, numerical: 3, internal: 70 } as const;

/** Bad command-line usage (e.g. an empty --prompt): exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Errors the user can fix by changing their input, by class name (classes live in several packages). */
const INPUT_ERRORS = new Set(["UsageError", "MemoryLimitError", "ConfigInvalid", "PluginError", "ConfigError", "DataError", "CheckpointError", "SafetensorsError", "ContextLengthError", "BackendChoiceError", "TokenizerError", "InputFileError", "RouterOutputError"]);
// WorkerFailedError: a data-parallel worker thread died (a plugin that fails there, out of memory).
const ENVIRONMENT_ERRORS = new Set(["BackendError", "RunLockedError", "WorkerFailedError"]);

/** What filesystem error codes mean to a user, and what to do. */
function describeErrno(e: NodeJS.ErrnoException): { code: number; line: string } | null {
  const path = e.path ?? (e as { dest?: string }).dest ?? "a file";
  switch (e.code) {
    case "ENOSPC":
    case "EDQUOT":
      return { code: EXIT.environment, line: `the disk is full (writing ${path}); free some space and run the same command again (the last checkpoint is intact)` };
    case "EROFS":
      return { code: EXIT.environment, line: `${path} is on a read-only file system; choose another output folder (--out)` };
    case "EACCES":
    case "EPERM":
      return { code: EXIT.environment, line: `no permission to write ${path}; fix its permissions or choose another output folder (--out)` };
    case "ENOENT":
      return { code: EXIT.input, line: `${path} does not exist` };
    case "ENOTDIR":
    case "EISDIR":
      return { code: EXIT.input, line: `${path}: expected ${e.code === "EISDIR" ? "a file, found a folder" : "a folder, found a file"}` };
    case "EMFILE":
    case "ENFILE":
      return { code: EXIT.environment, line: `too many open files (${path}); raise the limit (ulimit -n) and run again` };
    default:
      return null;
  }
}

/**
 * The exit code and the lines to print for an error thrown by a command. Messages quote
 * values from files (latest.json, config.json, run.json): their terminal control characters
 * are shown as visible \uXXXX, never sent raw (printable.ts).
 */
export function describeError(err: unknown, debug: boolean): { code: number; lines: string[] } {
  const d = describeRaw(err, debug);
  return { code: d.code, lines: d.lines.map(printable) };
}

function describeRaw(err: unknown, debug: boolean): { code: number; lines: string[] } {
  const e = err instanceof Error ? err : new Error(String(err));
  const trace = debug && e.stack ? [e.stack] : [];
  if (e.name === "NonFiniteError") return { code: EXIT.numerical, lines: [`error: ${e.message}`, ...trace] };
  if (INPUT_ERRORS.has(e.name)) return { code: EXIT.input, lines: [`error: ${e.message}`, ...trace] };
  if (ENVIRONMENT_ERRORS.has(e.name)) return { code: EXIT.environment, lines: [`error: ${e.message}`, ...trace] };
  const errno = typeof (e as NodeJS.ErrnoException).code === "string" ? describeErrno(e as NodeJS.ErrnoException) : null;
  if (errno) return { code: errno.code, lines: [`error: ${errno.line}`, ...trace] };
  if (e instanceof RangeError && /Array buffer allocation failed|Invalid array length|Invalid typed array length/.test(e.message)) {
    return { code: EXIT.environment, lines: [`error: out of memory (${e.message}); use a smaller model, batch or context`, ...trace] };
  }
  return {
    code: EXIT.internal,
    lines: debug ? [`internal error: ${e.stack ?? e.message}`] : [`internal error: ${e.message} (run again with --debug for the stack trace, and please report it)`],
  };
}
