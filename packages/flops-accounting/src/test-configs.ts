// Hand-computed test configs shared by the FLOPs, parameter and planner tests. Each test file
// derives its expected numbers from these shapes in its comments.
import { resolveModelConfig, type ModelConfig } from "@mixdepth/core";
import { linearRouterCost, type RouterCost } from "./router-cost.js";

// A: dense gpt2, V=10, d=4, H=2, L=1, S=3, h=16.
export const A: ModelConfig = { family: "gpt2", vocabSize: 10, dModel: 4, nHeads: 2, nLayers: 1, contextLength: 3, mlpHidden: 16 };
// B: the benchmark MoD config: d=256, L=8, H=8, S=256, V=256, capacity 0.125 every other block
// (learned router, predictor d/2).
export const B: ModelConfig = {
  family: "gpt2", vocabSize: 256, dModel: 256, nHeads: 8, nLayers: 8, contextLength: 256,
  routing: { blocks: "every-other", capacity: 0.125 },
};
// C: llama, V=8, d=8, H=2, L=2, S=4 (h = 24), all blocks routed at capacity 0.5, no predictor.
export const C: ModelConfig = {
  vocabSize: 8, dModel: 8, nHeads: 2, nLayers: 2, contextLength: 4, family: "llama",
  routing: { blocks: "all", capacity: 0.5, predictor: null },
};
// D: gpt2, untied head, V=10, d=4, H=2, L=2, S=4, h=16, block 1 routed at 0.5 by the
// stochastic control (default predictor settings, which the stochastic router ignores).
export const D: ModelConfig = {
  family: "gpt2", vocabSize: 10, dModel: 4, nHeads: 2, nLayers: 2, contextLength: 4, tieEmbeddings: false,
  routing: { blocks: [1], capacity: 0.5, router: "stochastic" },
};
// What the stochastic control declares when registered (@mixdepth/router): no weights, no FLOPs.
export const NO_COST: RouterCost = { params: 0, flopsPerToken: 0 };
/** What the learned router declares for a config (@mixdepth/router): its linear score and predictor. */
export function learned(config: ModelConfig): { routerCost: RouterCost } {
  const r = resolveModelConfig(config);
  return { routerCost: linearRouterCost(r.dModel, r.routing.predictor) };
}
