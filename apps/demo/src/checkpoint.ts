// Checkpoints as the trainer writes them: a directory with `model.safetensors` (weights by
// name) and `config.json` (architecture, routing, tokenizer). This module finds the pair in
// what the user picked or dropped, reads the config, and builds the model. Every check is
// @mixdepth/transformer's (the same reader as the CLI): config size limits, then the
// safetensors header against the config's shapes, then the data, then the model.
import { checkpointModelConfig, parseCheckpoint, type Transformer } from "@mixdepth/transformer";
import type { ModelConfig } from "@mixdepth/core";
import { tokenizerFromJSON, type Tokenizer } from "@mixdepth/text";
import { listRouters, registerBuiltinRouters } from "@mixdepth/router";
import { textGenerator } from "@mixdepth/sampler";
import { readCheckedWeights } from "./weights.js";

export interface CheckpointConfig {
  model: ModelConfig;
  tokenizer: Tokenizer;
  /** False when the config says the weights are untrained (random init). */
  trained: boolean;
  /** Free text from the config (`description`), shown beside the model. */
  description: string;
  /** Training steps behind the weights, when the config says (`step`). */
  step: number | null;
}

export interface LoadedCheckpoint extends CheckpointConfig {
  name: string;
  transformer: Transformer;
  /** Bytes of model.safetensors. */
  bytes: number;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === "object" && !Array.isArray(x);
}

/**
 * Reads config.json. The model config is the `model` (or `config`) field, or the whole
 * object when it has `vocabSize`; the tokenizer is the `tokenizer` field, read by
 * @mixdepth/text's tokenizerFromJSON (the CLI's reader: bytes when absent and vocabSize is
 * 256). Throws with the field name on anything it cannot use.
 */
export function parseCheckpointConfig(json: unknown): CheckpointConfig {
  // Limits on sizes, then resolveModelConfig: throws CheckpointError naming the field.
  const { model: modelConfig, resolved } = checkpointModelConfig(json);
  if (!isObject(json)) throw new Error("config.json: expected a JSON object");
  // A custom router kind lives in a plugin module, which a web page cannot load: say so once.
  registerBuiltinRouters();
  const kind = resolved.routing.router;
  if (resolved.routing.blocks.length > 0 && !listRouters().includes(kind)) {
    throw new Error(`this checkpoint uses the custom router kind ${JSON.stringify(kind)}, and the demo runs only the built-in routers (${listRouters().join(", ")}); sample it with \`mixdepth sample <run>\`, which loads the plugin its run.json records`);
  }
  const tokenizer = tokenizerFromJSON(json.tokenizer, resolved.vocabSize);
  const trained = json.trained !== false && json.untrained !== true;
  const description = typeof json.description === "string" ? json.description : "";
  const step = typeof json.step === "number" ? json.step : null;
  return { model: modelConfig, tokenizer, trained, description, step };
}

export interface CheckpointFiles<F> {
  weights: F;
  config: F;
}

/** Finds the (.safetensors, .json) pair among picked or dropped files; the error says what is missing. */
export function pickCheckpointFiles<F extends { name: string }>(files: readonly F[]): CheckpointFiles<F> {
  const weights = files.filter((f) => f.name.endsWith(".safetensors"));
  const configs = files.filter((f) => f.name.endsWith(".json"));
  const names = files.map((f) => f.name).join(", ") || "nothing";
  if (weights.length !== 1 || configs.length !== 1) {
    throw new Error(`a checkpoint is one .safetensors file and one .json config; got ${names}`);
  }
  return { weights: weights[0] as F, config: configs[0] as F };
}

function parseJson(configText: string): unknown {
  try {
    return JSON.parse(configText);
  } catch (err) {
    throw new Error(`config.json is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Builds the model from a config and safetensors bytes, after the library's checks (header
 * against the config before any tensor exists). Caller owns `transformer` (dispose()).
 */
export function buildCheckpoint(name: string, configText: string, weights: Uint8Array): LoadedCheckpoint {
  const json = parseJson(configText);
  const config = parseCheckpointConfig(json); // first: the page's labels, and its one-line custom-router refusal
  // @mixdepth/sampler's text generator builds the model (and checks the tokenizer fits it).
  const generator = textGenerator(parseCheckpoint(json, weights));
  return { ...config, name, transformer: generator.model, bytes: weights.byteLength };
}

/** Fetches a checkpoint directory (config.json + model.safetensors) relative to the page. */
export async function fetchCheckpoint(name: string, dir: string): Promise<LoadedCheckpoint> {
  const [config, weights] = await Promise.all([fetchOk(`${dir}/config.json`), fetchOk(`${dir}/model.safetensors`)]);
  return buildCheckpoint(name, await config.text(), new Uint8Array(await weights.arrayBuffer()));
}

/** Reads a user's checkpoint files: the config, then the weights header, then the weights. */
export async function readCheckpointFiles(name: string, files: readonly File[]): Promise<LoadedCheckpoint> {
  const pair = pickCheckpointFiles(files);
  const configText = await pair.config.text();
  const { resolved } = checkpointModelConfig(parseJson(configText));
  const weights = await readCheckedWeights(pair.weights, resolved, pair.weights.name);
  return buildCheckpoint(name, configText, weights);
}

async function fetchOk(url: string): Promise<Response> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r;
}
