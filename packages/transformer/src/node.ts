// Node entry point (`@mixdepth/transformer/node`): save and load a checkpoint folder
// (config.json + model.safetensors; format in ../README.md) with Node's fs. Loading is the
// safe reader of ./model-io.ts with file checks in front: each file is opened without
// blocking (a FIFO cannot hang us), must be a regular file (not a device, FIFO or folder,
// also behind a symlink) of bounded size, and model.safetensors is read header first; its
// data is read only after the header matched the config. Saving writes a temp folder, fsyncs
// it and renames it into place, so a crash leaves the old folder or the new one.
import { closeSync, constants, existsSync, fstatSync, mkdirSync, openSync, readSync, realpathSync, renameSync, rmSync } from "node:fs";
import { fsyncDir, writeDurable } from "./atomic-write.js";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { encodeSafetensors, parseSafetensorsHeader, safetensorsHeaderLength, decodeSafetensors, type SafetensorsTensor } from "./safetensors.js";
import {
  CHECKPOINT_FORMAT,
  CheckpointError,
  checkWeightsHeader,
  checkpointLimits,
  checkpointToModel,
  parseCheckpointConfig,
  type CheckpointReadOptions,
  type ParsedCheckpoint,
} from "./model-io.js";
import { ConfigError } from "@mixdepth/core";
import type { Transformer } from "./transformer.js";
import { modelWeightShapes } from "./weight-shapes.js";

/** An open regular file of known size; close() when done. */
interface OpenFile {
  fd: number;
  size: number;
  close(): void;
}

/** How readRegularFile names the file and its limit in messages, and what it throws. */
export interface RegularFileOptions {
  /** What the file is, in "... must be a regular file" (default "a checkpoint file"). */
  what?: string;
  /** The limit's name in the too-large message (default "limits.maxBytes"). */
  limit?: string;
  /** Builds the error thrown (default: a CheckpointError with the message). */
  error?: (message: string) => Error;
}

const checkpointFile = (limit: string): Required<RegularFileOptions> => ({ what: "a checkpoint file", limit: `limits.${limit}`, error: (m) => new CheckpointError(m) });

/** Opens `path` for reading if it is a regular file of at most `maxBytes` (symlinks followed). */
function openRegular(path: string, maxBytes: number, o: Required<RegularFileOptions>): OpenFile {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat below then refuses it.
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw o.error(code === "ENOENT" ? `${path} is missing` : `${path} cannot be opened (${code ?? (e as Error).message})`);
  }
  const close = () => closeSync(fd);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      const kind = st.isDirectory() ? "a folder" : st.isFIFO() ? "a FIFO" : st.isCharacterDevice() || st.isBlockDevice() ? "a device" : st.isSocket() ? "a socket" : "not a regular file";
      throw o.error(`${path} is ${kind}; ${o.what} must be a regular file`);
    }
    if (st.size > maxBytes) throw o.error(`${path} has ${st.size} bytes, more than the limit ${maxBytes} (${o.limit})`);
    return { fd, size: st.size, close };
  } catch (e) {
    close();
    throw e;
  }
}

/** Reads exactly `length` bytes at `position` (a file that shrank is an error). */
function readExactly(f: OpenFile, path: string, position: number, length: number, error: (m: string) => Error = (m) => new CheckpointError(m)): Uint8Array {
  const out = new Uint8Array(length);
  let off = 0;
  while (off < length) {
    const n = readSync(f.fd, out, off, length - off, position + off);
    if (n === 0) throw error(`${path}: file ended after ${position + off} bytes while reading (changed while reading?)`);
    off += n;
  }
  return out;
}

/**
 * The whole of `path` if it is a regular file (symlinks followed) of at most `maxBytes`;
 * devices, FIFOs (opened without blocking), folders and larger files are refused before
 * anything is read. Throws CheckpointError, or what `options.error` builds. The one bounded
 * reader: the checkpoint loader below and the trainer's CLI (every file it reads) use it.
 * `options` as a string is the checkpoint limit's name (as before).
 */
export function readRegularFile(path: string, maxBytes: number, options: string | RegularFileOptions = "maxBytes"): Uint8Array {
  const o = typeof options === "string" ? checkpointFile(options) : { ...checkpointFile("maxBytes"), ...options };
  const f = openRegular(path, maxBytes, o);
  try {
    return readExactly(f, path, 0, f.size, o.error);
  } finally {
    f.close();
  }
}

/** checkpoints/latest.json is one small object; refuse anything larger. */
const LATEST_JSON_MAX_BYTES = 1 << 20;

/**
 * The checkpoint folder for `path`: a checkpoint folder itself (has model.safetensors), or a
 * run folder (its checkpoints/latest.json, which must name a step-N folder inside
 * checkpoints/, symlinks resolved), as the trainer writes it. The one resolver: the mixdepth
 * CLI, @mixdepth/train/node and @mixdepth/sampler/node all open a run folder here. Throws
 * CheckpointError saying what is missing.
 */
export function resolveCheckpointDir(path: string): string {
  const p = resolve(path);
  if (!existsSync(p)) throw new CheckpointError(`checkpoint: ${path} does not exist`);
  if (existsSync(join(p, "model.safetensors"))) return p;
  const latest = join(p, "checkpoints", "latest.json");
  if (!existsSync(latest)) throw new CheckpointError(`checkpoint: ${path} has neither model.safetensors nor checkpoints/latest.json (not a run or checkpoint folder)`);
  let json: { checkpoint?: unknown } | null;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(readRegularFile(latest, LATEST_JSON_MAX_BYTES, "maxBytes"))) as { checkpoint?: unknown } | null;
  } catch (e) {
    if (e instanceof CheckpointError) throw new CheckpointError(`checkpoint: ${e.message}`);
    throw new CheckpointError(`checkpoint: ${latest} is not valid JSON (truncated?): ${(e as Error).message}`);
  }
  const name = json?.checkpoint;
  if (typeof name !== "string" || !/^step-\d+$/.test(name)) {
    throw new CheckpointError(`checkpoint: ${latest}: "checkpoint" must name a step-NNNNNN folder (got ${JSON.stringify(name)}); delete latest.json or point it at a folder in ${join(p, "checkpoints")}`);
  }
  const root = join(p, "checkpoints");
  const dir = join(root, name);
  if (!existsSync(dir)) throw new CheckpointError(`checkpoint: ${latest} names ${name}, which is missing`);
  const rel = relative(realpathSync(root), realpathSync(dir));
  if (rel === "" || rel.startsWith("..") || rel.includes(sep)) {
    throw new CheckpointError(`checkpoint: ${latest} names ${name}, which resolves outside ${root}; refusing to read it`);
  }
  return dir;
}

function readConfigText(path: string, options: CheckpointReadOptions): string {
  const f = openRegular(path, checkpointLimits(options).maxConfigBytes, checkpointFile("maxConfigBytes"));
  try {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(readExactly(f, path, 0, f.size));
    } catch (e) {
      if (e instanceof CheckpointError) throw e;
      throw new CheckpointError(`${path} is not valid UTF-8`);
    }
  } finally {
    f.close();
  }
}

export interface ReadCheckpointOptions extends CheckpointReadOptions {
  /** Size and sha256 of model.safetensors recorded elsewhere (the trainer's trainer-state.json). */
  verify?: (bytes: Uint8Array, path: string) => void;
}

/**
 * Reads and checks a checkpoint folder (config.json + model.safetensors) without building a
 * model: limits, header against the config's shapes, then the data. Throws CheckpointError.
 */
export function readCheckpoint(dir: string, options: ReadCheckpointOptions = {}): ParsedCheckpoint {
  const configPath = join(dir, "config.json");
  const weightsPath = join(dir, "model.safetensors");
  const cfg = parseCheckpointConfig(readConfigText(configPath, options), { ...options, where: configPath });
  const f = openRegular(weightsPath, checkpointLimits(options).maxWeightsBytes, checkpointFile("maxWeightsBytes"));
  let bytes: Uint8Array;
  try {
    try {
      const n = safetensorsHeaderLength(readExactly(f, weightsPath, 0, Math.min(8, f.size)), f.size);
      // The header lists each tensor once (name, dtype, shape, offsets: well under 1 KiB each)
      // plus short metadata, so the config bounds it: an oversized header (an 83 MB one cost
      // 1.17 GB to parse) is refused before it is read.
      const ws = modelWeightShapes(cfg.resolved);
      const tensors = ws.shapes.size + 64 * ws.undeclaredRouterBlocks.length;
      const maxHeader = 65_536 + 1024 * tensors;
      if (n > maxHeader) throw new CheckpointError(`${weightsPath}: the safetensors header has ${n} bytes, more than the ${maxHeader} that ${tensors} tensors can need; refusing to read it`);
      const header = parseSafetensorsHeader(readExactly(f, weightsPath, 0, 8 + n), f.size);
      checkWeightsHeader(header, cfg.resolved, weightsPath);
    } catch (e) {
      if (e instanceof CheckpointError) throw e;
      throw new CheckpointError(`${weightsPath}: ${(e as Error).message}`);
    }
    // The header matched the config, so the file's size is what the model needs: read it.
    bytes = readExactly(f, weightsPath, 0, f.size);
  } finally {
    f.close();
  }
  options.verify?.(bytes, weightsPath);
  const { tensors, metadata } = decodeSafetensors(bytes);
  return { ...cfg, weights: tensors, metadata };
}

/**
 * Loads a checkpoint folder into a new Transformer after every check. Caller disposes it.
 * A model config the registry refuses (an unknown router kind: its plugin is not loaded) is a
 * CheckpointError naming config.json, like every other problem of the folder; nothing leaks.
 */
export function loadModel(dir: string, options: ReadCheckpointOptions = {}): Transformer {
  try {
    return checkpointToModel(readCheckpoint(dir, options));
  } catch (e) {
    if (e instanceof ConfigError) throw new CheckpointError(`${join(dir, "config.json")}: model.${e.message}`);
    throw e;
  }
}

/** The bytes of a checkpoint folder's two files; saveModel writes them, the trainer adds its own. */
export function checkpointFiles(model: Transformer, extra: Record<string, unknown> = {}, metadata: Record<string, string> = {}): { config: Uint8Array; weights: Uint8Array } {
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, v] of model.getWeights()) tensors.set(name, { dtype: "F32", shape: [...v.shape], data: v.dataSync() as Float32Array });
  const weights = encodeSafetensors(tensors, { format: "pt", ...metadata });
  const routerStates = model.getRouterStates();
  const json = { ...extra, format: CHECKPOINT_FORMAT, model: model.toJSON(), ...(Object.keys(routerStates).length ? { routerStates } : {}) };
  return { config: new TextEncoder().encode(JSON.stringify(json, null, 2) + "\n"), weights };
}

/**
 * Writes `model` as a checkpoint folder `dir` (config.json with `extra` fields beside
 * format, model and the routers' states when any router has one, and model.safetensors). Crash-safe: a temp folder beside `dir` is
 * written and fsynced, the old `dir` is moved aside and the temp folder renamed into place;
 * the temp folder is removed if anything fails. A crash leaves the old folder, the new one,
 * or (between the two renames) the old one as `.<name>.old-<pid>` beside it.
 * An existing `dir` must be a checkpoint folder (it has model.safetensors) or empty.
 */
export function saveModel(dir: string, model: Transformer, extra: Record<string, unknown> = {}): void {
  const { config, weights } = checkpointFiles(model, extra);
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true });
  const tmp = join(parent, `.${basename(dir)}.tmp-${process.pid}`);
  const old = join(parent, `.${basename(dir)}.old-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    mkdirSync(tmp);
    writeDurable(join(tmp, "model.safetensors"), weights);
    writeDurable(join(tmp, "config.json"), config);
    fsyncDir(tmp);
    if (existsSync(dir)) {
      if (!existsSync(join(dir, "model.safetensors"))) {
        try {
          renameSync(tmp, dir); // succeeds only when dir is an empty folder
        } catch {
          throw new CheckpointError(`${dir} exists and is not a checkpoint folder; refusing to replace it`);
        }
        fsyncDir(parent);
        return;
      }
      // A folder cannot be renamed over a non-empty one: move the old one aside first.
      renameSync(dir, old);
    }
    renameSync(tmp, dir);
    fsyncDir(parent);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(old, { recursive: true, force: true });
  }
}

export { fsyncDir, writeAtomic, writeDurable } from "./atomic-write.js";
export { CHECKPOINT_FORMAT, CHECKPOINT_LIMITS, CheckpointError, checkpointToModel, parseCheckpoint } from "./model-io.js";
export type { CheckpointLimits, CheckpointReadOptions, ParsedCheckpoint } from "./model-io.js";
