// Byte-level tokenizer: id i is the UTF-8 byte i (vocab 256). Any text encodes, nothing is
// out of vocabulary, and bits per byte equals bits per token. Its id map is written into the
// checkpoint's config.json so the model can be used without the trainer.
import type { Tokenizer } from "./tokenizer.js";
import { Utf8Stream } from "./utf8-stream.js";

const IDENTITY = Array.from({ length: 256 }, (_, i) => i);

const isByte = (id: number) => Number.isInteger(id) && id >= 0 && id < 256;

export function byteTokenizer(): Tokenizer {
  return {
    kind: "byte",
    vocabSize: 256,
    id: "byte-v1",
    encode: (text) => Int32Array.from(new TextEncoder().encode(text)),
    // A model whose vocabulary is larger than 256 may emit the extra ids: they are not text.
    decode: (ids) => new TextDecoder("utf-8").decode(Uint8Array.from(Array.from(ids).filter(isByte))),
    tokenBytes: (id) => (isByte(id) ? [id] : []),
    bytesPerToken: () => 1,
    decoder: () => {
      const utf8 = new Utf8Stream();
      return { push: (id) => (isByte(id) ? utf8.push([id]) : ""), flush: () => utf8.flush() };
    },
    toJSON: () => ({ type: "byte", vocabSize: 256, encoding: "utf-8", idToByte: [...IDENTITY] }),
  };
}
