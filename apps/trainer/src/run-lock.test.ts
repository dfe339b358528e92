// The run-folder lock: a second writer is refused with a message naming the owner; a lock
// left by a killed process is detected by its pid and replaced.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { lockRunDir, RunLockedError } from "./run-lock.js";

describe("lockRunDir", () => {
  it("refuses a second writer while the first holds the lock, and frees it on release", () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-lock-"));
    const release = lockRunDir(dir);
    // Another live process owns it (our parent stands in for a second trainer).
    writeFileSync(join(dir, ".lock"), JSON.stringify({ pid: process.ppid, host: hostname(), started: "t0" }));
    expect(() => lockRunDir(dir)).toThrow(RunLockedError);
    expect(() => lockRunDir(dir)).toThrow(new RegExp(`in use by another trainer \\(process ${process.ppid}, since t0\\); wait for it to finish, stop it, or choose another --out`));
    writeFileSync(join(dir, ".lock"), JSON.stringify({ pid: process.pid, host: hostname(), started: "t0" }));
    release();
    expect(existsSync(join(dir, ".lock"))).toBe(false);
  });

  it("replaces a stale lock whose process is gone (SIGKILL)", () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-lock-"));
    const dead = spawnSync("node", ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString();
    writeFileSync(join(dir, ".lock"), JSON.stringify({ pid: Number(dead), host: hostname(), started: "t0" }));
    const notes: string[] = [];
    const release = lockRunDir(dir, (m) => notes.push(m));
    expect(notes[0]).toMatch(new RegExp(`removed a stale lock of process ${dead}`));
    expect(JSON.parse(readFileSync(join(dir, ".lock"), "utf8")).pid).toBe(process.pid);
    release();
  });

  it("never breaks a lock from another host", () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-lock-"));
    writeFileSync(join(dir, ".lock"), JSON.stringify({ pid: 1, host: "elsewhere", started: "t0" }));
    expect(() => lockRunDir(dir)).toThrow(/locked by process 1 on host elsewhere/);
  });
});
