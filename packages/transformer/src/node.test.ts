// saveModel / loadModel: round trip, and untrusted folders refused before anything is
// allocated (huge config sizes, a header that does not match, integer weights, devices,
// FIFOs, oversized files).
import * as tf from "@tensorflow/tfjs";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { expectNoLeaks, maxAbsDiff } from "@mixdepth/vitest-config/tf";
import { MODEL_LIMITS, type ModelConfig } from "@mixdepth/core";
import { createTransformer, decodeSafetensors, encodeSafetensors } from "./index.js";
import { CHECKPOINT_LIMITS, CheckpointError, loadModel, readCheckpoint, saveModel } from "./node.js";

const config: ModelConfig = { vocabSize: 11, dModel: 8, nHeads: 2, nLayers: 2, contextLength: 8, routing: { blocks: [1], capacity: 0.5 } };

function saved(): string {
  const dir = join(mkdtempSync(join(tmpdir(), "mixdepth-io-")), "ck");
  const model = createTransformer(config, { seed: 3 });
  saveModel(dir, model, { description: "test" });
  model.dispose();
  return dir;
}

/** Rewrites config.json's model with `patch`. */
function patchConfig(dir: string, patch: Partial<ModelConfig>): void {
  const json = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { model: ModelConfig };
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...json, model: { ...json.model, ...patch } }));
}

describe("saveModel / loadModel", () => {
  it("round-trips weights and logits exactly, without leaks", async () => {
    const dir = saved();
    await expectNoLeaks(() => {
      const a = createTransformer(config, { seed: 3 });
      const b = loadModel(dir);
      const x = tf.tensor2d([[1, 2, 3, 4]], [1, 4], "int32");
      const ra = a.forward(x);
      const rb = b.forward(x);
      expect(maxAbsDiff(ra.logits, rb.logits)).toBe(0);
      tf.dispose([x, ra.logits, rb.logits, ...Object.values(ra.auxLosses), ...Object.values(rb.auxLosses)]);
      a.dispose();
      b.dispose();
    });
    expect(JSON.parse(readFileSync(join(dir, "config.json"), "utf8"))).toMatchObject({ format: "mixdepth-checkpoint/1", description: "test", model: config });
    const other = createTransformer(config, { seed: 4 });
    saveModel(dir, other); // replaces an existing checkpoint folder
    other.dispose();
    expect(readCheckpoint(dir).json.description).toBeUndefined();
  });

  it("stores router states in config.json and restores them on load; refuses states no block can take", async () => {
    const stochastic: ModelConfig = { ...config, routing: { blocks: [1], capacity: 0.5, router: "stochastic" } };
    const dir = join(mkdtempSync(join(tmpdir(), "mixdepth-io-")), "ck");
    await expectNoLeaks(() => {
      const a = createTransformer(stochastic, { seed: 3 });
      const before = JSON.stringify(a.getRouterStates());
      const x = tf.tensor2d([[1, 2, 3, 4]], [1, 4], "int32");
      const r = a.forward(x); // draws from the router's random stream
      tf.dispose([x, r.logits, ...Object.values(r.auxLosses)]);
      const states = a.getRouterStates();
      expect(JSON.stringify(states)).not.toBe(before); // the state moved: the check below is not vacuous
      saveModel(dir, a);
      const b = loadModel(dir);
      expect(b.getRouterStates()).toEqual(states);
      a.dispose();
      b.dispose();
    });
    expect(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")).routerStates).toBeDefined();
    // A model without stateful routers writes none.
    const plain = saved();
    expect(JSON.parse(readFileSync(join(plain, "config.json"), "utf8")).routerStates).toBeUndefined();
    const json = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...json, routerStates: { "blocks.0": { rng: 1 } } }));
    expect(() => loadModel(dir)).toThrow(/config\.json: routerStates: setRouterStates: blocks\.0 has no router with state/);
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...json, routerStates: [1] }));
    expect(() => loadModel(dir)).toThrow(CheckpointError);
    expect(() => loadModel(dir)).toThrow(/routerStates must be an object by block name \(got \[1\]\)/);
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...json, routerStates: { "blocks.1": { rng: "x" } } }));
    expect(() => loadModel(dir)).toThrow(/config\.json: routerStates: stochastic router state/);
  });

  it("refuses a huge vocabSize by its limit, by the header when the limit is lowered, and past MODEL_LIMITS whatever the override, before allocating", () => {
    const dir = saved();
    patchConfig(dir, { vocabSize: 50_000_000 });
    const before = tf.memory().numBytes;
    const t0 = performance.now();
    expect(() => loadModel(dir)).toThrow(/model\.vocabSize = 50000000 exceeds the checkpoint limit 1048576 \(limits\.maxVocabSize\)/);
    // Raising the limit does not get past the model config's own (core's MODEL_LIMITS).
    expect(() => loadModel(dir, { limits: { maxVocabSize: 1e9 } })).toThrow(/config\.json: vocabSize: must be at most 1048576 \(MODEL_LIMITS\.maxVocabSize\) \(got 50000000\)/);
    patchConfig(dir, { vocabSize: 1_000_000 });
    expect(() => loadModel(dir)).toThrow(/weight "tok_emb" is \[11, 8\], config\.json's model expects \[1000000, 8\]/);
    expect(() => loadModel(dir, { limits: { maxVocabSize: 1000 } })).toThrow(/model\.vocabSize = 1000000 exceeds the checkpoint limit 1000 \(limits\.maxVocabSize\)/);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(tf.memory().numBytes).toBe(before);
    // A NaN limit must not switch its check off.
    expect(() => loadModel(dir, { limits: { maxVocabSize: Number.NaN } })).toThrow(/limits\.maxVocabSize must be a number >= 0 \(Infinity for none; got NaN\)/);
    patchConfig(dir, { vocabSize: 11, nLayers: 1_000_000_000 });
    expect(() => loadModel(dir)).toThrow(/model\.nLayers = 1000000000 exceeds/);
  });

  it("reads back a model of any depth a config may have: 300 blocks (the reader used to stop at 256 while core allowed 10,000)", async () => {
    const deep: ModelConfig = { vocabSize: 11, dModel: 4, nHeads: 2, nLayers: 300, contextLength: 4, mlpHidden: 4, routing: { blocks: [299], capacity: 0.5 } };
    const dir = join(mkdtempSync(join(tmpdir(), "mixdepth-io-")), "ck");
    await expectNoLeaks(() => {
      const a = createTransformer(deep, { seed: 5 });
      saveModel(dir, a);
      const b = loadModel(dir);
      expect(b.config.nLayers).toBe(300);
      const x = tf.tensor2d([[1, 2, 3]], [1, 3], "int32");
      const ra = a.forward(x);
      const rb = b.forward(x);
      expect(maxAbsDiff(ra.logits, rb.logits)).toBe(0);
      tf.dispose([x, ra.logits, rb.logits, ...Object.values(ra.auxLosses), ...Object.values(rb.auxLosses)]);
      a.dispose();
      b.dispose();
    });
    // One set of limits: the reader's model bounds are the config's own.
    const { maxWeightsBytes: _w, maxConfigBytes: _c, ...modelBounds } = CHECKPOINT_LIMITS;
    void _w;
    void _c;
    expect(modelBounds).toEqual(MODEL_LIMITS);
    patchConfig(dir, { nLayers: MODEL_LIMITS.maxLayers + 1 });
    expect(() => loadModel(dir)).toThrow(/model\.nLayers = 10001 exceeds the checkpoint limit 10000 \(limits\.maxLayers\)/);
  });

  it("refuses a safetensors header larger than the config's tensors can need, before reading it", () => {
    const dir = saved();
    const path = join(dir, "model.safetensors");
    const { tensors } = decodeSafetensors(readFileSync(path));
    writeFileSync(path, encodeSafetensors(tensors, { format: "pt", pad: "x".repeat(2_000_000) }));
    expect(() => loadModel(dir)).toThrow(CheckpointError);
    expect(() => loadModel(dir)).toThrow(/model\.safetensors: the safetensors header has \d{7} bytes, more than the \d+ that \d+ tensors can need; refusing to read it/);
    writeFileSync(path, encodeSafetensors(tensors, { format: "pt", note: "a short note" }));
    loadModel(dir).dispose();
  });

  it("a checkpoint whose router kind is not registered is a CheckpointError, and nothing leaks", async () => {
    const dir = saved();
    const json = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { model: ModelConfig & { routing?: Record<string, unknown> } };
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...json, model: { ...json.model, routing: { ...(json.model.routing ?? {}), router: "not-registered" } } }));
    await expectNoLeaks(() => {
      expect(() => loadModel(dir)).toThrow(CheckpointError);
      expect(() => loadModel(dir)).toThrow(/config\.json: model\.routing\.router: unknown router kind/);
    });
  });

  it("refuses integer tensors as weights, missing and unknown tensors", () => {
    const dir = saved();
    const path = join(dir, "model.safetensors");
    const good = decodeSafetensors(readFileSync(path)).tensors;
    const g = good.get("final_norm.g");
    if (!g) throw new Error("fixture");
    const asInt = new Map(good).set("final_norm.g", { dtype: "I32", shape: g.shape, data: new Int32Array(g.data.length) });
    writeFileSync(path, encodeSafetensors(asInt));
    expect(() => loadModel(dir)).toThrow(/weight "final_norm\.g" is I32, weights must be F32/);
    const missing = new Map(good);
    missing.delete("blocks.1.router.w");
    writeFileSync(path, encodeSafetensors(missing));
    expect(() => loadModel(dir)).toThrow(/weight "blocks\.1\.router\.w" \[8, 1\] is missing/);
    writeFileSync(path, encodeSafetensors(new Map(good).set("extra", { dtype: "F32", shape: [1], data: new Float32Array(1) })));
    expect(() => loadModel(dir)).toThrow(/tensor "extra" is not a weight of this model/);
  });

  it("refuses a symlink to a device, a FIFO, a folder and an oversized file without reading them", () => {
    const dir = saved();
    const path = join(dir, "model.safetensors");
    const dev = join(mkdtempSync(join(tmpdir(), "mixdepth-io-")), "ck");
    mkdirSync(dev);
    writeFileSync(join(dev, "config.json"), readFileSync(join(dir, "config.json")));
    symlinkSync("/dev/zero", join(dev, "model.safetensors"));
    expect(() => loadModel(dev)).toThrow(/model\.safetensors is a device; a checkpoint file must be a regular file/);
    const fifo = join(mkdtempSync(join(tmpdir(), "mixdepth-io-")), "ck");
    mkdirSync(fifo);
    writeFileSync(join(fifo, "config.json"), readFileSync(join(dir, "config.json")));
    execFileSync("mkfifo", [join(fifo, "model.safetensors")]);
    expect(() => loadModel(fifo)).toThrow(/is a FIFO/);
    const size = readFileSync(path).length;
    expect(() => loadModel(dir, { limits: { maxWeightsBytes: size - 1 } })).toThrow(new RegExp(`has ${size} bytes, more than the limit ${size - 1} \\(limits\\.maxWeightsBytes\\)`));
    expect(() => loadModel(join(dir, "nope"))).toThrow(CheckpointError);
  });

  it("refuses to replace a folder that is not a checkpoint", () => {
    const parent = mkdtempSync(join(tmpdir(), "mixdepth-io-"));
    mkdirSync(join(parent, "ck"));
    writeFileSync(join(parent, "ck", "notes.txt"), "mine");
    const model = createTransformer(config);
    expect(() => saveModel(join(parent, "ck"), model)).toThrow(/exists and is not a checkpoint folder/);
    model.dispose();
    expect(readFileSync(join(parent, "ck", "notes.txt"), "utf8")).toBe("mine");
  });
});
