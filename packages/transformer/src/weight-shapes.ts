// Every weight's name and shape as a pure function of the model config: no tensors. The
// Transformer allocates its model-level weights from topLevelWeightShapes and its blocks from
// mod-block's blockWeightShapes, so these are the shapes it has (a test compares them with
// getWeights for each family and router); checkpoint loaders check a file against them before
// allocating any model.
import { blockWeightShapes } from "@mixdepth/mod-block";
import { resolveModelConfig, type ModelConfig, type ResolvedModelConfig } from "@mixdepth/core";

/** Names and shapes of the model-level weights (blocks excluded), in creation order. */
export function topLevelWeightShapes(c: ResolvedModelConfig): [string, number[]][] {
  const d = c.dModel;
  const out: [string, number[]][] = [["tok_emb", [c.vocabSize, d]]];
  if (c.family === "gpt2") out.push(["pos_emb", [c.contextLength, d]]);
  out.push(["final_norm.g", [d]]);
  if (c.family === "gpt2") out.push(["final_norm.b", [d]]);
  if (!c.tieEmbeddings) out.push(["head.w", [d, c.vocabSize]]);
  return out;
}

export interface ModelWeightShapes {
  /** Name -> shape of every weight, in Transformer.getWeights order. */
  shapes: Map<string, number[]>;
  /**
   * Routed blocks whose router kind did not declare its weight shapes (see the router
   * registry's `weightShapes`): their "blocks.<i>.router.*" weights are not in `shapes`.
   */
  undeclaredRouterBlocks: number[];
}

/** Name -> shape of every weight a Transformer of `config` has, without allocating it. */
export function modelWeightShapes(config: ModelConfig | ResolvedModelConfig): ModelWeightShapes {
  const c = "layers" in config && "mlpKind" in config ? (config as ResolvedModelConfig) : resolveModelConfig(config as ModelConfig);
  const top = topLevelWeightShapes(c);
  const shapes = new Map<string, number[]>();
  const undeclaredRouterBlocks: number[] = [];
  for (const [n, s] of top.filter(([n]) => n === "tok_emb" || n === "pos_emb")) shapes.set(n, s);
  for (let i = 0; i < c.nLayers; i++) {
    const b = blockWeightShapes(c, i);
    for (const [n, s] of b.shapes) shapes.set(`blocks.${i}.${n}`, s);
    if (!b.routerKnown) undeclaredRouterBlocks.push(i);
  }
  for (const [n, s] of top.filter(([n]) => n !== "tok_emb" && n !== "pos_emb")) shapes.set(n, s);
  return { shapes, undeclaredRouterBlocks };
}
