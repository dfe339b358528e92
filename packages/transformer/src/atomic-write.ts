// Crash-safe file writes, the one copy for every package and app: write a temporary file,
// fsync it, rename it over the target, fsync the folder. A crash at any point leaves either
// the old file or the new one, never a mix. saveModel below, @mixdepth/train/node's train
// state and the trainer's run files all write through these.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** fsyncs a folder, so that a rename or a new file inside it survives a crash. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `data` to `path` durably (fsync) without a rename: for files inside a temp folder. */
export function writeDurable(path: string, data: Uint8Array | string): void {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const fd = openSync(path, "w");
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Atomically replaces `path` with `data` (temp file + fsync + rename + fsync of the folder).
 * If anything fails (disk full, read-only), the temp file is removed and `path` is untouched.
 */
export function writeAtomic(path: string, data: Uint8Array | string): void {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  try {
    writeDurable(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dirname(path));
}
