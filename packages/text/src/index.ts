export { byteTokenizer } from "./byte-tokenizer.js";
export { tableTokenizer } from "./table-tokenizer.js";
export { tokenizerFromJSON } from "./tokenizer-json.js";
export { tokenPieces } from "./token-pieces.js";
export { heldBackDelta, Utf8Stream } from "./utf8-stream.js";
export { TokenizerError } from "./tokenizer.js";
export type { ByteTokenizerJSON, TableTokenizerJSON, Tokenizer, TokenizerJSON, TokenizerKind, TokenStreamDecoder } from "./tokenizer.js";
