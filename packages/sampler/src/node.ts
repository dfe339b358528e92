// Node entry point (`@mixdepth/sampler/node`): the one-call loader on folders. A path is a
// checkpoint folder (config.json + model.safetensors) or a run folder of the mixdepth CLI (its
// latest checkpoint, resolved by @mixdepth/transformer/node's resolveCheckpointDir as the CLI
// does); both files are read with the checkpoint limits by the transformer's safe reader.
// URLs and in-memory sources go to the browser-safe loader of ./text-generator.ts.
import { fileURLToPath } from "node:url";
import type { CheckpointReadOptions } from "@mixdepth/transformer";
import { readCheckpoint, resolveCheckpointDir } from "@mixdepth/transformer/node";
import { loadTextGenerator as loadFromSource, textGenerator, type CheckpointSource, type TextGenerator } from "./text-generator.js";

/**
 * A generator for a run folder, a checkpoint folder (a path or a file: URL), or any source
 * the browser-safe loader takes (an http(s) URL, Files, bytes). Throws CheckpointError.
 */
export async function loadTextGenerator(source: string | CheckpointSource, options: CheckpointReadOptions = {}): Promise<TextGenerator> {
  let path: string | null = null;
  if (source instanceof URL) path = source.protocol === "file:" ? fileURLToPath(source) : null;
  else if (typeof source === "string") path = /^[a-z][a-z0-9+.-]*:\/\//i.test(source) ? (source.startsWith("file:") ? fileURLToPath(source) : null) : source;
  if (path === null) return loadFromSource(source, options);
  return textGenerator(readCheckpoint(resolveCheckpointDir(path), options));
}

export { TextGenerator, textGenerator } from "./text-generator.js";
export type { CheckpointSource, NamedBlob, TextGenerationOptions, TextGenerationResult, TextPiece } from "./text-generator.js";
