// One writer per run folder. Two trainers on one folder would interleave checkpoints and
// metrics into a run that can no longer be resumed, so train() holds `<run>/.lock` while it
// runs: created with O_EXCL (atomic), holding the owner's pid and host. A lock whose process
// is gone (SIGKILL, power loss) is stale: it is detected by pid and replaced. A lock from
// another host cannot be checked and is reported, never broken.
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

/** The run folder is locked by a live process (the CLI exits with code 4). */
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

function readLock(path: string): LockInfo | null {
  try {
    const j = JSON.parse(readFileSync(path, "utf8")) as Partial<LockInfo>;
    return typeof j.pid === "number" && typeof j.host === "string" ? { pid: j.pid, host: j.host, started: String(j.started ?? "?") } : null;
  } catch {
    return null; // torn or empty: its writer died between open and write
  }
}

/**
 * Takes the run folder's lock or throws RunLockedError naming the owner. Returns release(),
 * which removes the lock (call it in a finally). `onStale` hears about a replaced stale lock.
 */
export function lockRunDir(runDir: string, onStale: (msg: string) => void = () => {}): () => void {
  const path = join(runDir, ".lock");
  const me: LockInfo = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, "wx");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const owner = readLock(path);
      if (owner && owner.host !== me.host) {
        throw new RunLockedError(`${runDir} is locked by process ${owner.pid} on host ${owner.host} (since ${owner.started}); if that run is over, delete ${path}`);
      }
      if (owner && owner.pid !== me.pid && alive(owner.pid)) {
        throw new RunLockedError(`${runDir} is in use by another trainer (process ${owner.pid}, since ${owner.started}); wait for it to finish, stop it, or choose another --out`);
      }
      onStale(`removed a stale lock of process ${owner?.pid ?? "unknown"} (no longer running) in ${runDir}`);
      rmSync(path, { force: true });
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(me) + "\n");
    } finally {
      closeSync(fd);
    }
    return () => {
      if (readLock(path)?.pid === me.pid) rmSync(path, { force: true });
    };
  }
  throw new RunLockedError(`${runDir}: could not take ${path} (another process keeps creating it)`);
}
