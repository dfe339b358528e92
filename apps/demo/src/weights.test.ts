// The demo reads a user's weights file header first: a config claiming a huge model is
// refused after reading only the header, and integer tensors are refused as weights.
import { describe, expect, it } from "vitest";
import { encodeSafetensors, modelWeightShapes, type SafetensorsTensor } from "@mixdepth/transformer";
import { resolveModelConfig, type ModelConfig } from "@mixdepth/core";
import { parseCheckpointConfig } from "./checkpoint.js";
import { readCheckedWeights, type BlobLike } from "./weights.js";

const model: ModelConfig = { vocabSize: 256, dModel: 8, nHeads: 2, nLayers: 2, contextLength: 16 };

function weightsFile(config: ModelConfig, change?: (t: Map<string, SafetensorsTensor>) => void): Uint8Array {
  const t = new Map<string, SafetensorsTensor>();
  for (const [n, s] of modelWeightShapes(config).shapes) t.set(n, { dtype: "F32", shape: s, data: new Float32Array(s.reduce((a, b) => a * b, 1)) });
  change?.(t);
  return encodeSafetensors(t);
}

/** A Blob over `bytes` that records every range read. */
function blob(bytes: Uint8Array): BlobLike & { reads: [number, number][] } {
  const reads: [number, number][] = [];
  return {
    size: bytes.length,
    reads,
    slice(start = 0, end = bytes.length) {
      reads.push([start, end]);
      return { arrayBuffer: async () => bytes.slice(start, end).buffer };
    },
  };
}

describe("readCheckedWeights", () => {
  it("reads the whole file after the header matched", async () => {
    const bytes = weightsFile(model);
    const f = blob(bytes);
    expect(await readCheckedWeights(f, resolveModelConfig(model), "model.safetensors")).toEqual(bytes);
    expect(f.reads.at(-1)).toEqual([0, bytes.length]);
  });

  it("refuses a config claiming vocabSize 50,000,000 by its limit, and one within the limit after the header only", async () => {
    expect(() => parseCheckpointConfig({ model: { ...model, vocabSize: 50_000_000 } })).toThrow(/model\.vocabSize = 50000000 exceeds the checkpoint limit 1048576/);
    const bytes = weightsFile(model);
    const f = blob(bytes);
    await expect(readCheckedWeights(f, resolveModelConfig({ ...model, vocabSize: 1_000_000 }), "model.safetensors")).rejects.toThrow(
      /weight "tok_emb" is \[256, 8\], config\.json's model expects \[1000000, 8\]/,
    );
    expect(Math.max(...f.reads.map(([a, b]) => b - a))).toBeLessThan(bytes.length / 4); // the data was never read
  });

  it("refuses I32 tensors as weights", async () => {
    const bytes = weightsFile(model, (t) => t.set("final_norm.g", { dtype: "I32", shape: [8], data: new Int32Array(8) }));
    await expect(readCheckedWeights(blob(bytes), resolveModelConfig(model), "model.safetensors")).rejects.toThrow(/weight "final_norm\.g" is I32, weights must be F32/);
  });
});
