// `mixdepth sample` reads a checkpoint's tokenizer with @mixdepth/text's one reader, as the
// demo does: a checkpoint the library's saveModel wrote (no tokenizer field, vocabSize 256)
// is byte-level and samples (it used to exit 70, "internal error"); one whose tokenizer cannot
// be known is an input error naming the field (exit 2).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createTransformer } from "@mixdepth/transformer";
import { saveModel } from "@mixdepth/transformer/node";
import { run } from "./cli-test-helpers.js";

function saved(vocabSize: number): string {
  const dir = join(mkdtempSync(join(tmpdir(), "mixdepth-sample-")), "ck");
  const model = createTransformer({ vocabSize, dModel: 8, nHeads: 2, nLayers: 2, contextLength: 16, routing: { blocks: [1], capacity: 0.5 } }, { seed: 1 });
  saveModel(dir, model, { description: "saveModel, no tokenizer" });
  model.dispose();
  return dir;
}

describe("mixdepth sample on a saveModel checkpoint", () => {
  it("reads the absent tokenizer field as bytes (vocabSize 256) and samples", async () => {
    const r = await run(["sample", saved(256), "--backend", "cpu", "-n", "6", "--prompt", "ab", "-t", "0"]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/checkpoint: .*ck \(step unknown; saveModel, no tokenizer\)\nab/);
    expect(r.stdout).toMatch(/\n6 tokens in /);
  });

  it("refuses an absent field for any other vocabulary, naming it (exit 2)", async () => {
    const r = await run(["sample", saved(300), "--backend", "cpu", "-n", "2", "--prompt", "ab"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: config\.json tokenizer: absent, and the model's vocabSize is 300; without a "tokenizer" field a checkpoint is read as bytes only when vocabSize is 256/);
  });
});
