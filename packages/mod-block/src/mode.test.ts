// Mixture-of-Depths-and-Experts blocks (docs/method.md section 6).
// Integrated: attention runs on every token; a token no real expert takes (its weight went to
// the no-op experts, or the experts were full) leaves the MLP exactly unchanged.
// Reduced-capacity MoE: the same without no-op experts, every expert's capacity lowered.
// Staged: the MoD router picks the tokens that enter the block (attention included), then the
// experts choose among those tokens only.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { mulberry32, resolveModelConfig, routedTokens, type ModelConfig } from "@mixdepth/core";
import { expectNoLeaks, maxAbsDiff, testBackends, useBackend } from "@mixdepth/vitest-config/tf";
import { ModBlock } from "./mod-block.js";

const base = (over: Partial<ModelConfig> = {}): ModelConfig => ({
  vocabSize: 11, dModel: 8, nHeads: 2, nLayers: 2, contextLength: 8, mlpHidden: 12, ...over,
});
const FAMILIES = ["gpt2", "llama"] as const;

/** A dense block with `mod`'s attention and norms and an MLP of zeros: x + a, the attention-only update. */
function attentionOnly(family: "gpt2" | "llama", mod: ModBlock): ModBlock {
  const dense = new ModBlock(resolveModelConfig(base({ family })), 1, mulberry32(1), 1);
  const src = mod.weights();
  tf.tidy(() => {
    for (const [name, v] of dense.weights()) v.assign(name.startsWith("mlp.") ? tf.zerosLike(v) : src.get(name)!);
  });
  return dense;
}

describe.each(testBackends())("MoDE blocks on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it.each([
    ["integrated MoDE (2 experts + 2 no-op)", { count: 2, noop: 2, capacity: 0.375 }],
    ["MoE with reduced capacity (token dropping)", { count: 2, noop: 0, capacity: 0.25 }],
  ])("%s: exact k per expert; tokens no expert took equal x + attention bit for bit", async (_, experts) => {
    for (const family of FAMILIES) {
      const cfg = resolveModelConfig(base({ family, experts: { blocks: [1], ...experts } }));
      const mod = new ModBlock(cfg, 1, mulberry32(21), 21);
      const ref = attentionOnly(family, mod);
      const x = tf.randomNormal([2, 8, 8], 0, 1, "float32", 22) as tf.Tensor3D;
      await expectNoLeaks(() => {
        const out = mod.forward(x, { trace: true });
        const r = ref.forward(x);
        const k = routedTokens(experts.capacity, 8);
        const processed = out.experts!.processed;
        expect(processed.map((rows) => rows.map((row) => row.length)), family).toEqual(Array.from({ length: experts.count }, () => [k, k]));
        const got = out.x.arraySync();
        const want = r.x.arraySync();
        let skipped = 0;
        let taken = 0;
        for (let b = 0; b < 2; b++) {
          for (let i = 0; i < 8; i++) {
            if (processed.some((rows) => rows[b]!.includes(i))) {
              taken++;
              expect(maxAbsDiff(got[b]![i]!, want[b]![i]!)).toBeGreaterThan(0); // an expert did change it
            } else {
              skipped++;
              expect(got[b]![i], `${family} token ${b},${i}`).toEqual(want[b]![i]); // identity on the MLP: bit for bit
            }
          }
        }
        expect(skipped).toBeGreaterThan(0);
        expect(taken).toBeGreaterThan(0);
        tf.dispose([out.x, r.x, ...Object.values(out.auxLosses)]);
      });
      x.dispose();
      mod.dispose();
      ref.dispose();
    }
  });

  it("integrated MoDE: the choice of the no-op path is learned (the loss reaches the no-op router columns)", async () => {
    const cfg = resolveModelConfig(base({ family: "llama", experts: { blocks: [1], count: 2, noop: 2, capacity: 0.5, auxLoss: null } }));
    const mod = new ModBlock(cfg, 1, mulberry32(23), 23);
    const x = tf.randomNormal([2, 8, 8], 0, 1, "float32", 24) as tf.Tensor3D;
    const router = mod.weights().get("mlp.router.w")!;
    await expectNoLeaks(() => {
      const g = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(mod.forward(x).x)) as tf.Scalar, [router]);
        value.dispose();
        return grads[router.name]!;
      });
      const cols = g.arraySync() as number[][]; // [d, E + N]
      const noopNorm = Math.hypot(...cols.flatMap((row) => [row[2]!, row[3]!]));
      expect(noopNorm).toBeGreaterThan(1e-4);
      g.dispose();
    });
    x.dispose();
    mod.dispose();
  });

  it("staged MoDE: the MoD router picks who enters, the experts choose among those only; the rest pass unchanged", async () => {
    for (const family of FAMILIES) {
      const cfg = resolveModelConfig(base({ family, routing: { blocks: [1], capacity: 0.5, predictor: { hidden: 4 } }, experts: { blocks: [1], count: 2, capacity: 0.5 } }));
      const mod = new ModBlock(cfg, 1, mulberry32(25), 25);
      const x = tf.randomNormal([2, 8, 8], 0, 1, "float32", 26) as tf.Tensor3D;
      await expectNoLeaks(() => {
        for (const mode of ["topk", "causal"] as const) {
          const out = mod.forward(x, { mode, trace: true });
          const entered = out.trace!.processed;
          const experts = out.experts!.processed;
          if (mode === "topk") {
            expect(entered.map((r) => r.length)).toEqual([4, 4]);
            const k = routedTokens(0.5, 4); // of the 4 tokens that entered
            expect(experts.map((rows) => rows.map((row) => row.length))).toEqual([[k, k], [k, k]]);
          }
          for (const rows of experts) rows.forEach((row, b) => expect(row.every((p) => entered[b]!.includes(p)), `${family} ${mode}`).toBe(true));
          const got = out.x.arraySync();
          const xs = x.arraySync();
          for (let b = 0; b < 2; b++) for (let i = 0; i < 8; i++) if (!entered[b]!.includes(i)) expect(got[b]![i]).toEqual(xs[b]![i]);
          tf.dispose([out.x, ...Object.values(out.auxLosses)]);
        }
      });
      x.dispose();
      mod.dispose();
    }
  });
});
