// One writer per run folder. Two trainers on one folder would interleave checkpoints and
// metrics into a run that can no longer be resumed, so train() holds `<run>/.lock` while it
// runs. The protocol, and why each step:
// - Taking: the lock's content (pid, host, the process's start time from /proc/<pid>/stat,
//   the boot id, a random nonce) is written and fsynced to a temp file first, then link(2)ed
//   to `.lock`, which fails if `.lock` exists. So `.lock` never exists empty or half written
//   (an empty lock used to count as stale and be broken while its owner was still writing).
// - Stale: same host and the process is gone, or the pid now belongs to another process (its
//   start time differs), or the machine rebooted (boot id). A lock from another host cannot be
//   checked and is reported, never broken; a lock that does not parse is reported too.
// - Taking over a stale lock never unlinks the path: the taker first creates
//   `.lock.claim-<nonce of the stale lock>` (O_EXCL: one taker per stale lock), re-reads
//   `.lock` and, only if it still holds that same stale content, renames its own temp file
//   over it. A nonce is never reused, so once replaced a stale lock's claim can never match
//   again; a live lock is never replaced (only stale ones are claimed). A taker that dies
//   between claim and rename leaves the claim behind: the lock then stays refused, with a
//   message naming both files, rather than risking two holders.
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

/** The run folder is locked by a live process (the CLI exits with code 1). */
export class RunLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RunLockedError";
  }
}

interface LockInfo {
  pid: number;
  host: string;
  started: string;
  /** Field 22 of /proc/<pid>/stat (clock ticks after boot); null where there is no /proc. */
  procStart?: string | null;
  bootId?: string | null;
  /** Random, unique to this lock: what a takeover compares (absent in older locks). */
  nonce?: string;
}

/** The start time of process `pid` (field 22 of /proc/<pid>/stat), or null if unknown. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count from the last ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

function bootId(): string | null {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return null;
  }
}

/** True when a process with this pid exists (EPERM: it exists, owned by someone else). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The raw content of the lock file, or null if there is none. */
function readRaw(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

function parse(text: string): LockInfo | null {
  try {
    const j = JSON.parse(text) as Partial<LockInfo>;
    if (!Number.isSafeInteger(j.pid) || (j.pid as number) <= 0 || typeof j.host !== "string") return null;
    return { ...j, pid: j.pid as number, host: j.host, started: String(j.started ?? "?") };
  } catch {
    return null;
  }
}

/** Why the owner (on this host) no longer holds the lock, or null if it may still be running. */
function staleReason(owner: LockInfo, me: LockInfo): string | null {
  if (owner.bootId && me.bootId && owner.bootId !== me.bootId) return "the machine has rebooted since";
  if (!alive(owner.pid)) return "no longer running";
  const now = owner.procStart ? processStartTime(owner.pid) : null;
  if (owner.procStart && now && now !== owner.procStart) return "its pid now belongs to another process";
  return null;
}

const pause = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number) => Atomics.wait(pause, 0, 0, ms);

/**
 * Takes the run folder's lock or throws RunLockedError naming the owner. Returns release(),
 * which removes the lock if it is still this one (call it in a finally). `onStale` hears
 * about a replaced stale lock.
 */
export function lockRunDir(runDir: string, onStale: (msg: string) => void = () => {}): () => void {
  const path = join(runDir, ".lock");
  const me: LockInfo = {
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
    procStart: processStartTime(process.pid),
    bootId: bootId(),
    nonce: randomBytes(12).toString("hex"),
  };
  const mine = JSON.stringify(me) + "\n";
  const tmp = join(runDir, `.lock.${me.nonce}.tmp`);
  const fd = openSync(tmp, "wx");
  try {
    writeSync(fd, mine);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const release = () => {
    // Only a stale lock is ever replaced, and this one is live: reading then unlinking is safe.
    if (readRaw(path) === mine) unlinkSync(path);
  };
  try {
    for (let attempt = 0; attempt < 200; attempt++) {
      try {
        linkSync(tmp, path);
        return release;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      const seen = readRaw(path);
      if (seen === null) continue; // released in between: try again
      const owner = parse(seen);
      if (!owner) {
        throw new RunLockedError(`${path} is not a mixdepth lock (damaged, or written by another program); if no trainer is running on ${runDir}, delete it`);
      }
      if (owner.host !== me.host) {
        throw new RunLockedError(`${runDir} is locked by process ${owner.pid} on host ${owner.host} (since ${owner.started}); if that run is over, delete ${path}`);
      }
      const why = staleReason(owner, me);
      if (!why) {
        throw new RunLockedError(`${runDir} is in use by another trainer (process ${owner.pid}, since ${owner.started}); wait for it to finish, stop it, or choose another --out`);
      }
      const key = owner.nonce && /^[0-9a-f]{1,64}$/.test(owner.nonce) ? owner.nonce : Buffer.from(seen).toString("base64url").slice(0, 64);
      const claim = join(runDir, `.lock.claim-${key}`);
      try {
        closeSync(openSync(claim, "wx"));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        if (attempt === 199) {
          throw new RunLockedError(`${runDir}: a stale lock is being taken over by another process (${claim}); if no trainer is starting, delete ${path} and ${claim}`);
        }
        sleep(2); // another taker is replacing it: look again
        continue;
      }
      try {
        if (readRaw(path) !== seen) continue; // replaced or released meanwhile
        renameSync(tmp, path);
      } finally {
        rmSync(claim, { force: true });
      }
      onStale(`removed a stale lock of process ${owner.pid} (${why}) in ${runDir}`);
      return release;
    }
    throw new RunLockedError(`${runDir}: could not take ${path} (other processes keep taking and releasing it)`);
  } finally {
    rmSync(tmp, { force: true });
  }
}
