// Resumable train state (Node only: @mixdepth/train/node): the trainer's checkpoint folders.
// Library users resume exactly as the mixdepth CLI does, without it. A run folder holds checkpoints/step-NNNNNN/ folders and checkpoints/latest.json
// naming the newest complete one. Each checkpoint folder has:
//   model.safetensors        weights by name (what @mixdepth/transformer's getWeights returns)
//   config.json              { model: ModelConfig, tokenizer, ... }: enough to rebuild the model
//                            with fromWeights(config.model, weights), no trainer needed
//   trainer-state.safetensors optimizer moments m.<name>, v.<name>
//   trainer-state.json       step, RNG states (data, routers), data position, hashes and sizes of the two
//                            safetensors files, and a fingerprint of the run's config
// Saving writes a temp folder (every file fsynced), renames it into place, then atomically
// rewrites latest.json. A crash at any point leaves latest.json naming the previous,
// complete checkpoint. This file format is a contract (the PyTorch twin reads and writes it):
// change it only with a new CHECKPOINT_FORMAT.
// saveTrainState / restoreTrainState take and restore the live objects (weights, AdamW
// moments and step, the batch RNG, router states); saveCheckpoint / loadCheckpoint are the
// same on host arrays.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { CHECKPOINT_FORMAT, CheckpointError, decodeSafetensors, encodeSafetensors, type ParsedCheckpoint, type SafetensorsTensor, type Transformer } from "@mixdepth/transformer";
import { fsyncDir, readCheckpoint, readRegularFile, resolveCheckpointDir, writeAtomic, writeDurable } from "@mixdepth/transformer/node";
import type { ModelConfig } from "@mixdepth/core";
import type { AdamW } from "./adamw.js";
import type { TokenizerJSON } from "@mixdepth/text";
import { NonFiniteError } from "./train-step.js";

// The format constant and the error class are @mixdepth/transformer's: one reader, one set of checks.

/** trainer-state.safetensors holds two moments per weight; refuse anything much larger. */
const maxOptimizerBytes = (weightsBytes: number) => 2 * weightsBytes + (1 << 20);
/** JSON files of a checkpoint (trainer-state.json, latest.json). */
const MAX_JSON_BYTES = 1 << 20;

export interface CheckpointConfigJSON {
  format: typeof CHECKPOINT_FORMAT;
  model: ModelConfig;
  tokenizer: TokenizerJSON;
  trained: boolean;
  description: string;
  step: number;
  /** Routers' non-weight state by block (restored by @mixdepth/transformer's checkpointToModel for eval and sample). */
  routerStates?: Record<string, unknown>;
}

export interface TrainerStateJSON {
  format: typeof CHECKPOINT_FORMAT;
  step: number;
  /** Batch sampler RNG state (the data position: windows are drawn from it). */
  rngState: number;
  /** Routers' non-weight state by block ("blocks.3": the stochastic router's random stream). */
  routerStates?: Record<string, unknown>;
  /** Optimizer steps taken (bias-correction t). */
  optimizerStep: number;
  tokensSeen: number;
  trainingFlops: number;
  /** Fingerprint of everything that must not change across a resume. */
  fingerprint: string;
  files: Record<string, { bytes: number; sha256: string }>;
}

export interface CheckpointData {
  step: number;
  weights: Map<string, Float32Array>;
  shapes: Map<string, number[]>;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
  state: Omit<TrainerStateJSON, "format" | "files">;
  config: Omit<CheckpointConfigJSON, "format">;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function toTensors(values: Map<string, Float32Array>, shapes: Map<string, number[]>, prefix = ""): Map<string, SafetensorsTensor> {
  const out = new Map<string, SafetensorsTensor>();
  for (const [name, data] of values) out.set(prefix + name, { dtype: "F32", shape: shapes.get(name) ?? [data.length], data });
  return out;
}

export const stepDirName = (step: number) => `step-${String(step).padStart(6, "0")}`;

/**
 * Writes a checkpoint under `runDir/checkpoints/` and points latest.json at it. Keeps the
 * previous checkpoint too (a second line of defence) and deletes older ones. Returns its folder.
 */
export function saveCheckpoint(runDir: string, data: CheckpointData): string {
  const root = join(runDir, "checkpoints");
  mkdirSync(root, { recursive: true });
  const name = stepDirName(data.step);
  const final = join(root, name);
  const tmp = join(root, `.${name}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  const model = encodeSafetensors(toTensors(data.weights, data.shapes), { format: "pt", producer: "mixdepth-trainer", step: String(data.step) });
  const opt = encodeSafetensors(new Map([...toTensors(data.m, data.shapes, "m."), ...toTensors(data.v, data.shapes, "v.")]), { step: String(data.step) });
  const config: CheckpointConfigJSON = { format: CHECKPOINT_FORMAT, ...data.config };
  const state: TrainerStateJSON = {
    format: CHECKPOINT_FORMAT,
    ...data.state,
    files: {
      "model.safetensors": { bytes: model.length, sha256: sha256(model) },
      "trainer-state.safetensors": { bytes: opt.length, sha256: sha256(opt) },
    },
  };
  try {
    writeDurable(join(tmp, "model.safetensors"), model);
    writeDurable(join(tmp, "trainer-state.safetensors"), opt);
    writeDurable(join(tmp, "config.json"), JSON.stringify(config, null, 2) + "\n");
    // Written last: its presence and hashes vouch for the files above.
    writeDurable(join(tmp, "trainer-state.json"), JSON.stringify(state, null, 2) + "\n");
    fsyncDir(tmp);
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
  } catch (e) {
    // Disk full, read-only, ...: no half-written temp folder stays behind; latest.json still
    // names the previous complete checkpoint.
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  fsyncDir(root);
  writeAtomic(join(root, "latest.json"), JSON.stringify({ checkpoint: name, step: data.step }) + "\n");
  // Keep the newest two complete checkpoints; drop older ones and stale temp folders.
  const keep = new Set([name]);
  const older = readdirSync(root)
    .filter((f) => /^step-\d+$/.test(f) && f !== name)
    .sort()
    .reverse();
  if (older[0]) keep.add(older[0]);
  for (const f of readdirSync(root)) {
    if ((/^step-\d+$/.test(f) && !keep.has(f)) || (f.startsWith(".step-") && f.includes(".tmp-"))) rmSync(join(root, f), { recursive: true, force: true });
  }
  return final;
}

function readJson<T>(path: string): T {
  if (!existsSync(path)) throw new CheckpointError(`checkpoint: ${path} is missing`);
  const bytes = readRegularFile(path, MAX_JSON_BYTES);
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new CheckpointError(`checkpoint: ${path} is not valid JSON (truncated?): ${(e as Error).message}`);
  }
  // `null` or a list would fail later as a TypeError (exit 70): name the file instead.
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new CheckpointError(`checkpoint: ${path} must hold a JSON object (got ${JSON.stringify(v)?.slice(0, 40)})`);
  return v as T;
}

/** trainer-state.json's `files`, each of `names` with a byte count and a sha256, or a CheckpointError naming what is missing. */
function recordedFiles(state: Partial<TrainerStateJSON>, path: string, names: string[]): Record<string, { bytes: number; sha256: string }> {
  const files = state.files as unknown;
  if (files === null || typeof files !== "object") throw new CheckpointError(`checkpoint: ${path} records no files (their sizes and sha256); it cannot vouch for the checkpoint (truncated or hand-edited?)`);
  const f = files as Record<string, { bytes?: unknown; sha256?: unknown } | undefined>;
  for (const n of names) {
    const e = f[n];
    if (!e || !Number.isSafeInteger(e.bytes) || typeof e.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(e.sha256)) {
      throw new CheckpointError(`checkpoint: ${path}: files["${n}"] must record its bytes and sha256 (got ${JSON.stringify(e)?.slice(0, 80)})`);
    }
  }
  return f as Record<string, { bytes: number; sha256: string }>;
}

/** Throws unless `bytes` have the size and sha256 that trainer-state.json recorded. */
function verifyRecorded(bytes: Uint8Array, path: string, expect: { bytes: number; sha256: string } | undefined): void {
  if (!expect) return;
  if (bytes.length !== expect.bytes) {
    throw new CheckpointError(`checkpoint: ${path} has ${bytes.length} bytes, trainer-state.json recorded ${expect.bytes} (truncated or replaced)`);
  }
  if (sha256(bytes) !== expect.sha256) throw new CheckpointError(`checkpoint: ${path} does not match the sha256 in trainer-state.json (corrupted or replaced)`);
}

function readTensors(path: string, maxBytes: number, expect?: { bytes: number; sha256: string }): Map<string, SafetensorsTensor> {
  if (!existsSync(path)) throw new CheckpointError(`checkpoint: ${path} is missing`);
  const bytes = readRegularFile(path, maxBytes);
  verifyRecorded(bytes, path, expect);
  try {
    return decodeSafetensors(bytes).tensors;
  } catch (e) {
    throw new CheckpointError(`checkpoint: ${path}: ${(e as Error).message}`);
  }
}

export interface ModelCheckpoint {
  dir: string;
  config: CheckpointConfigJSON;
  /** Checked against config.model (names, F32, shapes) before the data was read. */
  parsed: ParsedCheckpoint;
  weights: Map<string, SafetensorsTensor>;
}

/**
 * Model weights and config.json only (for eval/sample): no trainer state needed. Read with
 * @mixdepth/transformer's safe reader (limits, header against config, then data), plus the
 * size and sha256 that trainer-state.json recorded, when it exists.
 */
export function loadModelCheckpoint(path: string): ModelCheckpoint {
  const dir = resolveCheckpointDir(path);
  const stateFile = join(dir, "trainer-state.json");
  // A checkpoint written by saveModel alone has no trainer-state.json; one that has it must
  // record what it vouches for (a state without `files` used to skip the sha256 check).
  const files = existsSync(stateFile) ? recordedFiles(readJson<Partial<TrainerStateJSON>>(stateFile), stateFile, ["model.safetensors"]) : undefined;
  let parsed: ParsedCheckpoint;
  try {
    parsed = readCheckpoint(dir, { verify: (bytes, p) => verifyRecorded(bytes, p, files?.["model.safetensors"]) });
  } catch (e) {
    if (e instanceof CheckpointError && !e.message.startsWith("checkpoint: ")) throw new CheckpointError(`checkpoint: ${e.message}`);
    throw e;
  }
  const config = parsed.json as unknown as CheckpointConfigJSON;
  if (config.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(`checkpoint: ${join(dir, "config.json")} is not a ${CHECKPOINT_FORMAT} config (format ${JSON.stringify(config.format)})`);
  }
  return { dir, config, parsed, weights: parsed.weights };
}

/**
 * Everything needed to resume. Checks sizes and hashes, and that the weights have exactly
 * `expectedShapes` and the run's `fingerprint`; each mismatch is a CheckpointError naming it.
 */
export function loadCheckpoint(path: string, expectedShapes: Map<string, number[]>, fingerprint: string): CheckpointData & { dir: string } {
  const dir = resolveCheckpointDir(path);
  const state = readJson<TrainerStateJSON>(join(dir, "trainer-state.json"));
  if (state.format !== CHECKPOINT_FORMAT) throw new CheckpointError(`checkpoint: ${dir}: unknown format ${JSON.stringify(state.format)}`);
  if (state.fingerprint !== fingerprint) {
    throw new CheckpointError(`checkpoint: ${dir} was written by a run with a different model/training/data config; resume needs the same config`);
  }
  const { config, weights: modelTensors } = loadModelCheckpoint(dir);
  const files = recordedFiles(state, join(dir, "trainer-state.json"), ["model.safetensors", "trainer-state.safetensors"]);
  const modelBytes = files["model.safetensors"]?.bytes ?? 0;
  const optTensors = readTensors(join(dir, "trainer-state.safetensors"), maxOptimizerBytes(modelBytes), files["trainer-state.safetensors"]);
  const weights = new Map<string, Float32Array>();
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  for (const [name, shape] of expectedShapes) {
    const check = (t: SafetensorsTensor | undefined, what: string): Float32Array => {
      if (!t) throw new CheckpointError(`checkpoint: ${dir}: ${what} "${name}" is missing`);
      if (t.dtype !== "F32" || t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i])) {
        throw new CheckpointError(`checkpoint: ${dir}: ${what} "${name}" is ${t.dtype} [${t.shape.join(", ")}], the model expects F32 [${shape.join(", ")}]`);
      }
      return t.data as Float32Array;
    };
    weights.set(name, check(modelTensors.get(name), "weight"));
    m.set(name, check(optTensors.get(`m.${name}`), "optimizer moment m of"));
    v.set(name, check(optTensors.get(`v.${name}`), "optimizer moment v of"));
  }
  const extra = [...modelTensors.keys()].filter((n) => !expectedShapes.has(n));
  if (extra.length) throw new CheckpointError(`checkpoint: ${dir}: unexpected weights ${extra.slice(0, 5).join(", ")}`);
  const { format: _f, files: _files, ...rest } = state;
  void _f;
  void _files;
  const { format: _cf, ...cfg } = config;
  void _cf;
  return { dir, step: state.step, weights, shapes: expectedShapes, m, v, state: rest, config: cfg };
}

/** Latest checkpoint step of a run folder, or null when it has none. */
export function latestStep(runDir: string): number | null {
  try {
    const d = resolveCheckpointDir(runDir);
    return statSync(d).isDirectory() ? readJson<TrainerStateJSON>(join(d, "trainer-state.json")).step : null;
  } catch {
    return null;
  }
}

/** Name of the first array holding a non-finite value, or null. */
function firstNonFinite(arrays: Iterable<[string, Float32Array]>): string | null {
  for (const [name, a] of arrays) {
    for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i] as number)) return name;
  }
  return null;
}

/** The live objects a checkpoint saves and a resume restores. */
export interface TrainStateParts {
  model: Transformer;
  optimizer: AdamW;
  /** The batch sampler's generator (a Mulberry32): its state is the data position. */
  rng: { state: number };
}

/** What a checkpoint records beside the live objects. */
export interface TrainStateInfo {
  /** Steps taken. */
  step: number;
  tokensSeen: number;
  trainingFlops: number;
  /** Of everything a resume must agree with (the caller decides what: the CLI hashes its config). */
  fingerprint: string;
  /** config.json's fields beside format, step and routerStates: the model config as given to createTransformer, the tokenizer, ... */
  config: Omit<CheckpointConfigJSON, "format" | "step" | "routerStates">;
}

/**
 * Saves the run's state as checkpoint `info.step` under `runDir/checkpoints/` (see
 * saveCheckpoint). Refuses, with a NonFiniteError and nothing written, state that holds a
 * non-finite weight or moment: a checkpoint must stay trainable and sampleable.
 */
export function saveTrainState(runDir: string, parts: TrainStateParts, info: TrainStateInfo): string {
  const { model, optimizer, rng } = parts;
  const weights = new Map([...model.getWeights()].map(([n, v]) => [n, v.dataSync() as Float32Array]));
  const st = optimizer.getState();
  const bad = firstNonFinite([...weights, ...st.m, ...st.v]);
  if (bad) throw new NonFiniteError(info.step, `"${bad}" holds a non-finite value`, "; no checkpoint was written");
  const routerStates = model.getRouterStates();
  return saveCheckpoint(runDir, {
    step: info.step,
    weights,
    shapes: model.weightShapes(),
    m: st.m,
    v: st.v,
    state: { step: info.step, rngState: rng.state, routerStates, optimizerStep: st.step, tokensSeen: info.tokensSeen, trainingFlops: info.trainingFlops, fingerprint: info.fingerprint },
    config: { ...info.config, step: info.step, routerStates },
  });
}

/**
 * Restores the newest checkpoint of `path` (a run or checkpoint folder) into the live
 * objects: weights, optimizer moments and step, the batch RNG, router states. Checks
 * everything loadCheckpoint does, and refuses (CheckpointError) a checkpoint holding a
 * non-finite value. Returns its folder, its step and the rest of trainer-state.json.
 */
export function restoreTrainState(path: string, parts: TrainStateParts, fingerprint: string): { dir: string; step: number; state: CheckpointData["state"] } {
  const { model, optimizer, rng } = parts;
  const ck = loadCheckpoint(path, model.weightShapes(), fingerprint);
  const prefixed = (p: string, m: Map<string, Float32Array>) => [...m].map(([n, a]) => [`${p}.${n}`, a] as [string, Float32Array]);
  const bad = firstNonFinite([...ck.weights, ...prefixed("m", ck.m), ...prefixed("v", ck.v)]);
  if (bad) throw new CheckpointError(`checkpoint: ${ck.dir} holds non-finite values in "${bad}"; it cannot be resumed (delete it and point checkpoints/latest.json at an earlier step folder)`);
  const loaded = new Map([...ck.weights].map(([n, d]) => [n, tf.tensor(d, ck.shapes.get(n))]));
  try {
    model.setWeights(loaded); // copies the values
  } finally {
    tf.dispose([...loaded.values()]);
  }
  optimizer.setState({ step: ck.state.optimizerStep, m: ck.m, v: ck.v });
  rng.state = ck.state.rngState;
  model.setRouterStates(ck.state.routerStates ?? {});
  return { dir: ck.dir, step: ck.step, state: ck.state };
}
