// The one training step: the same numbers as the pieces written out by hand (accumulate,
// clip, AdamW at the scheduled rate), micro-batches drawn in order, and each non-finite stop
// named, with the optimizer not reached where it must not be and no tensor left behind.
import * as tf from "@tensorflow/tfjs";
import { createTransformer, type Transformer } from "@mixdepth/transformer";
import { Mulberry32 } from "@mixdepth/core";
import { describe, expect, it } from "vitest";
import { expectNoLeaks } from "@mixdepth/vitest-config/tf";
import { AdamW, decayRule } from "./adamw.js";
import { randomBatch, batchTensors, type Batch } from "./batcher.js";
import { clipByGlobalNorm } from "./clip.js";
import { GradientAccumulator } from "./grad-accum.js";
import { trainableWeights, valueAndGrads } from "./grads.js";
import { learningRate } from "./schedule.js";
import { lossAndGrads, NonFiniteError, trainStep, type TrainStepSettings } from "./train-step.js";

const data = Int32Array.from({ length: 400 }, (_, i) => (i * 7 + (i % 5)) % 16);
const settings: TrainStepSettings = { batchSize: 2, seqLen: 8, gradAccum: 2, gradClip: 0.5, lr: 1e-2, minLr: 1e-3, warmupSteps: 1, steps: 3 };
const newModel = () => createTransformer({ vocabSize: 16, dModel: 8, nHeads: 2, nLayers: 2, contextLength: 8, routing: { blocks: [1], capacity: 0.5 } }, { seed: 5 });
const newOpt = (params: Map<string, tf.Variable>) => new AdamW(params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, decay: decayRule({ decayEmbeddings: false, decayNormsAndBiases: false }) });
const hostWeights = (m: Transformer) => [...m.getWeights()].map(([n, v]) => [n, Array.from(v.dataSync())] as const);

describe("trainStep", () => {
  it("computes exactly what the pieces compute by hand, step after step", async () => {
    await expectNoLeaks(async () => {
      const a = newModel();
      const b = newModel();
      const pa = trainableWeights(a);
      const pb = trainableWeights(b);
      const [oa, ob] = [newOpt(pa), newOpt(pb)];
      const [ra, rb] = [new Mulberry32(3), new Mulberry32(3)];
      const drawn: Batch[] = [];
      const nextBatch = () => {
        const batch = randomBatch(data, settings.batchSize, settings.seqLen, ra);
        drawn.push(batch);
        return batch;
      };
      for (let step = 0; step < settings.steps; step++) {
        const r = await trainStep({ model: a, params: pa, optimizer: oa, nextBatch }, settings, step);
        // By hand: lm of each micro-batch read back, gradients of lm + aux averaged, clipped, one update.
        const acc = new GradientAccumulator();
        let lm = 0;
        let aux = 0;
        for (let micro = 0; micro < settings.gradAccum; micro++) {
          const { x, y } = batchTensors(randomBatch(data, settings.batchSize, settings.seqLen, rb), settings.batchSize, settings.seqLen);
          let parts: { lm: number; aux: number } = { lm: 0, aux: 0 };
          const { value, grads } = valueAndGrads(() => {
            const l = b.loss(x, y);
            parts = { lm: l.lm.dataSync()[0] as number, aux: l.aux.dataSync()[0] as number };
            return l.total;
          }, pb);
          lm += parts.lm;
          aux += parts.aux;
          acc.add(grads);
          tf.dispose([x, y, value, ...grads.values()]);
        }
        const mean = acc.mean();
        const clipped = clipByGlobalNorm(mean, settings.gradClip);
        ob.apply(clipped.grads, learningRate(settings, step));
        tf.dispose([...mean.values(), ...clipped.grads.values()]);
        expect(r.lr).toBe(learningRate(settings, step));
        expect(r.loss).toBeCloseTo(lm / settings.gradAccum, 6);
        expect(r.aux).toBeCloseTo(aux / settings.gradAccum, 6);
        expect(r.gradNorm).toBeCloseTo(clipped.norm, 5);
        expect(r.gradNorm).toBeGreaterThan(settings.gradClip); // the clip was in play
        expect(hostWeights(a)).toEqual(hostWeights(b));
      }
      expect(drawn).toHaveLength(settings.steps * settings.gradAccum); // gradAccum batches per step, in order
      expect(oa.step).toBe(settings.steps);
      oa.dispose();
      ob.dispose();
      a.dispose();
      b.dispose();
    });
  }, 60_000);

  it("a non-finite loss stops the step before the optimizer; a non-finite weight after it; both named", async () => {
    await expectNoLeaks(async () => {
      const model = newModel();
      const params = trainableWeights(model);
      const opt = newOpt(params);
      const rng = new Mulberry32(1);
      const nextBatch = () => randomBatch(data, settings.batchSize, settings.seqLen, rng);
      const before = hostWeights(model);
      const nanLoss = (batch: Batch, rows: number, seqLen: number) => ({ ...lossAndGrads(model, params, batch, rows, seqLen), lm: Number.NaN });
      const err = await trainStep({ model, params, optimizer: opt, nextBatch, lossAndGrads: nanLoss }, settings, 4).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NonFiniteError);
      expect((err as NonFiniteError).message).toMatch(/^the loss is NaN at step 5\. /);
      expect(opt.step).toBe(0);
      expect(hostWeights(model)).toEqual(before);

      const infAux = (batch: Batch, rows: number, seqLen: number) => ({ ...lossAndGrads(model, params, batch, rows, seqLen), aux: Number.POSITIVE_INFINITY });
      const aux = await trainStep({ model, params, optimizer: opt, nextBatch, lossAndGrads: infAux }, settings, 0).catch((e: unknown) => e);
      expect((aux as Error).message).toMatch(/^the auxiliary loss is Infinity at step 1/);

      const infGrad = (batch: Batch, rows: number, seqLen: number) => {
        const r = lossAndGrads(model, params, batch, rows, seqLen);
        const [name, g] = [...r.grads][0] as [string, tf.Tensor];
        r.grads.set(name, tf.mul(g, Number.POSITIVE_INFINITY));
        g.dispose();
        return r;
      };
      const norm = await trainStep({ model, params, optimizer: opt, nextBatch, lossAndGrads: infGrad }, settings, 0).catch((e: unknown) => e);
      expect((norm as Error).message).toMatch(/^the gradient norm is (Infinity|NaN) at step 1/);
      expect(opt.step).toBe(0);

      const target = [...params.keys()][3] as string; // not the first: the check names the one that broke
      const poisoning = {
        apply(grads: Map<string, tf.Tensor>, lr: number) {
          opt.apply(grads, lr);
          const v = params.get(target) as tf.Variable;
          tf.tidy(() => v.assign(tf.mul(v, Number.POSITIVE_INFINITY)));
        },
      };
      const weight = await trainStep({ model, params, optimizer: poisoning, nextBatch }, settings, 1).catch((e: unknown) => e);
      expect((weight as Error).message).toBe(`weight "${target}" is not finite after the update at step 2. Try a lower learning rate or clipping the gradients.`);
      opt.dispose();
      model.dispose();
    });
  }, 60_000);

  it("a micro-batch that throws frees what was accumulated", async () => {
    await expectNoLeaks(async () => {
      const model = newModel();
      const params = trainableWeights(model);
      const opt = newOpt(params);
      const rng = new Mulberry32(1);
      let calls = 0;
      const failing = (batch: Batch, rows: number, seqLen: number) => {
        if (++calls === 2) throw new Error("rank 1 failed");
        return lossAndGrads(model, params, batch, rows, seqLen);
      };
      await expect(trainStep({ model, params, optimizer: opt, nextBatch: () => randomBatch(data, 2, 8, rng), lossAndGrads: failing }, settings, 0)).rejects.toThrow("rank 1 failed");
      opt.dispose();
      model.dispose();
    });
  });
});
