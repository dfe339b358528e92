// model.safetensors from a user's file, read the way @mixdepth/transformer's safe reader
// wants (pure, no fs: it runs in the browser): size limit first, then the 8-byte length and
// the header alone (Blob.slice), checked against the config's weight shapes, and only then
// the data. A config that claims a huge model with a tiny file is refused before anything
// is allocated.
import {
  CheckpointError,
  checkWeightsHeader,
  checkpointLimits,
  parseSafetensorsHeader,
  safetensorsHeaderLength,
  type CheckpointReadOptions,
} from "@mixdepth/transformer";
import type { ResolvedModelConfig } from "@mixdepth/core";

/** What the demo needs of a File: its size and byte ranges. */
export interface BlobLike {
  readonly size: number;
  slice(start?: number, end?: number): { arrayBuffer(): Promise<ArrayBuffer> };
}

const bytesOf = async (b: BlobLike, start: number, end: number) => new Uint8Array(await b.slice(start, end).arrayBuffer());

/**
 * The bytes of a weights file whose header matches `config` (names, F32, shapes), read
 * header first. Throws CheckpointError naming the file and what is wrong.
 */
export async function readCheckedWeights(file: BlobLike, config: ResolvedModelConfig, where: string, options: CheckpointReadOptions = {}): Promise<Uint8Array> {
  const max = checkpointLimits(options).maxWeightsBytes;
  if (file.size > max) throw new CheckpointError(`${where}: ${file.size} bytes exceed the ${max}-byte limit`);
  try {
    const n = safetensorsHeaderLength(await bytesOf(file, 0, Math.min(8, file.size)), file.size);
    checkWeightsHeader(parseSafetensorsHeader(await bytesOf(file, 0, 8 + n), file.size), config, where);
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    throw new CheckpointError(`${where}: ${(e as Error).message}`);
  }
  return bytesOf(file, 0, file.size);
}
