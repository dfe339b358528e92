// Checkpoint files: round trip, a crash mid-save leaves the previous checkpoint in charge,
// and damaged or mismatched checkpoints fail with an error that says what is wrong. The live
// objects' save and restore write the same bytes and resume the same numbers.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { CheckpointError, createTransformer, decodeSafetensors, encodeSafetensors, modelWeightShapes } from "@mixdepth/transformer";
import { Mulberry32, type ModelConfig } from "@mixdepth/core";
import { registerBuiltinRouters } from "@mixdepth/router";
import { expectNoLeaks } from "@mixdepth/vitest-config/tf";
import { AdamW, decayRule } from "./adamw.js";
import { randomBatch } from "./batcher.js";
import { byteTokenizer } from "@mixdepth/text";
import { trainableWeights } from "./grads.js";
import { loadCheckpoint, loadModelCheckpoint, restoreTrainState, saveCheckpoint, saveTrainState, type CheckpointData } from "./train-state.js";
import { NonFiniteError, trainStep } from "./train-step.js";

const model: ModelConfig = { vocabSize: 2, dModel: 4, nHeads: 1, nLayers: 1, contextLength: 4, routing: { blocks: "none" } };
const shapes = modelWeightShapes(model).shapes;

function data(step: number): CheckpointData {
  const w = (seed: number) =>
    new Map([...shapes].map(([n, s]) => [n, Float32Array.from({ length: s.reduce((a, b) => a * b) }, (_, i) => seed + i / 7)] as [string, Float32Array]));
  return {
    step,
    weights: w(step),
    shapes,
    m: w(100 + step),
    v: w(200 + step),
    state: { step, rngState: 12345 + step, optimizerStep: step, tokensSeen: step * 10, trainingFlops: step * 1e6, fingerprint: "fp" },
    config: { model, tokenizer: byteTokenizer().toJSON(), trained: true, description: "test", step },
  };
}

describe("checkpoints", () => {
  it("round-trip exactly, keep the newest two, and model.safetensors is plain safetensors", () => {
    const run = mkdtempSync(join(tmpdir(), "mixdepth-ck-"));
    for (const s of [1, 2, 3]) saveCheckpoint(run, data(s));
    expect(existsSync(join(run, "checkpoints", "step-000001"))).toBe(false);
    expect(existsSync(join(run, "checkpoints", "step-000002"))).toBe(true);
    const ck = loadCheckpoint(run, shapes, "fp");
    expect(ck.step).toBe(3);
    expect(ck.state.rngState).toBe(12348);
    expect(ck.weights).toEqual(data(3).weights);
    expect(ck.v).toEqual(data(3).v);
    const raw = decodeSafetensors(readFileSync(join(ck.dir, "model.safetensors")));
    expect([...raw.tensors.keys()]).toEqual([...shapes.keys()].sort());
    expect(JSON.parse(readFileSync(join(ck.dir, "config.json"), "utf8")).model.dModel).toBe(4);
  });

  it("a crash mid-save (temp folder left behind, latest.json untouched) keeps the previous checkpoint", () => {
    const run = mkdtempSync(join(tmpdir(), "mixdepth-ck-"));
    saveCheckpoint(run, data(4));
    const tmp = join(run, "checkpoints", ".step-000008.tmp-999");
    mkdirSync(tmp);
    writeFileSync(join(tmp, "model.safetensors"), new Uint8Array([1, 2, 3]));
    expect(loadCheckpoint(run, shapes, "fp").step).toBe(4);
    saveCheckpoint(run, data(8)); // the next save cleans the stale temp folder
    expect(existsSync(tmp)).toBe(false);
    expect(loadCheckpoint(run, shapes, "fp").step).toBe(8);
  });

  it("rejects truncated files, wrong shapes, another run's config and missing folders", () => {
    const run = mkdtempSync(join(tmpdir(), "mixdepth-ck-"));
    const dir = saveCheckpoint(run, data(5));
    expect(() => loadCheckpoint(run, shapes, "other")).toThrow(/different model\/training\/data config/);
    expect(() => loadCheckpoint(run, new Map([...shapes, ["tok_emb", [3, 4]]]), "fp")).toThrow(/weight "tok_emb" is F32 \[2, 4\], the model expects F32 \[3, 4\]/);
    expect(() => loadModelCheckpoint(join(run, "nope"))).toThrow(CheckpointError);
    const opt = join(dir, "trainer-state.safetensors");
    writeFileSync(opt, readFileSync(opt).subarray(0, 20));
    expect(() => loadCheckpoint(run, shapes, "fp")).toThrow(/trainer-state\.safetensors has 20 bytes, trainer-state\.json recorded \d+ \(truncated or replaced\)/);
    writeFileSync(join(dir, "trainer-state.json"), "{\"format\":");
    expect(() => loadCheckpoint(run, shapes, "fp")).toThrow(/trainer-state\.json is not valid JSON \(truncated\?\)/);
  });

  it("a trainer-state.json without its files' sizes and sha256 is refused, not taken as a reason to skip the check; null is named", () => {
    const run = mkdtempSync(join(tmpdir(), "mixdepth-ck-"));
    const dir = saveCheckpoint(run, data(7));
    const statePath = join(dir, "trainer-state.json");
    const state = JSON.parse(readFileSync(statePath, "utf8")) as Record<string, unknown>;
    // The weights replaced: the recorded sha256 would catch it, so the state drops its records.
    const weights = join(dir, "model.safetensors");
    const t = decodeSafetensors(readFileSync(weights)).tensors;
    writeFileSync(weights, encodeSafetensors(new Map([...t].map(([n, v]) => [n, { ...v, data: new Float32Array(v.data.length) }]))));
    const { files: _files, ...withoutFiles } = state;
    void _files;
    writeFileSync(statePath, JSON.stringify(withoutFiles));
    expect(() => loadModelCheckpoint(run)).toThrow(/trainer-state\.json records no files \(their sizes and sha256\); it cannot vouch for the checkpoint/);
    expect(() => loadCheckpoint(run, shapes, "fp")).toThrow(/trainer-state\.json records no files/);
    writeFileSync(statePath, JSON.stringify({ ...state, files: { "model.safetensors": { bytes: 1 } } }));
    expect(() => loadModelCheckpoint(run)).toThrow(/files\["model\.safetensors"\] must record its bytes and sha256/);
    writeFileSync(statePath, "null");
    expect(() => loadCheckpoint(run, shapes, "fp")).toThrow(/trainer-state\.json must hold a JSON object \(got null\)/);
  });

  it("sample/eval read through the library's checks: huge configs, I32 weights, latest.json outside the run", () => {
    const run = mkdtempSync(join(tmpdir(), "mixdepth-ck-"));
    const dir = saveCheckpoint(run, data(6));
    const cfgPath = join(dir, "config.json");
    const cfg = JSON.parse(readFileSync(cfgPath, "utf8")) as { model: ModelConfig };
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, model: { ...cfg.model, vocabSize: 50_000_000 } }));
    expect(() => loadModelCheckpoint(run)).toThrow(/model\.vocabSize = 50000000 exceeds the checkpoint limit/);
    writeFileSync(cfgPath, JSON.stringify(cfg));
    const weights = join(dir, "model.safetensors");
    const t = decodeSafetensors(readFileSync(weights)).tensors;
    const g = t.get("final_norm.g");
    if (!g) throw new Error("fixture");
    writeFileSync(weights, encodeSafetensors(new Map(t).set("final_norm.g", { dtype: "I32", shape: g.shape, data: new Int32Array(g.data.length) })));
    expect(() => loadModelCheckpoint(run)).toThrow(/weight "final_norm\.g" is I32, weights must be F32/);
    const latest = join(run, "checkpoints", "latest.json");
    writeFileSync(latest, JSON.stringify({ checkpoint: "../../etc", step: 1 }));
    expect(() => loadModelCheckpoint(run)).toThrow(/"checkpoint" must name a step-NNNNNN folder \(got "\.\.\/\.\.\/etc"\)/);
    symlinkSync(tmpdir(), join(run, "checkpoints", "step-000099"));
    writeFileSync(latest, JSON.stringify({ checkpoint: "step-000099", step: 99 }));
    expect(() => loadModelCheckpoint(run)).toThrow(/resolves outside/);
    writeFileSync(latest, "{not json");
    expect(() => loadModelCheckpoint(run)).toThrow(/latest\.json is not valid JSON/);
  });
});

describe("saveTrainState / restoreTrainState", () => {
  const config: ModelConfig = { vocabSize: 16, dModel: 8, nHeads: 2, nLayers: 2, contextLength: 8, routing: { blocks: [1], capacity: 0.5, router: "stochastic" } };
  const parts = (seed: number) => {
    const model = createTransformer(config, { seed });
    const optimizer = new AdamW(trainableWeights(model), { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, decay: decayRule({ decayEmbeddings: false, decayNormsAndBiases: false }) });
    return { model, optimizer, rng: new Mulberry32(seed) };
  };
  const info = (step: number) => ({ step, tokensSeen: 64 * step, trainingFlops: 1e6 * step, fingerprint: "fp", config: { model: config, tokenizer: byteTokenizer().toJSON(), trained: true, description: "d" } });

  it("writes the files saveCheckpoint writes from the same host arrays, byte for byte", async () => {
    registerBuiltinRouters();
    await expectNoLeaks(async () => {
      const p = parts(1);
      await trainStep({ model: p.model, params: trainableWeights(p.model), optimizer: p.optimizer, nextBatch: () => randomBatch(Int32Array.from({ length: 64 }, (_, i) => i % 16), 2, 8, p.rng) }, { batchSize: 2, seqLen: 8, gradAccum: 1, gradClip: 1, lr: 1e-2, minLr: 1e-3, warmupSteps: 0, steps: 2 }, 0);
      const a = saveTrainState(mkdtempSync(join(tmpdir(), "mixdepth-ts-")), p, info(1));
      const st = p.optimizer.getState();
      const routerStates = p.model.getRouterStates();
      expect(Object.keys(routerStates)).toEqual(["blocks.1"]); // the stochastic router's stream is saved
      const b = saveCheckpoint(mkdtempSync(join(tmpdir(), "mixdepth-ts-")), {
        step: 1,
        weights: new Map([...p.model.getWeights()].map(([n, v]) => [n, v.dataSync() as Float32Array])),
        shapes: p.model.weightShapes(),
        m: st.m,
        v: st.v,
        state: { step: 1, rngState: p.rng.state, routerStates, optimizerStep: st.step, tokensSeen: 64, trainingFlops: 1e6, fingerprint: "fp" },
        config: { ...info(1).config, step: 1, routerStates },
      });
      for (const f of ["model.safetensors", "trainer-state.safetensors", "config.json", "trainer-state.json"]) expect(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), f).toBe(true);
      p.optimizer.dispose();
      p.model.dispose();
    });
  });

  it("restores weights, moments, optimizer step, RNG and router states into fresh objects", async () => {
    registerBuiltinRouters();
    await expectNoLeaks(async () => {
      const p = parts(1);
      const params = trainableWeights(p.model);
      const nextBatch = () => randomBatch(Int32Array.from({ length: 64 }, (_, i) => (i * 3) % 16), 2, 8, p.rng);
      const settings = { batchSize: 2, seqLen: 8, gradAccum: 1, gradClip: 1, lr: 1e-2, minLr: 1e-3, warmupSteps: 0, steps: 3 };
      await trainStep({ model: p.model, params, optimizer: p.optimizer, nextBatch }, settings, 0);
      const run = mkdtempSync(join(tmpdir(), "mixdepth-ts-"));
      saveTrainState(run, p, info(1));
      const q = parts(2); // other weights, moments, RNG and router stream
      expect(() => restoreTrainState(run, q, "another")).toThrow(/different model\/training\/data config/);
      const r = restoreTrainState(run, q, "fp");
      expect(r.step).toBe(1);
      expect(q.rng.state).toBe(p.rng.state);
      expect(q.optimizer.step).toBe(1);
      expect(q.model.getRouterStates()).toEqual(p.model.getRouterStates());
      // The next step is the same on both: the resumed run goes on exactly.
      const qParams = trainableWeights(q.model);
      const a = await trainStep({ model: p.model, params, optimizer: p.optimizer, nextBatch }, settings, 1);
      const b = await trainStep({ model: q.model, params: qParams, optimizer: q.optimizer, nextBatch: () => randomBatch(Int32Array.from({ length: 64 }, (_, i) => (i * 3) % 16), 2, 8, q.rng) }, settings, 1);
      expect(b).toEqual(a);
      const host = (m: Map<string, tf.Variable>) => [...m].map(([n, v]) => [n, Array.from(v.dataSync())]);
      expect(host(qParams)).toEqual(host(params));
      for (const x of [p, q]) {
        x.optimizer.dispose();
        x.model.dispose();
      }
    });
  });

  it("refuses to save non-finite state, writing nothing", async () => {
    registerBuiltinRouters();
    await expectNoLeaks(async () => {
      const p = parts(1);
      const v = [...p.model.getWeights().values()][0] as tf.Variable;
      tf.tidy(() => v.assign(tf.mul(v, Number.NaN)));
      const run = mkdtempSync(join(tmpdir(), "mixdepth-ts-"));
      expect(() => saveTrainState(run, p, info(3))).toThrow(NonFiniteError);
      expect(existsSync(join(run, "checkpoints", "latest.json"))).toBe(false);
      p.optimizer.dispose();
      p.model.dispose();
    });
  });
});
