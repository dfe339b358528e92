export { CachedDecoder, ContextLengthError } from "./decoder.js";
export type { DecodeOutput, DecoderOptions, TokenRouting } from "./decoder.js";
export { KVCache, causalRoutingAgreement } from "@mixdepth/transformer";
export type { CausalAgreement } from "@mixdepth/transformer";
export { generate, generateStream } from "./generate.js";
export type { ContextOverflow, FinishReason, GenerateEvent, GenerateOptions, GenerateResult, SequenceResult } from "./generate.js";
export { composeProcessors, greedy, processedProbabilities, repetitionPenalty, temperature, topK, topP } from "./processors.js";
export type { LogitsProcessor, ProcessorContext } from "./processors.js";
export { processorsFor } from "./processors-for.js";
export type { SamplingSettings } from "./processors-for.js";
export { argmax, createRng, sampleIndex } from "./rng.js";
export type { Rng } from "./rng.js";
export { RoutingCounter } from "./stats.js";
export type { RoutedFraction } from "./stats.js";
// Types of dependencies that this package's signatures use.
export type { CausalRouting } from "@mixdepth/core";
export type { BlockVisit, TokenVisits } from "@mixdepth/transformer";
// A class is re-exported as a value: the bundled .d.ts drops `export type`, so a type-only
// re-export would promise a runtime export that the .js lacks.
export { Transformer } from "@mixdepth/transformer";
export { loadTextGenerator, TextGenerator, textGenerator } from "./text-generator.js";
export type { CheckpointSource, NamedBlob, TextGenerationOptions, TextGenerationResult, TextPiece } from "./text-generator.js";
export { CheckpointError } from "@mixdepth/transformer";
export type { CheckpointReadOptions, ParsedCheckpoint } from "@mixdepth/transformer";
export type { Tokenizer, TokenStreamDecoder, TokenizerJSON, TokenizerKind, ByteTokenizerJSON, TableTokenizerJSON } from "@mixdepth/text";
