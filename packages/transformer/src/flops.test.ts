// The FLOPs accounting must equal, exactly, the matmul FLOPs the model executes (docs/method.md
// section 7). The kernel trace of tf.profile() on cpu lists every kernel with its shapes.
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, useBackend } from "@mixdepth/vitest-config/tf";
import { resolveModelConfig, type ModelConfig } from "@mixdepth/core";
import { registerBuiltinRouters, routerCost } from "@mixdepth/router";
import { denseCounterpart, forwardFlops } from "@mixdepth/flops-accounting";
import { createTransformer, kernelMatmulFlops } from "./index.js";

const base = { vocabSize: 13, dModel: 16, nHeads: 4, nLayers: 4, contextLength: 16 } as const;
const configs: [string, ModelConfig][] = [
  ["gpt2 dense", { ...base, family: "gpt2" }],
  ["gpt2 MoD (every other, 0.25, aux + predictor)", { ...base, family: "gpt2", routing: { blocks: "every-other", capacity: 0.25 } }],
  ["llama dense, untied head", { ...base, family: "llama", tieEmbeddings: false }],
  ["llama MoD (all, 0.5, no predictor)", { ...base, family: "llama", routing: { blocks: "all", capacity: 0.5, predictor: null } }],
  ["gpt2 MoD stochastic router", { ...base, family: "gpt2", routing: { blocks: [0, 3], capacity: 0.125, router: "stochastic", predictor: null, auxLoss: null } }],
];

describe("kernel-trace matmul FLOPs on cpu", () => {
  beforeAll(() => {
    useBackend("cpu");
    registerBuiltinRouters();
  });

  it.each(configs)("%s: equals forwardFlops exactly (full and short sequences)", async (_name, config) => {
    const model = createTransformer(config, { seed: 1 });
    for (const [batch, seqLen] of [
      [2, 16],
      [1, 11],
    ] as const) {
      const x = tf.tensor2d(Array.from({ length: batch * seqLen }, (_, i) => (i * 7) % 13), [batch, seqLen], "int32");
      await expectNoLeaks(async () => {
        const profile = await tf.profile(() => {
          const out = model.forward(x, { trace: false });
          tf.dispose([out.logits, ...Object.values(out.auxLosses)]);
        });
        const executed = kernelMatmulFlops(profile.kernels);
        // Each kind's declared cost (the stochastic control declares none).
        const expected = forwardFlops(config, { seqLen, routerCost: routerCost(resolveModelConfig(config)) });
        expect(executed.kernels).toBeGreaterThan(0);
        expect(executed.total).toBe(batch * expected.total);
        if (config.routing) expect(executed.total).toBeLessThan(batch * forwardFlops(denseCounterpart(config), { seqLen }).total);
      });
      x.dispose();
    }
    model.dispose();
  });
});

describe("kernel-trace FLOPs of the routing options on cpu", () => {
  beforeAll(() => {
    useBackend("cpu");
    registerBuiltinRouters();
  });

  it("a capacity warm-up's step and threshold training (measured by blockTokens) equal the executed kernels", async () => {
    const warm: ModelConfig = { ...base, family: "gpt2", routing: { blocks: "every-other", capacity: 0.25, capacityWarmup: { steps: 4 } } };
    const thr: ModelConfig = { ...base, family: "llama", routing: { blocks: "all", capacity: 0.25, train: "threshold", threshold: 0.5 } };
    const x = tf.tensor2d(Array.from({ length: 2 * 16 }, (_, i) => (i * 7) % 13), [2, 16], "int32");
    for (const [config, step] of [[warm, 0], [warm, 2], [warm, 9], [thr, undefined]] as const) {
      const model = createTransformer(config, { seed: 3 });
      let blockTokens: number[] = [];
      await expectNoLeaks(async () => {
        const profile = await tf.profile(() => {
          const out = model.forward(x, step === undefined ? {} : { step });
          blockTokens = out.blockTokens;
          tf.dispose([out.logits, ...Object.values(out.auxLosses)]);
        });
        const executed = kernelMatmulFlops(profile.kernels).total;
        const cost = routerCost(resolveModelConfig(config));
        if (step !== undefined) expect(executed, `step ${step}`).toBe(2 * forwardFlops(config, { step, routerCost: cost }).total);
        expect(executed).toBe(2 * forwardFlops(config, { blockTokens, routerCost: cost }).total);
      });
      if (step === 0) expect(blockTokens).toEqual([16, 16, 16, 16]); // capacity 1 at the warm-up's first step
      if (step === 9) expect(blockTokens).toEqual([16, 4, 16, 4]);
      if (step === undefined) expect(blockTokens.some((t) => t > 0 && t < 16), "threshold routing picked some, not all").toBe(true);
      model.dispose();
    }
    x.dispose();
  });
});
