// Every file the CLI reads goes through the one bounded reader: a FIFO (which would hang a
// plain read), a device (/dev/zero, which never ends), a folder and a file over its bound are
// refused with one line naming the file, before a byte is read. Oversized files are sparse
// (truncate), so the test writes almost nothing.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readConfigFile } from "./config.js";
import { loadText, MAX_TEXT_FILE_BYTES } from "./data.js";
import { readMetrics } from "./metrics.js";
import { MAX_JSON_BYTES, MAX_LOG_BYTES, readBoundedText } from "./read-file.js";
import { readDepthView, readReportMetrics } from "./report-input.js";

const dir = mkdtempSync(join(tmpdir(), "mixdepth-read-"));
const fifo = join(dir, "fifo");
spawnSync("mkfifo", [fifo]);
const zero = join(dir, "zero");
symlinkSync("/dev/zero", zero);
const folder = join(dir, "folder");
mkdirSync(folder);
const big = (name: string, bytes: number) => {
  const p = join(dir, name);
  writeFileSync(p, "");
  truncateSync(p, bytes);
  return p;
};

const depth = (p: string) => {
  const problems: string[] = [];
  readDepthView(p, problems);
  // The report leaves a bad depth.json out and says why on the page.
  if (problems.length) throw new Error(problems[0]!.replace(/; the depth view is left out$/, ""));
};

// [what, read, its bound, whether a folder is a valid input (--data reads a folder of files)]
const readers: [string, (p: string) => unknown, number, boolean][] = [
  ["--data", (p) => loadText(p), MAX_TEXT_FILE_BYTES, true],
  ["--config", (p) => readConfigFile(p), MAX_JSON_BYTES, false],
  ["metrics.jsonl", (p) => readReportMetrics(p), MAX_LOG_BYTES, false],
  ["metrics.jsonl", (p) => readMetrics(p), MAX_LOG_BYTES, false],
  ["depth.json", depth, MAX_JSON_BYTES, false],
];

describe("bounded reads", () => {
  it.each(readers.map((r, i) => [i, r[0]] as const))("reader %i (%s): a folder and a file over the bound are refused in one line", (i, what) => {
    const [, read, bound, folderOk] = readers[i]!;
    const tooBig = big(`big-${i}`, bound + 1);
    expect(() => read(tooBig)).toThrow(new RegExp(`^${what.replace(".", "\\.")}: .*big-${i} has ${bound + 1} bytes, more than the limit ${bound} \\(.*\\)$`));
    if (!folderOk) expect(() => read(folder)).toThrow(new RegExp(`^${what.replace(".", "\\.")}: .*folder is a folder; it must be a regular file`));
  });

  it.each(readers.map((r, i) => [i, r[0]] as const))("reader %i (%s): a FIFO and /dev/zero are refused unread (no hang, no endless read)", (i, what) => {
    const [, read] = readers[i]!;
    const w = what.replace(".", "\\.");
    expect(() => read(fifo)).toThrow(new RegExp(`^${w}: .*fifo is a FIFO; it must be a regular file$`));
    expect(() => read(zero)).toThrow(new RegExp(`^${w}: .*zero is a device; it must be a regular file$`));
  });

  it("reads a regular file, strict UTF-8", () => {
    const ok = join(dir, "ok.txt");
    writeFileSync(ok, "héllo");
    expect(readBoundedText(ok, 10, "x")).toBe("héllo");
    writeFileSync(ok, Buffer.from([0xff, 0xfe]));
    expect(() => readBoundedText(ok, 10, "x")).toThrow(/^x: .*ok\.txt is not valid UTF-8 text$/);
    expect(() => readBoundedText(join(dir, "none"), 10, "x")).toThrow(/^x: .*none is missing$/);
  });
});
