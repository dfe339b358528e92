// A write that fails (here: disk full, ENOSPC from /dev/full) leaves the target untouched
// and no temp file behind.
import { existsSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeAtomic } from "./atomic-write.js";

describe("writeAtomic", () => {
  it.runIf(existsSync("/dev/full"))("on ENOSPC keeps the old file and removes the temp file", () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-atomic-"));
    const target = join(dir, "latest.json");
    writeFileSync(target, "old");
    // The temp file's name is fixed per process: pointing it at /dev/full makes the write fail as a full disk does.
    symlinkSync("/dev/full", join(dir, `.latest.json.tmp-${process.pid}`));
    expect(() => writeAtomic(target, "new".repeat(10_000))).toThrow(expect.objectContaining({ code: "ENOSPC" }));
    expect(readFileSync(target, "utf8")).toBe("old");
    expect(readdirSync(dir)).toEqual(["latest.json"]);
  });
});
