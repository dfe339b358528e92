// Tiny seeded models and token streams shared by the sampler tests.
import * as tf from "@tensorflow/tfjs";
import type { ModelConfig, RoutingConfig } from "@mixdepth/core";
import { createTransformer, type Transformer } from "@mixdepth/transformer";

export type Family = "gpt2" | "llama";

export const VOCAB = 13;

export function tinyConfig(family: Family, routing: RoutingConfig | null, extra: Partial<ModelConfig> = {}): ModelConfig {
  return {
    vocabSize: VOCAB,
    dModel: 8,
    nHeads: 2,
    nLayers: 4,
    contextLength: 24,
    family,
    routing: routing ?? { blocks: "none" },
    ...extra,
  };
}

export const MOD: RoutingConfig = { blocks: "every-other", capacity: 0.25 };

/**
 * A tiny model whose weights are redrawn N(0, std) (gains 1 + N(0, std)), so that attention
 * and routing change the logits by far more than the 1e-4 tolerance: at the default init
 * (std 0.02) a wrong cache could hide below it.
 */
export function tinyModel(family: Family, routing: RoutingConfig | null, seed = 3, extra: Partial<ModelConfig> = {}, std = 0.4): Transformer {
  const model = createTransformer(tinyConfig(family, routing, extra), { seed });
  let a = (seed * 2654435761) >>> 0;
  const uniform = () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return (a + 0.5) / 4294967296;
  };
  const fresh = new Map<string, tf.Tensor>();
  for (const [name, v] of model.getWeights()) {
    const data = Float32Array.from({ length: v.size }, () => {
      const g = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()) * std;
      return name.endsWith(".g") ? 1 + g : g;
    });
    fresh.set(name, tf.tensor(data, v.shape));
  }
  model.setWeights(fresh);
  tf.dispose([...fresh.values()]);
  return model;
}

/** Deterministic pseudo-random token ids in [0, v). */
export function tokenIds(n: number, seed: number, v = VOCAB): number[] {
  let a = seed >>> 0;
  return Array.from({ length: n }, () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return (a >>> 8) % v;
  });
}

/** [B, S] int32 tensor of the given rows. */
export function tokenTensor(rows: number[][]): tf.Tensor2D {
  return tf.tensor2d(rows, [rows.length, rows[0]?.length ?? 0], "int32");
}
