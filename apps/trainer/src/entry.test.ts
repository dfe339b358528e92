import { execFile } from "node:child_process";
import { mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { cli } from "./cli-test-helpers.js";
import { isEntryModule } from "./entry.js";

describe("isEntryModule", () => {
  it("is true for the file itself and for a symlink to it, false for another file", () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-entry-"));
    const file = join(dir, "cli.js");
    writeFileSync(file, "");
    symlinkSync(file, join(dir, "mixdepth"));
    writeFileSync(join(dir, "other.js"), "");
    const url = pathToFileURL(file).href;
    expect(isEntryModule(url, file)).toBe(true);
    expect(isEntryModule(url, join(dir, "mixdepth"))).toBe(true);
    expect(isEntryModule(url, join(dir, "other.js"))).toBe(false);
    expect(isEntryModule(url, join(dir, "missing"))).toBe(false);
    expect(isEntryModule(url, undefined)).toBe(false);
  });

  it("the built CLI answers --version through a symlinked bin, as an installed one is started", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-bin-"));
    const bin = join(dir, "mixdepth");
    symlinkSync(cli, bin);
    const { stdout } = await promisify(execFile)("node", [bin, "--version"]);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
