import { describe, expect, it } from "vitest";
import { describeError, EXIT, UsageError } from "./errors.js";

const errno = (code: string, path: string) => Object.assign(new Error(`${code}: failed, open '${path}'`), { code, path });
const named = (name: string, message: string) => Object.assign(new Error(message), { name });

describe("describeError", () => {
  it("maps each kind of error to its documented exit code and one line, no stack", () => {
    const cases: [unknown, number, RegExp][] = [
      [new UsageError("--prompt: must not be empty"), EXIT.input, /^error: --prompt: must not be empty$/],
      [named("CheckpointError", "checkpoint: x is missing"), 2, /^error: checkpoint: x is missing$/],
      [named("DataError", "--data: t.txt is not valid UTF-8 text"), 2, /not valid UTF-8/],
      [named("NonFiniteError", "the loss is NaN at step 3"), 3, /step 3/],
      [named("RunLockedError", "runs/x is in use"), 1, /in use/],
      [errno("ENOSPC", "runs/x/checkpoints/.step-000004.tmp-1/model.safetensors"), 1, /^error: the disk is full \(writing runs\/x\/checkpoints\/.*\); free some space and run the same command again/],
      [errno("EROFS", "/ro/run"), 1, /^error: \/ro\/run is on a read-only file system; choose another output folder \(--out\)$/],
      [errno("EACCES", "/root/x"), 1, /no permission to write \/root\/x/],
      [new TypeError("x is undefined"), EXIT.internal, /^internal error: x is undefined \(run again with --debug for the stack trace/],
    ];
    for (const [err, code, line] of cases) {
      const r = describeError(err, false);
      expect(r.code).toBe(code);
      expect(r.lines).toHaveLength(1);
      expect(r.lines[0]).toMatch(line);
      expect(r.lines[0]).not.toMatch(/\n\s+at /);
    }
  });

  it("terminal escapes quoted from files (latest.json, config.json) are made visible, never sent raw", () => {
    const r = describeError(named("CheckpointError", 'checkpoint: latest.json names "\u001b]0;pwned\u0007\u009b2J"'), false);
    expect(r.code).toBe(2);
    expect(r.lines[0]).toBe('error: checkpoint: latest.json names "\\u001b]0;pwned\\u0007\\u009b2J"');
    expect(describeError(new TypeError("\u001b[2J"), false).lines[0]).not.toContain("\u001b");
  });

  it("adds the stack trace only with --debug", () => {
    const r = describeError(named("DataError", "bad"), true);
    expect(r.lines[1]).toMatch(/\n\s+at /);
  });
});
