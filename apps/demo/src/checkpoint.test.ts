import { describe, expect, it } from "vitest";
import { parseCheckpointConfig, pickCheckpointFiles } from "./checkpoint.js";

const model = { vocabSize: 256, dModel: 8, nHeads: 2, nLayers: 2, contextLength: 16 };

describe("checkpoint config", () => {
  it("accepts {model, tokenizer} and a bare model config", () => {
    const a = parseCheckpointConfig({ model, tokenizer: { type: "byte" }, trained: false, description: "x" });
    expect(a.model).toEqual(model);
    expect(a.trained).toBe(false);
    expect(a.tokenizer.kind).toBe("byte");
    expect(parseCheckpointConfig(model).trained).toBe(true);
  });
  it("reads the tokenizer field by the one rule of @mixdepth/text (the CLI reads it the same way)", () => {
    // What saveModel writes: no tokenizer field; bytes, since vocabSize is 256.
    expect(parseCheckpointConfig({ format: "mixdepth-checkpoint/1", model }).tokenizer.kind).toBe("byte");
    // Without the field any other vocabulary would be a guess (the demo used to assume bytes).
    expect(() => parseCheckpointConfig({ model: { ...model, vocabSize: 300 } })).toThrow(/config\.json tokenizer: absent, and the model's vocabSize is 300/);
    expect(parseCheckpointConfig({ model: { ...model, vocabSize: 2 }, tokenizer: { type: "table", vocab: ["x", "y"] } }).tokenizer.kind).toBe("table");
    expect(() => parseCheckpointConfig({ model, tokenizer: { type: "bpe" } })).toThrow(/config\.json tokenizer: type: unknown tokenizer "bpe"/);
  });
  it("quotes the bad field", () => {
    expect(() => parseCheckpointConfig({ model: { ...model, nHeads: 3 } })).toThrow(/nHeads: must divide dModel=8 \(got 3\)/);
    expect(() => parseCheckpointConfig({ weights: 1 })).toThrow(/no model config/);
  });
  it("a checkpoint with a custom router kind: one line saying the demo cannot run it, and what can", () => {
    const custom = { ...model, routing: { blocks: [1], router: "l2-norm", predictor: null } };
    const err = (() => {
      try {
        parseCheckpointConfig({ model: custom });
      } catch (e) {
        return e as Error;
      }
      return null;
    })();
    expect(err?.message).toMatch(/^this checkpoint uses the custom router kind "l2-norm", and the demo runs only the built-in routers \(learned, stochastic\); sample it with `mixdepth sample <run>`/);
    expect(err?.message).not.toContain("\n");
    expect(parseCheckpointConfig({ model: { ...custom, routing: { blocks: "none", router: "l2-norm" } } }).model.routing?.router).toBe("l2-norm"); // dense: no router is built
  });

  it("finds the file pair, or says what it got", () => {
    const f = (name: string) => ({ name });
    expect(pickCheckpointFiles([f("config.json"), f("model.safetensors")])).toEqual({ weights: f("model.safetensors"), config: f("config.json") });
    expect(() => pickCheckpointFiles([f("model.safetensors")])).toThrow(/got model.safetensors/);
  });
});
