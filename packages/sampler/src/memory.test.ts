import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { expectNoLeaks } from "@mixdepth/vitest-config/tf";
import { CachedDecoder } from "./decoder.js";
import { tinyModel, tokenIds } from "../test/models.js";

describe("memory over a long decode (cpu)", () => {
  it("500 decode steps: live tensors = model + cache + one logits, and nothing after dispose", async () => {
    await expectNoLeaks(() => {
      const model = tinyModel("gpt2", { blocks: "every-other", capacity: 0.25 }, 3, { dModel: 4, nHeads: 1, nLayers: 2, contextLength: 512, vocabSize: 7 });
      const modelTensors = tf.memory().numTensors;
      const dec = new CachedDecoder(model);
      let out = dec.prefill(tokenIds(3, 1, 7));
      const tokens = tokenIds(500, 2, 7);
      for (let i = 0; i < 500; i++) {
        const next = dec.step(tokens[i] as number);
        out.logits.dispose();
        out = next;
        if (i % 50 === 0 || i === 499) expect(tf.memory().numTensors - modelTensors).toBe(dec.cache.numTensors + 1);
      }
      expect(dec.cache.length(0)).toBe(503); // dense block: every token
      expect(dec.cache.length(1)).toBeLessThan(503); // routed block: only routed tokens
      out.logits.dispose();
      dec.dispose();
      expect(dec.cache.numTensors).toBe(0);
      expect(tf.memory().numTensors).toBe(modelTensors);
      model.dispose();
    });
  });
});
