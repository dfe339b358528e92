export { Transformer, createTransformer, fromWeights, EMBEDDING_INIT_STD } from "./transformer.js";
export type { ForwardOptions, ForwardResult, LossResult, TransformerOptions } from "./transformer.js";
export { crossEntropy } from "./loss.js";
export { embeddingLookup } from "./embedding.js";
export { kernelMatmulFlops } from "./kernel-flops.js";
export type { KernelMatmulFlops } from "./kernel-flops.js";
export { encodeSafetensors, decodeSafetensors, SafetensorsError } from "./safetensors.js";
export type { DecodedSafetensors, SafetensorsDtype, SafetensorsTensor } from "./safetensors.js";
