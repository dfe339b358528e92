// The one reader of a checkpoint's "tokenizer" field: every rule of the README, each refusal
// naming the field and quoting the value.
import { describe, expect, it } from "vitest";
import { byteTokenizer } from "./byte-tokenizer.js";
import { tableTokenizer } from "./table-tokenizer.js";
import { TokenizerError } from "./tokenizer.js";
import { tokenizerFromJSON } from "./tokenizer-json.js";

const identity = Array.from({ length: 256 }, (_, i) => i);

describe("tokenizerFromJSON", () => {
  it("reads back what each tokenizer writes", () => {
    const bytes = tokenizerFromJSON(JSON.parse(JSON.stringify(byteTokenizer().toJSON())), 256);
    expect([bytes.kind, bytes.id]).toEqual(["byte", "byte-v1"]);
    const table = tableTokenizer(["x", "y", "xy"]);
    const back = tokenizerFromJSON(JSON.parse(JSON.stringify(table.toJSON())), 3);
    expect([back.kind, back.id, Array.from(back.encode("xyx"))]).toEqual(["table", table.id, [2, 0]]);
  });

  it("no field: bytes when the model's vocabSize is 256 (a checkpoint of the library's saveModel), else an error", () => {
    expect(tokenizerFromJSON(undefined, 256).kind).toBe("byte");
    expect(tokenizerFromJSON(null, 256).kind).toBe("byte");
    expect(() => tokenizerFromJSON(undefined, 300)).toThrow(TokenizerError);
    expect(() => tokenizerFromJSON(undefined, 300)).toThrow(/config\.json tokenizer: absent, and the model's vocabSize is 300; without a "tokenizer" field a checkpoint is read as bytes only when vocabSize is 256/);
  });

  it("an explicit byte tokenizer fits a model with 256 or more tokens", () => {
    expect(tokenizerFromJSON({ type: "byte" }, 256).vocabSize).toBe(256);
    expect(tokenizerFromJSON({ type: "byte", vocabSize: 256, encoding: "utf-8", idToByte: identity }, 300).vocabSize).toBe(256);
    expect(() => tokenizerFromJSON({ type: "byte" }, 100)).toThrow(/config\.json tokenizer: has 256 tokens, more than the model's vocabSize 100/);
  });

  it("refuses what it cannot read, naming the field and quoting the value", () => {
    const cases: [unknown, number, RegExp][] = [
      ["byte", 256, /tokenizer: expected an object like \{"type": "byte"\} \(got "byte"\)/],
      [{ type: "bpe", vocabSize: 50257 }, 50257, /tokenizer: type: unknown tokenizer "bpe" \(known: "byte", "table"\)/],
      [{ vocab: ["x"] }, 1, /tokenizer: type: unknown tokenizer undefined/],
      [{ type: "byte", vocabSize: 512 }, 512, /tokenizer: vocabSize: a byte tokenizer has 256 tokens \(got 512\)/],
      [{ type: "byte", encoding: "latin-1" }, 256, /tokenizer: encoding: must be "utf-8" \(got "latin-1"\)/],
      [{ type: "byte", idToByte: [1, 0, ...identity.slice(2)] }, 256, /tokenizer: idToByte: must be the identity map of 256 bytes \(got \[1,0,2,/],
      [{ type: "table", vocab: "xy" }, 2, /tokenizer: vocab: must be a list of strings \(got "xy"\)/],
      [{ type: "table", vocab: ["x", 3] }, 2, /tokenizer: vocab\[1\] must be a non-empty string \(got 3\)/],
      [{ type: "table", vocab: ["x", "y", "z"] }, 2, /tokenizer: has 3 tokens, more than the model's vocabSize 2/],
    ];
    for (const [field, vocab, message] of cases) {
      expect(() => tokenizerFromJSON(field, vocab), JSON.stringify(field)).toThrow(TokenizerError);
      expect(() => tokenizerFromJSON(field, vocab), JSON.stringify(field)).toThrow(message);
    }
  });
});
