// Data parallelism over worker threads (Node only: @mixdepth/train/node): one training step on
// several cores (issue 11 item 3).
// wasm's own threads (XNNPACK) gave only 1.14x on a training step, because most of a step is
// batched/small matmuls and elementwise kernels that XNNPACK does not spread. Here N ranks
// (this thread = rank 0, plus N-1 worker_threads, each with its own single-threaded tfjs
// backend and its own model replica) each compute the loss and gradients of a contiguous
// block of the batch's rows. Protocol per call of step():
//   1. rank 0 copies its current weights into one SharedArrayBuffer (fixed name order);
//   2. it posts each worker its rows; each worker loads the weights and computes its block,
//      writes its gradients into its own SharedArrayBuffer and replies with lm, aux;
//   3. meanwhile rank 0 computes its own block, then waits for every reply;
//   4. the gradients and losses are combined as sum_r rows_r * g_r / B, summed in rank order
//      (0, 1, ...), so the result is the same from run to run; trainStep (./train-step.ts)
//      then clips and applies AdamW as with one rank: pass `(b, rows, s, o) => dp.step(b, rows, s, o)`
//      as its lossAndGrads. The losses equal one rank's within float noise: lm and every
//      auxiliary loss are means over the batch's tokens, and top-k routing is per sequence.
// Router state (a custom router's calibrated threshold, the stochastic router's random
// stream) is rank 0's: each worker takes rank 0's states at the start of every call, and
// what it changes is dropped. So a run is deterministic and resumes exactly for a given
// number of ranks, and a checkpoint saves the one state there is. What differs from 1 rank:
// a router that calibrates on its batch sees rank 0's rows only, and a router that draws
// random numbers draws the same numbers in every rank's block (the same stream position).
// With one rank step() is the single-thread path, unchanged: no worker, no copy.
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs-core";
import type { ModelConfig } from "@mixdepth/core";
import type { Transformer } from "@mixdepth/transformer";
import type { Batch } from "./batcher.js";
import { lossAndGrads, poolRouting, type LossOptions, type MicroBatchResult } from "./train-step.js";
import type { CausalAgreement } from "@mixdepth/transformer";

/** `training.workers`: a positive integer, or "auto". */
export type WorkersSetting = number | "auto";

/** "auto" never uses more ranks than this: past it the per-rank batch gets too small to pay. */
export const MAX_AUTO_RANKS = 4;

/** What "auto" looks at: the cores and the other work on them (the 1-minute load average). */
export interface MachineLoad {
  /** os.availableParallelism(). */
  cores: number;
  /** os.loadavg()[0]: runnable tasks, averaged over a minute; null where the OS has none (Windows reports 0s). */
  load: number | null;
}

/** This machine now: its cores and 1-minute load average (null on Windows, which has none). */
export function machineLoad(): MachineLoad {
  return { cores: availableParallelism(), load: process.platform === "win32" ? null : (loadavg()[0] ?? null) };
}

/**
 * The number of ranks a run uses, and why, in words for the start-of-run line. The one place
 * that decides it. "auto": the cores that are free, cores minus the 1-minute load average
 * rounded to the nearest whole core (at least 1, at most {@link MAX_AUTO_RANKS}): a data-parallel
 * step waits for its slowest rank, and a rank on a core another job keeps busy makes 2 ranks
 * slower than 1 (measured at load 6-7 on 2 cores: 531-743 ms/step on 2 ranks against 453-537 on
 * 1); where the OS reports no load, the cores. Any setting is capped at the batch size (a rank
 * needs at least one row). The native "tensorflow" backend is multithreaded already (and its
 * addon is not loaded in worker threads): 1 rank. `machine` is this machine unless given (tests).
 */
export function resolveRanks(setting: WorkersSetting, { batchSize, backend, machine }: { batchSize: number; backend: string; machine?: MachineLoad }): { ranks: number; why: string } {
  const what = `training.workers ${JSON.stringify(setting)}`;
  if (backend === "tensorflow") return { ranks: 1, why: `${what}; the native tensorflow backend uses every core itself` };
  let wanted: number;
  let auto = "";
  if (setting === "auto") {
    const { cores, load } = machine ?? machineLoad();
    const usable = Math.min(cores, MAX_AUTO_RANKS);
    if (load === null) {
      wanted = usable;
      auto = ` = ${usable} cores (at most ${MAX_AUTO_RANKS}; no load average on this OS)`;
    } else {
      const free = Math.max(0, cores - load);
      wanted = Math.max(1, Math.min(usable, Math.round(free)));
      const busy = wanted < usable ? (wanted === 1 ? `: the other core${cores > 2 ? "s are" : " is"} busy` : `: ${cores - wanted} of them busy`) : "";
      auto = `: load ${load.toFixed(1)} on ${cores} cores, ${free.toFixed(1)} free${busy}${wanted === MAX_AUTO_RANKS && cores > MAX_AUTO_RANKS ? ` (at most ${MAX_AUTO_RANKS})` : ""}`;
    }
  } else wanted = setting;
  const ranks = Math.max(1, Math.min(wanted, batchSize));
  const capped = ranks < wanted ? `, capped at training.batchSize ${batchSize}` : "";
  return { ranks, why: `${what}${auto}${capped}` };
}

/** Rows of each rank for a batch of `batchSize` rows: contiguous blocks, the first ones one row larger. */
export function splitRows(batchSize: number, ranks: number): number[] {
  const base = Math.floor(batchSize / ranks);
  return Array.from({ length: ranks }, (_, r) => base + (r < batchSize % ranks ? 1 : 0));
}

/** Test hooks (the trainer's TrainFaults pass them on); leave unset. */
export interface DataParallelFaults {
  /** Every worker throws while computing its block of this call of step() (1-based). */
  workerThrowAtCall?: number;
}

export interface DataParallelOptions {
  /** Ranks (this thread included); see {@link resolveRanks}. */
  ranks: number;
  /** The model's config, as given to createTransformer. */
  config: ModelConfig;
  /** Model seed of the replicas (their weights and router states are rank 0's at every call). */
  seed: number;
  /** The tfjs backend each worker loads with @mixdepth/backend's setupBackend ("wasm" or "cpu"): the one this thread runs on. */
  backend: string;
  /** Router plugin module specifiers (paths absolute or package names), loaded in every worker by loadPlugins (./plugins.ts). */
  plugins?: readonly string[];
  faults?: DataParallelFaults;
}

/** What a worker receives as workerData. */
export interface WorkerInit {
  rank: number;
  config: ModelConfig;
  seed: number;
  backend: string;
  plugins: string[];
  cwd: string;
  /** Every weight (model.getWeights() order): name, shape; values in `weights`. */
  weightLayout: [string, number[]][];
  weights: SharedArrayBuffer;
  /** Trainable weights (gradient order): name, size; values in `grads`. */
  gradLayout: [string, number][];
  grads: SharedArrayBuffer;
  faults: DataParallelFaults;
}

/** `loadWeights`: the shared buffer holds new weights (false between the micro-batches of one step: the worker's replica is current). */
export type StepRequest = { type: "step"; inputs: Int32Array; targets: Int32Array; rows: number; seqLen: number; routerStates: Record<string, unknown>; loadWeights: boolean; options: LossOptions };
export type WorkerReply =
  | { type: "ready" }
  | { type: "done"; lm: number; aux: number; blockTokens: number[]; routing: CausalAgreement[] | null; loadMs: number; computeMs: number; computeCpuMs: number }
  | { type: "error"; message: string };

/** Where step() spent its time (ms, summed over calls): what a speedup below the rank count went to. */
export interface StepTimings {
  calls: number;
  /** Calls that copied the weights to the workers (fewer than calls with gradient accumulation). */
  copies: number;
  /** Rank 0: copying its weights into the shared buffer. */
  copy: number;
  /** Rank 0: its own block. */
  own: number;
  /** Rank 0: waiting for the other ranks after its own block. */
  wait: number;
  /** Rank 0: combining the gradients and making tensors. */
  combine: number;
  /** The workers (mean over them): loading the weights, computing their block (with writing gradients). */
  workerLoad: number;
  workerCompute: number;
  /**
   * CPU time of the blocks alone (this thread's, and the workers' mean; NaN where
   * /proc/thread-self is missing): on a machine shared with other jobs the wall times above
   * stretch, these do much less, and they show each rank's work at its share of the batch.
   */
  ownCpu: number;
  workerCpu: number;
}

/** CPU time (user + system, ms) of the calling thread, from Linux's /proc/thread-self/stat (10 ms ticks); NaN elsewhere. */
export function threadCpuMs(): number {
  try {
    const stat = readFileSync("/proc/thread-self/stat", "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields from the 3rd (state) on
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in USER_HZ (100 on Linux)
  } catch {
    return Number.NaN;
  }
}

/** The timings as one line: ms per call of step(), where rank 0 and the workers spent them. */
export function describeTimings(t: StepTimings): string {
  const per = (x: number) => (x / Math.max(t.calls, 1)).toFixed(1);
  return `ms per micro-batch: rank 0 copies weights ${per(t.copy)} (${t.copies} copies in ${t.calls} micro-batches), computes its block ${per(t.own)}, waits ${per(t.wait)}, combines ${per(t.combine)}; workers load weights ${per(t.workerLoad)}, compute ${per(t.workerCompute)}; CPU time of the blocks: rank 0 ${per(t.ownCpu)}, workers ${per(t.workerCpu)}`;
}

let live = 0;
/** Worker threads started by this module and not yet exited (tests: none must remain). */
export function liveWorkers(): number {
  return live;
}

/** The worker script: beside this module when built (dist/), else the built one (this package's tests run src/). */
function workerUrl(): URL {
  for (const rel of ["./data-parallel-worker.js", "../dist/data-parallel-worker.js"]) {
    const u = new URL(rel, import.meta.url);
    if (existsSync(fileURLToPath(u))) return u;
  }
  throw new Error(`data parallel: the worker script data-parallel-worker.js is missing beside ${fileURLToPath(import.meta.url)}; run pnpm build`);
}

interface Rank {
  rank: number;
  worker: Worker;
  grads: Float32Array;
  pending: { resolve: (r: WorkerReply) => void; reject: (e: Error) => void } | null;
  failed: Error | null;
}

/**
 * The ranks of one run. Owns its worker threads: call close() in a finally.
 * step() returns tensors the caller owns.
 */
export class DataParallel {
  private closing = false;
  /** The weights' dataIds when last copied: assign() gives a variable a new dataId, so equal ids mean unchanged weights. */
  private copiedIds: unknown[] | null = null;
  readonly timings: StepTimings = { calls: 0, copies: 0, copy: 0, own: 0, wait: 0, combine: 0, workerLoad: 0, workerCompute: 0, ownCpu: 0, workerCpu: 0 };

  private constructor(
    private readonly model: Transformer,
    private readonly params: Map<string, tf.Variable>,
    private readonly others: Rank[],
    private readonly weightVars: tf.Variable[],
    private readonly weightView: Float32Array,
  ) {}

  /** This thread plus the workers. */
  get ranks(): number {
    return 1 + this.others.length;
  }

  /** Starts ranks 1..N-1 (each loads its backend, plugins and replica) and waits until all are ready. */
  static async start(model: Transformer, params: Map<string, tf.Variable>, opts: DataParallelOptions): Promise<DataParallel> {
    const all = [...model.getWeights()];
    if (opts.ranks <= 1) return new DataParallel(model, params, [], [], new Float32Array(0));
    const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
    const weightLayout = all.map(([n, v]) => [n, [...v.shape]] as [string, number[]]);
    const gradLayout = [...params].map(([n, v]) => [n, size(v.shape)] as [string, number]);
    const weights = new SharedArrayBuffer(4 * all.reduce((a, [, v]) => a + size(v.shape), 0));
    const gradFloats = gradLayout.reduce((a, [, s]) => a + s, 0);
    const url = workerUrl();
    const others: Rank[] = [];
    const dp = new DataParallel(model, params, others, all.map(([, v]) => v), new Float32Array(weights));
    try {
      for (let rank = 1; rank < opts.ranks; rank++) {
        const grads = new SharedArrayBuffer(4 * gradFloats);
        const init: WorkerInit = {
          rank,
          config: opts.config,
          seed: opts.seed,
          backend: opts.backend,
          plugins: [...(opts.plugins ?? [])],
          cwd: process.cwd(),
          weightLayout,
          weights,
          gradLayout,
          grads,
          faults: opts.faults ?? {},
        };
        const worker = new Worker(url, { workerData: init });
        live += 1;
        const r: Rank = { rank, worker, grads: new Float32Array(grads), pending: null, failed: null };
        others.push(r);
        dp.listen(r);
      }
      await Promise.all(others.map((r) => dp.request(r, null)));
    } catch (e) {
      await dp.close();
      throw e;
    }
    return dp;
  }

  private listen(r: Rank): void {
    const fail = (e: Error) => {
      if (this.closing) return;
      const err = Object.assign(new Error(`data parallel: rank ${r.rank} (worker thread) failed: ${e.message} (--workers 1 trains without worker threads)`), { name: "WorkerFailedError" });
      r.failed ??= err;
      const p = r.pending;
      r.pending = null;
      p?.reject(err);
    };
    r.worker.on("message", (m: WorkerReply) => {
      if (m.type === "error") return fail(new Error(m.message));
      const p = r.pending;
      r.pending = null;
      p?.resolve(m);
    });
    r.worker.on("error", (e: Error) => fail(e));
    r.worker.on("exit", (code) => {
      live -= 1;
      fail(new Error(`the thread exited (code ${code})`));
    });
  }

  /** Posts `msg` (null: just wait for the ready message) and resolves with the rank's reply. */
  private request(r: Rank, msg: StepRequest | null): Promise<WorkerReply> {
    if (r.failed) return Promise.reject(r.failed);
    return new Promise<WorkerReply>((resolve, reject) => {
      r.pending = { resolve, reject };
      if (msg) r.worker.postMessage(msg);
    });
  }

  /**
   * Loss and gradients of one batch of `batchSize` rows, split over the ranks, combined in rank
   * order. Returns lm and aux (means over the batch) and the gradients by weight name (caller
   * owns them). Throws if a rank fails; the caller then closes this object.
   */
  async step(batch: Batch, batchSize: number, seqLen: number, options: LossOptions = {}): Promise<MicroBatchResult> {
    if (this.others.length === 0) return lossAndGrads(this.model, this.params, batch, batchSize, seqLen, options);
    const rows = splitRows(batchSize, this.ranks);
    const tm = this.timings;
    let t0 = performance.now();
    // 1. weights: one readback per weight into the shared buffer, before any worker starts;
    //    skipped while no weight was assigned since the last copy (the micro-batches of a step).
    const ids = this.copiedIds;
    const loadWeights = ids === null || this.weightVars.some((v, i) => v.dataId !== ids[i]);
    let off = 0;
    if (loadWeights) {
      for (const v of this.weightVars) {
        const d = v.dataSync() as Float32Array;
        this.weightView.set(d, off);
        off += d.length;
      }
      this.copiedIds = this.weightVars.map((v) => v.dataId);
      tm.copies += 1;
    }
    let t1 = performance.now();
    tm.copy += t1 - t0;
    // 2. the other ranks' blocks (copies: the message owns them), with rank 0's router states
    //    as they stand before its own block changes them.
    const routerStates = this.model.getRouterStates();
    const starts = rows.map((_, r) => rows.slice(0, r).reduce((a, b) => a + b, 0));
    const replies = this.others.map((o) => {
      const a = (starts[o.rank] as number) * seqLen;
      const n = (rows[o.rank] as number) * seqLen;
      return this.request(o, { type: "step", inputs: batch.inputs.slice(a, a + n), targets: batch.targets.slice(a, a + n), rows: rows[o.rank] as number, seqLen, routerStates, loadWeights, options });
    });
    // Until all replies are in, a rejection is handled here, never reported as unhandled.
    const settled = Promise.allSettled(replies);
    // 3. rank 0's block, while the workers compute theirs.
    const n0 = (rows[0] as number) * seqLen;
    let own: MicroBatchResult;
    const cpu0 = threadCpuMs();
    try {
      own = lossAndGrads(this.model, this.params, { inputs: batch.inputs.subarray(0, n0), targets: batch.targets.subarray(0, n0) }, rows[0] as number, seqLen, options);
    } catch (e) {
      await settled;
      throw e;
    }
    tm.ownCpu += threadCpuMs() - cpu0;
    t0 = performance.now();
    tm.own += t0 - t1;
    const results = await settled;
    t1 = performance.now();
    tm.wait += t1 - t0;
    const bad = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (bad) {
      tf.dispose([...own.grads.values()]);
      throw bad.reason as Error;
    }
    const done = results.map((r) => (r as PromiseFulfilledResult<WorkerReply>).value as Extract<WorkerReply, { type: "done" }>);
    // 4. combine in rank order: sum_r rows_r / B * value_r.
    const w = rows.map((n) => n / batchSize);
    let lm = (w[0] as number) * own.lm;
    let aux = (w[0] as number) * own.aux;
    done.forEach((d, i) => {
      lm += (w[i + 1] as number) * d.lm;
      aux += (w[i + 1] as number) * d.aux;
    });
    // On the backend's own kernels (SIMD on wasm): a JS loop over the values measured slower.
    const grads = new Map<string, tf.Tensor>();
    off = 0;
    for (const [name, g0] of own.grads) {
      const size = g0.size;
      const at = off;
      grads.set(
        name,
        tf.tidy(() => {
          let sum = tf.mul(g0, w[0] as number);
          this.others.forEach((o, k) => {
            sum = tf.add(sum, tf.mul(tf.tensor(o.grads.slice(at, at + size), g0.shape, "float32"), w[k + 1] as number));
          });
          return sum;
        }),
      );
      off += size;
    }
    tf.dispose([...own.grads.values()]);
    tm.calls += 1;
    tm.combine += performance.now() - t1;
    for (const d of done) {
      tm.workerLoad += d.loadMs / done.length;
      tm.workerCompute += d.computeMs / done.length;
      tm.workerCpu += d.computeCpuMs / done.length;
    }
    const passes = [...(own.passes ?? []), ...done.map((d, i) => ({ rows: rows[i + 1] as number, blockTokens: d.blockTokens }))];
    const routing = own.routing ? { routing: poolRouting([own.routing, ...done.map((d) => d.routing ?? [])]) } : {};
    return { lm, aux, grads, passes, ...routing };
  }

  /** Terminates every worker and waits until they are gone. Safe to call twice. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.others.map((r) => r.worker.terminate()));
    this.others.length = 0;
  }
}
