// modelWeightShapes is what the Transformer allocates, for every family and router kind, so a
// loader that checks files against it cannot disagree with the model.
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { expectNoLeaks } from "@mixdepth/vitest-config/tf";
import type { ModelConfig } from "@mixdepth/core";
import { createTransformer, modelWeightShapes } from "./index.js";
import { registerTestRouters } from "../test/helpers.js";

const base: ModelConfig = { vocabSize: 11, dModel: 8, nHeads: 2, nLayers: 3, contextLength: 8 };
const configs: [string, ModelConfig][] = [
  ["llama dense", { ...base, routing: { blocks: "none" } }],
  ["gpt2 learned + predictor", { ...base, family: "gpt2", routing: { blocks: "every-other", capacity: 0.5 } }],
  ["llama learned, no predictor, untied", { ...base, tieEmbeddings: false, routing: { blocks: [0, 2], predictor: null, auxLoss: null } }],
  ["gpt2 stochastic", { ...base, family: "gpt2", routing: { blocks: "every-other", router: "stochastic", predictor: null } }],
  ["llama predictor hidden 3", { ...base, routing: { blocks: [1], predictor: { hidden: 3 } } }],
];

describe("modelWeightShapes", () => {
  it.each(configs)("%s: equals the model's weights, names and order", async (_name, config) => {
    await expectNoLeaks(() => {
      const model = createTransformer(config);
      const { shapes, undeclaredRouterBlocks } = modelWeightShapes(config);
      expect([...shapes]).toEqual([...model.weightShapes()]);
      expect(undeclaredRouterBlocks).toEqual([]);
      model.dispose();
    });
  });

  it("allocates nothing, even for a config far larger than memory", () => {
    const before = tf.memory().numBytes;
    // Within MODEL_LIMITS, 16.4e9 floats (65 GB) in the embedding alone.
    const { shapes } = modelWeightShapes({ vocabSize: 1_000_000, dModel: 16_384, nHeads: 32, nLayers: 2, contextLength: 8 });
    expect(shapes.get("tok_emb")).toEqual([1_000_000, 16_384]);
    expect(tf.memory().numBytes).toBe(before);
  });

  it("names routed blocks whose router kind declared no shapes", () => {
    registerTestRouters();
    const { shapes, undeclaredRouterBlocks } = modelWeightShapes({ ...base, routing: { blocks: [1], router: "ones", predictor: null } });
    expect(undeclaredRouterBlocks).toEqual([1]);
    expect([...shapes.keys()].some((n) => n.includes("router"))).toBe(false);
  });
});
