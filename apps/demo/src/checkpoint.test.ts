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
  it("quotes the bad field", () => {
    expect(() => parseCheckpointConfig({ model: { ...model, nHeads: 3 } })).toThrow(/nHeads: must divide dModel=8 \(got 3\)/);
    expect(() => parseCheckpointConfig({ weights: 1 })).toThrow(/no model config/);
  });
  it("finds the file pair, or says what it got", () => {
    const f = (name: string) => ({ name });
    expect(pickCheckpointFiles([f("config.json"), f("model.safetensors")])).toEqual({ weights: f("model.safetensors"), config: f("config.json") });
    expect(() => pickCheckpointFiles([f("model.safetensors")])).toThrow(/got model.safetensors/);
  });
});
