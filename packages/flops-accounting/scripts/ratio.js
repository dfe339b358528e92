// Prints the per-component forward FLOPs of the benchmark MoD config against its dense
// counterpart (d=256, L=8, heads 8, S=256, V=256, capacity 0.125, every other block routed).
import { denseCounterpart, forwardFlops, modVsDense, resolveModelConfig, trainingFlops } from "../dist/index.js";

const config = resolveModelConfig({
  vocabSize: 256, dModel: 256, nHeads: 8, nLayers: 8, contextLength: 256,
  routing: { blocks: "every-other", capacity: 0.125 },
});
const mod = forwardFlops(config);
const dense = forwardFlops(denseCounterpart(config));
const M = (n) => (n / 1e6).toFixed(3).padStart(10);
console.log("block  routed tokens       qkv    scores    values       out       mlp    router predictor     total   (MFLOPs)");
for (const b of mod.blocks) {
  console.log(
    `${String(b.index).padStart(5)}  ${String(b.routed).padEnd(6)} ${String(b.tokens).padStart(6)} ${M(b.qkv)}${M(b.attentionScores)}${M(b.attentionValues)}${M(b.attentionOutput)}${M(b.mlp)}${M(b.router)}${M(b.predictor)}${M(b.total)}`,
  );
}
console.log(`head ${M(mod.head)} MFLOPs`);
console.log(`forward per sequence: MoD ${M(mod.total)} MFLOPs, dense ${M(dense.total)} MFLOPs`);
const r = modVsDense(config);
console.log(`MoD/dense forward FLOPs ratio: ${r.ratio.toFixed(4)}`);
console.log(`MoD/dense training FLOPs ratio: ${(trainingFlops(config).total / trainingFlops(denseCounterpart(config)).total).toFixed(4)}`);
const noPred = resolveModelConfig({ ...config, routing: { blocks: [...config.routing.blocks], capacity: 0.125, predictor: null, causal: "threshold" } });
console.log(`MoD/dense forward FLOPs ratio without the predictor: ${modVsDense(noPred).ratio.toFixed(4)}`);
