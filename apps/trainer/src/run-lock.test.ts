// The run-folder lock: a second writer is refused with a message naming the owner; a lock
// left by a killed process, or whose pid now names another process, is replaced; an empty
// lock is never broken. The race between two starting trainers: run-lock.race.test.ts.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { lockRunDir, processStartTime, RunLockedError } from "./run-lock.js";

/** The pid of a process that has exited. */
const deadPid = () => Number(spawnSync("node", ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString());

describe("lockRunDir", () => {
  it("refuses a second writer while the first holds the lock, and frees it on release", () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-lock-"));
    const release = lockRunDir(dir);
    // Another live process owns it (our parent stands in for a second trainer).
    writeFileSync(join(dir, ".lock"), JSON.stringify({ pid: process.ppid, host: hostname(), started: "t0" }));
    expect(() => lockRunDir(dir)).toThrow(RunLockedError);
    expect(() => lockRunDir(dir)).toThrow(new RegExp(`in use by another trainer \\(process ${process.ppid}, since t0\\); wait for it to finish, stop it, or choose another --out`));
    // release() removes only its own lock, never one that replaced it.
    release();
    expect(existsSync(join(dir, ".lock"))).toBe(true);
    rmSync(join(dir, ".lock"));
    const again = lockRunDir(dir);
    expect(readdirSync(dir)).toEqual([".lock"]); // the temp file is gone
    again();
    expect(existsSync(join(dir, ".lock"))).toBe(false);
  });

  it("the lock is never empty: it holds the pid, host, process start time and a nonce", () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-lock-"));
    const release = lockRunDir(dir);
    const info = JSON.parse(readFileSync(join(dir, ".lock"), "utf8"));
    expect(info).toMatchObject({ pid: process.pid, host: hostname(), procStart: processStartTime(process.pid) });
    expect(info.nonce).toMatch(/^[0-9a-f]{24}$/);
    release();
  });

  it("an empty or unreadable lock is refused, not taken as stale (its writer may be about to fill it)", () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-lock-"));
    writeFileSync(join(dir, ".lock"), "");
    expect(() => lockRunDir(dir)).toThrow(/\.lock is not a mixdepth lock .*if no trainer is running on .*, delete it/);
    expect(readFileSync(join(dir, ".lock"), "utf8")).toBe("");
  });

  it("a lock whose pid now belongs to another process is stale (start time differs)", () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-lock-"));
    // Our parent is alive, but it is not the process that wrote this lock.
    writeFileSync(join(dir, ".lock"), JSON.stringify({ pid: process.ppid, host: hostname(), started: "t0", procStart: "1", nonce: "abc" }));
    const notes: string[] = [];
    const release = lockRunDir(dir, (m) => notes.push(m));
    expect(notes[0]).toMatch(new RegExp(`removed a stale lock of process ${process.ppid} \\(its pid now belongs to another process\\)`));
    release();
    // With the right start time it is live.
    writeFileSync(join(dir, ".lock"), JSON.stringify({ pid: process.ppid, host: hostname(), started: "t0", procStart: processStartTime(process.ppid), nonce: "abc" }));
    expect(() => lockRunDir(dir)).toThrow(/in use by another trainer/);
  });

  it("a taker that died holding the claim on a stale lock leaves it refused, never double-taken", () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-lock-"));
    writeFileSync(join(dir, ".lock"), JSON.stringify({ pid: deadPid(), host: hostname(), started: "t0", nonce: "0a1b" }));
    writeFileSync(join(dir, ".lock.claim-0a1b"), "");
    expect(() => lockRunDir(dir)).toThrow(/a stale lock is being taken over by another process .*delete .*\.lock and .*\.lock\.claim-0a1b/);
    rmSync(join(dir, ".lock.claim-0a1b"));
    lockRunDir(dir)();
  });

  it("replaces a stale lock whose process is gone (SIGKILL)", () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-lock-"));
    const dead = deadPid();
    writeFileSync(join(dir, ".lock"), JSON.stringify({ pid: Number(dead), host: hostname(), started: "t0" }));
    const notes: string[] = [];
    const release = lockRunDir(dir, (m) => notes.push(m));
    expect(notes[0]).toMatch(new RegExp(`removed a stale lock of process ${dead} \\(no longer running\\)`));
    expect(JSON.parse(readFileSync(join(dir, ".lock"), "utf8")).pid).toBe(process.pid);
    release();
    expect(readdirSync(dir)).toEqual([]); // no claim or temp file left
  });

  it("never breaks a lock from another host", () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-lock-"));
    writeFileSync(join(dir, ".lock"), JSON.stringify({ pid: 1, host: "elsewhere", started: "t0" }));
    expect(() => lockRunDir(dir)).toThrow(/locked by process 1 on host elsewhere/);
  });
});
