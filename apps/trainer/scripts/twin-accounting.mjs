#!/usr/bin/env node
// The parameter and FLOPs counts of a training config, from @mixdepth/flops-accounting (the one
// place that counts them), for the PyTorch twin's metrics and trainer state when it runs without
// `mixdepth train --engine torch` (which passes the same numbers itself: engine-torch.ts).
// stdin: {"model": ModelConfig, "training": {batchSize, seqLen, gradAccum}}; stdout: JSON
// {paramCount, flopsPerStep, forwardFlopsPerSequence}.
import { readFileSync } from "node:fs";
import { resolveModelConfig } from "@mixdepth/core";
import { flopsPerStep, forwardFlops, paramCounts } from "@mixdepth/flops-accounting";
import { registerBuiltinRouters, routerCost } from "@mixdepth/router";

const { model, training: t } = JSON.parse(readFileSync(0, "utf8"));
registerBuiltinRouters();
const m = resolveModelConfig(model);
const cost = routerCost(m);
const out = {
  paramCount: paramCounts(m, { routerCost: cost }).total,
  flopsPerStep: flopsPerStep(m, { batchSize: t.batchSize, seqLen: t.seqLen, gradAccum: t.gradAccum, routerCost: cost }),
  forwardFlopsPerSequence: forwardFlops(m, { seqLen: t.seqLen, routerCost: cost }).total,
};
process.stdout.write(JSON.stringify(out) + "\n");
