// The checkpoint folder format and its one safe reader, browser-safe (no fs): a folder holds
// config.json ({ format: "mixdepth-checkpoint/1", model: ModelConfig, ...free fields }) and
// model.safetensors (every weight by name, F32). A checkpoint is untrusted input, so nothing
// proportional to the config is allocated before the file is known to hold it:
//   1. config.json: a JSON object within a size limit; the model config's sizes are checked
//      against documented upper bounds (CHECKPOINT_LIMITS) before resolveModelConfig.
//   2. model.safetensors header only: every name, dtype (F32) and shape must equal what
//      modelWeightShapes(config) says, the pure function the Transformer itself builds from.
//   3. only then the data is read, decoded and the model allocated.
// The Node reader (./node.ts: saveModel, loadModel) and the demo use these functions.
import * as tf from "@tensorflow/tfjs-core";
import { MODEL_LIMITS, resolveModelConfig, type ModelConfig, type ModelLimits, type ResolvedModelConfig } from "@mixdepth/core";
import { parseSafetensorsHeader, type SafetensorsHeader, type SafetensorsTensor, decodeSafetensors } from "./safetensors.js";
import { modelWeightShapes } from "./weight-shapes.js";
import { fromWeights, type Transformer } from "./transformer.js";

export const CHECKPOINT_FORMAT = "mixdepth-checkpoint/1";

/** A checkpoint that cannot be used: unreadable, too large, or not matching its config. */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CheckpointError";
  }
}

/**
 * Upper bounds checked before anything is allocated: the files' sizes, and the model config's
 * sizes, which are @mixdepth/core's MODEL_LIMITS (the limits resolveModelConfig applies to every
 * config), so a checkpoint of any config that resolves, and so trains, is read back. Override
 * per call with `limits`: a model size can be lowered, not raised past MODEL_LIMITS
 * (resolveModelConfig still refuses it).
 */
export interface CheckpointLimits extends ModelLimits {
  /** model.safetensors size. Default 2 GiB (also about the largest single read Node allows). */
  maxWeightsBytes: number;
  /** config.json size. Default 1 MiB. */
  maxConfigBytes: number;
}

export const CHECKPOINT_LIMITS: Readonly<CheckpointLimits> = Object.freeze({
  maxWeightsBytes: 2 * 1024 ** 3,
  maxConfigBytes: 1024 ** 2,
  ...MODEL_LIMITS,
});

export interface CheckpointReadOptions {
  /** Overrides of {@link CHECKPOINT_LIMITS}. */
  limits?: Partial<CheckpointLimits>;
  /** Names the source in error messages (a folder or file name). */
  where?: string;
}

export function checkpointLimits(options: CheckpointReadOptions = {}): CheckpointLimits {
  const lim = { ...CHECKPOINT_LIMITS, ...(options.limits ?? {}) };
  // Every comparison with NaN is false: a NaN limit would silently turn its check off.
  for (const [k, v] of Object.entries(lim)) {
    if (typeof v !== "number" || Number.isNaN(v) || v < 0) throw new CheckpointError(`limits.${k} must be a number >= 0 (Infinity for none; got ${typeof v === "number" ? String(v) : JSON.stringify(v)})`);
  }
  return lim;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === "object" && !Array.isArray(x);
}

/**
 * The model config inside a config.json object: its `model` field (what saveModel and the
 * trainer write), else `config`, else the object itself when it has `vocabSize`. Checks the
 * size fields against the limits, then resolves it (ConfigError names a bad field).
 */
export function checkpointModelConfig(json: unknown, options: CheckpointReadOptions = {}): { model: ModelConfig; resolved: ResolvedModelConfig } {
  const where = options.where ?? "config.json";
  if (!isObject(json)) throw new CheckpointError(`${where}: expected a JSON object`);
  const model = isObject(json.model) ? json.model : isObject(json.config) ? json.config : "vocabSize" in json ? json : null;
  if (!model) throw new CheckpointError(`${where}: no model config (expected a "model" object or top-level "vocabSize")`);
  const lim = checkpointLimits(options);
  const bounds: [string, unknown, number, keyof CheckpointLimits][] = [
    ["vocabSize", model.vocabSize, lim.maxVocabSize, "maxVocabSize"],
    ["dModel", model.dModel, lim.maxDModel, "maxDModel"],
    ["mlpHidden", model.mlpHidden, lim.maxMlpHidden, "maxMlpHidden"],
    ["nLayers", model.nLayers, lim.maxLayers, "maxLayers"],
    ["contextLength", model.contextLength, lim.maxContextLength, "maxContextLength"],
  ];
  const routing = isObject(model.routing) ? model.routing : {};
  const predictor = isObject(routing.predictor) ? routing.predictor : {};
  bounds.push(["routing.predictor.hidden", predictor.hidden, lim.maxMlpHidden, "maxMlpHidden"]);
  for (const [field, value, max, key] of bounds) {
    if (typeof value === "number" && value > max) {
      throw new CheckpointError(`${where}: model.${field} = ${value} exceeds the checkpoint limit ${max} (limits.${key}); refusing to allocate it`);
    }
  }
  try {
    return { model: model as unknown as ModelConfig, resolved: resolveModelConfig(model as unknown as ModelConfig) };
  } catch (e) {
    throw new CheckpointError(`${where}: ${(e as Error).message}`);
  }
}

const fmtShape = (s: readonly number[]) => `[${s.join(", ")}]`;

/**
 * Checks a safetensors header against the weights a model of `config` has: every expected
 * name present as F32 with exactly the expected shape, and no other tensors. Routers whose
 * kind did not declare its shapes only get the F32 and name checks here (setWeights checks
 * their shapes after allocation). Allocates nothing.
 */
export function checkWeightsHeader(header: SafetensorsHeader, config: ModelConfig | ResolvedModelConfig, where = "model.safetensors"): void {
  const { shapes, undeclaredRouterBlocks } = modelWeightShapes(config);
  const loose = new Set(undeclaredRouterBlocks.map((i) => `blocks.${i}.router.`));
  const seen = new Set<string>();
  for (const e of header.entries) {
    const want = shapes.get(e.name);
    const looseRouter = !want && [...loose].some((p) => e.name.startsWith(p));
    if (!want && !looseRouter) {
      throw new CheckpointError(`${where}: tensor "${e.name}" is not a weight of this model (config.json's model has ${shapes.size} weights: ${[...shapes.keys()].slice(0, 6).join(", ")}, ...)`);
    }
    if (e.dtype !== "F32") throw new CheckpointError(`${where}: weight "${e.name}" is ${e.dtype}, weights must be F32`);
    if (want && (want.length !== e.shape.length || want.some((n, i) => n !== e.shape[i]))) {
      throw new CheckpointError(`${where}: weight "${e.name}" is ${fmtShape(e.shape)}, config.json's model expects ${fmtShape(want)}`);
    }
    seen.add(e.name);
  }
  const missing = [...shapes.keys()].filter((n) => !seen.has(n));
  if (missing.length) {
    const first = missing[0] as string;
    throw new CheckpointError(`${where}: weight "${first}" ${fmtShape(shapes.get(first) as number[])} is missing${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ""}`);
  }
}

/** A checkpoint whose config and weights passed every check; nothing of tfjs allocated yet. */
export interface ParsedCheckpoint {
  /** config.json as parsed (free fields such as tokenizer, description, step included). */
  json: Record<string, unknown>;
  /** The model config as stored (resolveModelConfig(model) is `resolved`). */
  model: ModelConfig;
  resolved: ResolvedModelConfig;
  /** Every weight by name, F32, shapes checked. */
  weights: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

/** config.json text (or parsed JSON) -> its model config, with the limits applied. */
export function parseCheckpointConfig(config: string | unknown, options: CheckpointReadOptions = {}): { json: Record<string, unknown>; model: ModelConfig; resolved: ResolvedModelConfig } {
  const where = options.where ?? "config.json";
  let json: unknown = config;
  if (typeof config === "string") {
    const max = checkpointLimits(options).maxConfigBytes;
    if (config.length > max) throw new CheckpointError(`${where}: ${config.length} characters exceed the ${max}-byte config limit (limits.maxConfigBytes)`);
    try {
      json = JSON.parse(config);
    } catch (e) {
      throw new CheckpointError(`${where}: not valid JSON (truncated?): ${(e as Error).message}`);
    }
  }
  const { model, resolved } = checkpointModelConfig(json, options);
  const states = (json as Record<string, unknown>).routerStates;
  if (states !== undefined && (states === null || typeof states !== "object" || Array.isArray(states))) {
    throw new CheckpointError(`${where}: routerStates must be an object by block name (got ${JSON.stringify(states)?.slice(0, 80)})`);
  }
  return { json: json as Record<string, unknown>, model, resolved };
}

/**
 * The whole check on bytes already in memory (the browser's path): config limits, then the
 * safetensors header against the config's shapes, then the data. Throws CheckpointError.
 */
export function parseCheckpoint(config: string | unknown, weightsBytes: Uint8Array, options: CheckpointReadOptions = {}): ParsedCheckpoint {
  const where = options.where ? `${options.where}/model.safetensors` : "model.safetensors";
  const cfg = parseCheckpointConfig(config, { ...options, where: options.where ? `${options.where}/config.json` : "config.json" });
  const max = checkpointLimits(options).maxWeightsBytes;
  if (weightsBytes.length > max) throw new CheckpointError(`${where}: ${weightsBytes.length} bytes exceed the ${max}-byte limit (limits.maxWeightsBytes)`);
  let header: SafetensorsHeader;
  try {
    header = parseSafetensorsHeader(weightsBytes, weightsBytes.length);
  } catch (e) {
    throw new CheckpointError(`${where}: ${(e as Error).message}`);
  }
  checkWeightsHeader(header, cfg.resolved, where);
  const { tensors, metadata } = decodeSafetensors(weightsBytes);
  return { ...cfg, weights: tensors, metadata };
}

/**
 * Builds the Transformer of a parsed checkpoint (copies the weights) and restores the router
 * states config.json carries (`routerStates`, e.g. a custom router's calibrated causal
 * threshold; saveModel writes them). Caller disposes it.
 */
export function checkpointToModel(ck: ParsedCheckpoint): Transformer {
  const tensors = new Map<string, tf.Tensor>();
  let model: Transformer;
  try {
    for (const [n, t] of ck.weights) tensors.set(n, tf.tensor(t.data, t.shape, "float32"));
    model = fromWeights(ck.model, tensors);
  } finally {
    tf.dispose([...tensors.values()]);
  }
  const states = ck.json.routerStates as Record<string, unknown> | undefined;
  if (states !== undefined) {
    try {
      model.setRouterStates(states);
    } catch (e) {
      model.dispose();
      throw new CheckpointError(`config.json: routerStates: ${(e as Error).message}`);
    }
  }
  return model;
}
