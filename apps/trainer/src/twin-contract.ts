// What the PyTorch twin (python/mixdepth-torch) reads from this side instead of keeping its own
// copy: the config schema with its presets and defaults (configContract, committed as
// python/mixdepth-torch/mixdepth_torch/config-contract.json), and numbers the twin's training
// pieces must reproduce exactly (twinTrainFixtures, committed as
// python/mixdepth-torch/tests/ts-contract/train-ts.json: the data RNG, the split, the cache key,
// the batches, the schedule, the decay rule, AdamW and clipping). twin-contract.test.ts fails
// when either file is stale; MIXDEPTH_UPDATE_TWIN=1 on that test rewrites them.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import type { z } from "zod";
import { resolveModelConfig } from "@mixdepth/core";
import { BACKEND_CHOICES } from "@mixdepth/backend";
import { AdamW, clipByGlobalNorm, decayRule, evalBatches, learningRate, randomBatch } from "@mixdepth/train";
import { byteTokenizer } from "@mixdepth/text";
import { configSchema, PRESETS } from "./config.js";
import { brownToText, prepareTokens, splitDocuments, type Document } from "./data.js";
import { Rng, shuffled } from "./rng.js";

export const CONTRACT_FORMAT = "mixdepth-config-contract-v1";

/** A field of the schema, as plain JSON (zod's checks spelled out). */
export type FieldSpec =
  | { type: "object"; strict: boolean; optional?: boolean; fields: Record<string, FieldSpec> }
  | { type: "record"; optional?: boolean }
  | { type: "number"; optional?: boolean; int?: boolean; finite?: boolean; min?: number; minInclusive?: boolean; max?: number; maxInclusive?: boolean }
  | { type: "boolean"; optional?: boolean }
  | { type: "string"; optional?: boolean; minLength?: number }
  | { type: "enum"; optional?: boolean; values: string[] }
  | { type: "array"; optional?: boolean; items: FieldSpec }
  | { type: "positiveIntOrAuto"; optional?: boolean };

// Fields whose zod schema is a custom predicate: named here, so a new one fails the contract test.
const CUSTOM_FIELDS: Record<string, FieldSpec> = { "training.workers": { type: "positiveIntOrAuto" } };

function describeZod(s: z.ZodTypeAny, path: string): FieldSpec {
  const def = s._def as { typeName: string; [k: string]: unknown };
  switch (def.typeName) {
    case "ZodOptional":
      return { ...describeZod(def.innerType as z.ZodTypeAny, path), optional: true };
    case "ZodEffects": {
      const custom = CUSTOM_FIELDS[path];
      if (custom) return custom;
      // Refinements of an object are the cross-field rules (CROSS_FIELD_RULES below).
      const inner = def.schema as z.ZodTypeAny;
      if (["ZodObject", "ZodEffects"].includes((inner._def as { typeName: string }).typeName)) return describeZod(inner, path);
      throw new Error(`twin contract: ${path} has a custom check; describe it in CUSTOM_FIELDS`);
    }
    case "ZodObject": {
      const shape = (s as z.AnyZodObject).shape as Record<string, z.ZodTypeAny>;
      const fields = Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, describeZod(v, path ? `${path}.${k}` : k)]));
      return { type: "object", strict: def.unknownKeys === "strict", fields };
    }
    case "ZodRecord":
      return { type: "record" };
    case "ZodBoolean":
      return { type: "boolean" };
    case "ZodEnum":
      return { type: "enum", values: [...(def.values as string[])] };
    case "ZodArray":
      return { type: "array", items: describeZod(def.type as z.ZodTypeAny, `${path}[]`) };
    case "ZodString": {
      const out: FieldSpec = { type: "string" };
      for (const c of def.checks as { kind: string; value: number }[]) {
        if (c.kind === "min") out.minLength = c.value;
        else throw new Error(`twin contract: ${path}: string check ${c.kind} is not described`);
      }
      return out;
    }
    case "ZodNumber": {
      const out: FieldSpec = { type: "number" };
      for (const c of def.checks as { kind: string; value: number; inclusive: boolean }[]) {
        if (c.kind === "int") out.int = true;
        else if (c.kind === "finite") out.finite = true;
        else if (c.kind === "min") Object.assign(out, { min: c.value, minInclusive: c.inclusive });
        else if (c.kind === "max") Object.assign(out, { max: c.value, maxInclusive: c.inclusive });
        else throw new Error(`twin contract: ${path}: number check ${c.kind} is not described`);
      }
      return out;
    }
    default:
      throw new Error(`twin contract: ${path}: zod type ${def.typeName} is not described`);
  }
}

/**
 * Rules beyond single fields (config.ts: the training refinements and validateConfig's checks),
 * by name; the twin implements each name and refuses a contract naming one it does not know.
 */
export const CROSS_FIELD_RULES = [
  { name: "minLr<=lr", field: "training.minLr", message: "must be <= training.lr" },
  { name: "warmupSteps<=steps", field: "training.warmupSteps", message: "must be <= training.steps" },
  { name: "vocabSize==tokenizer", field: "model.vocabSize", message: "must equal the tokenizer's vocabulary 256" },
  { name: "seqLen<=contextLength", field: "training.seqLen", message: "must be <= model.contextLength" },
] as const;

/** The config schema, presets and rules as JSON: the one source the twin validates and defaults from. */
export function configContract() {
  return {
    format: CONTRACT_FORMAT,
    generatedBy: "apps/trainer/src/twin-contract.ts configContract (do not edit; MIXDEPTH_UPDATE_TWIN=1 pnpm --filter @mixdepth/trainer exec vitest run src/twin-contract.test.ts)",
    defaultPreset: "quick",
    tokenizerVocab: byteTokenizer().vocabSize,
    backendChoices: [...BACKEND_CHOICES],
    schema: describeZod(configSchema, ""),
    rules: CROSS_FIELD_RULES,
    presets: PRESETS,
  };
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

/** Numbers the twin's data, schedule and optimizer must reproduce (see the header). */
export function twinTrainFixtures() {
  const draws = (seed: number, n: number) => {
    const r = new Rng(seed);
    const values = Array.from({ length: n }, () => r.next());
    return { seed, values, state: r.state };
  };
  const rng = [draws(0, 8), draws(1234, 8), draws(0 ^ 0x0ba7c4, 8), draws(-7, 4), draws(0xffffffff, 4)];
  const shuffle = { seed: 99, items: shuffled(Array.from({ length: 12 }, (_, i) => i), new Rng(99)) };
  const brownRaw = "The/at Fulton/np-tl County/nn-tl said/vbd ``/`` no/at evidence/nn ''/'' ,/, and/cc (/( it/pps )/) 's/pos end/nn ./.\n\n\tA/at second/od [/[ one/cd ]/] ;/. ok/uh ?/.\n \n";
  const docs = (n: number, len: (i: number) => number): Document[] =>
    Array.from({ length: n }, (_, i) => ({ name: `d${i}`, text: Array.from({ length: len(i) }, (_, j) => String.fromCharCode(97 + ((i * 7 + j) % 26))).join("") + (i % 3 === 0 ? " \u00e9\u{1F600}x" : "") }));
  const splitCases = [
    { docs: docs(40, (i) => 50 + i), valFraction: 0.1, splitSeed: 1234, minPartChars: 17 },
    { docs: docs(3, (i) => 300 + 10 * i), valFraction: 0.05, splitSeed: 7, minPartChars: 65 },
    { docs: [{ name: "one", text: "\u{1F600}".repeat(120) + "tail" }], valFraction: 0.3, splitSeed: 5, minPartChars: 9 },
  ].map((c) => {
    const { train, val } = splitDocuments(c.docs, c);
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-twin-"));
    try {
      const t = prepareTokens(c.docs, c, byteTokenizer(), dir);
      return { ...c, train: train.map((d) => ({ name: d.name, sha256: sha(d.text), length: d.text.length })), val: val.map((d) => ({ name: d.name, sha256: sha(d.text), length: d.text.length })), key: t.key, trainTokens: t.train.length, valTokens: t.val.length };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  const tokens = Int32Array.from({ length: 500 }, (_, i) => (i * 31 + 7) % 256);
  const br = new Rng(3);
  const batches = [randomBatch(tokens, 3, 8, br), randomBatch(tokens, 3, 8, br)].map((b) => ({ inputs: [...b.inputs], targets: [...b.targets] }));
  const evalSet = evalBatches(tokens, 2, 8, 3).map((b) => ({ inputs: [...b.inputs], targets: [...b.targets] }));
  const schedules = [
    { lr: 3e-3, minLr: 3e-4, warmupSteps: 20, steps: 200 },
    { lr: 1e-3, minLr: 0, warmupSteps: 0, steps: 1 },
    { lr: 2e-3, minLr: 1e-4, warmupSteps: 5, steps: 6 },
  ].map((s) => ({ ...s, values: Array.from({ length: s.steps + 2 }, (_, i) => learningRate(s, i)) }));
  const names: [string, number[]][] = [["tok_emb", [256, 8]], ["pos_emb", [16, 8]], ["blocks.0.attn.wq", [8, 8]], ["blocks.0.ln1.g", [8]], ["blocks.0.attn.bq", [8]], ["lm_head", [8, 256]]];
  const decay = [
    { decayEmbeddings: false, decayNormsAndBiases: false },
    { decayEmbeddings: true, decayNormsAndBiases: true },
  ].map((o) => ({ ...o, decayed: names.filter(([n, s]) => decayRule(o)(n, s)).map(([n]) => n) }));
  // train.ts fingerprint(): what a resume must agree with, hashed from JSON.stringify.
  const fpInput = { model: resolveModelConfig(PRESETS.quick!.model), batchSize: 8, seqLen: 128, gradAccum: 1, seed: 0, dataKey: splitCases[0]!.key };
  const fingerprint = { input: fpInput, json: JSON.stringify(fpInput), hash: sha(JSON.stringify(fpInput)).slice(0, 32) };
  return { rng, shuffle, fingerprint, resolvedPresetModels: resolvedPresetModels(), brown: { raw: brownRaw, text: brownToText(brownRaw) }, split: splitCases, batches: { tokens: [...tokens], seed: 3, batchSize: 3, seqLen: 8, random: batches, stateAfter: br.state, eval: evalSet }, schedules, decay, adamw: adamwFixture(), clip: clipFixture() };
}

const vals = (n: number, seed: number, scale: number) => {
  const r = new Rng(seed);
  return Array.from({ length: n }, () => Math.fround((r.next() * 2 - 1) * scale));
};

/** Three AdamW steps on three weights (decayed matrix, undecayed rank-1 and embedding), tfjs cpu. */
function adamwFixture() {
  const shapes: Record<string, number[]> = { "blocks.0.mlp.w1": [3, 4], "blocks.0.ln1.g": [4], tok_emb: [5, 4] };
  const opts = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
  const init = Object.fromEntries(Object.entries(shapes).map(([n, s], i) => [n, vals(s.reduce((a, b) => a * b, 1), 10 + i, 1)]));
  const grads = [0, 1, 2].map((k) => Object.fromEntries(Object.entries(shapes).map(([n, s], i) => [n, vals(s.reduce((a, b) => a * b, 1), 100 + 10 * k + i, 0.5)])));
  const lrs = [1e-2, 5e-3, 2e-3];
  const prev = tf.getBackend();
  tf.setBackend("cpu");
  try {
    const params = new Map(Object.entries(shapes).map(([n, s]) => [n, tf.variable(tf.tensor(init[n] as number[], s), true, `twin.${n}`)]));
    const opt = new AdamW(params, { ...opts, decay: decayRule({ decayEmbeddings: false, decayNormsAndBiases: false }) });
    try {
      grads.forEach((g, k) => {
        const gm = new Map(Object.entries(g).map(([n, v]) => [n, tf.tensor(v, shapes[n])]));
        opt.apply(gm, lrs[k] as number);
        tf.dispose([...gm.values()]);
      });
      const st = opt.getState();
      return {
        ...opts,
        shapes,
        init,
        grads,
        lrs,
        decayed: opt.decayedNames(),
        after: Object.fromEntries([...params].map(([n, p]) => [n, [...(p.dataSync() as Float32Array)]])),
        m: Object.fromEntries([...st.m].map(([n, a]) => [n, [...a]])),
        v: Object.fromEntries([...st.v].map(([n, a]) => [n, [...a]])),
        step: st.step,
      };
    } finally {
      opt.dispose();
      params.forEach((p) => p.dispose());
    }
  } finally {
    tf.setBackend(prev);
  }
}

function clipFixture() {
  const g = { a: vals(6, 1, 2), b: vals(3, 2, 2) };
  const prev = tf.getBackend();
  tf.setBackend("cpu");
  try {
    return [0, 0.5, 100].map((maxNorm) => {
      const m = new Map(Object.entries(g).map(([n, v]) => [n, tf.tensor(v)]));
      const r = clipByGlobalNorm(m, maxNorm);
      const out = { maxNorm, grads: g, norm: r.norm, clipped: Object.fromEntries([...r.grads].map(([n, t]) => [n, [...(t.dataSync() as Float32Array)]])) };
      tf.dispose([...m.values(), ...r.grads.values()]);
      return out;
    });
  } finally {
    tf.setBackend(prev);
  }
}

/** The resolved model of each preset (what the run fingerprint hashes), for the twin's resolver. */
export function resolvedPresetModels() {
  return Object.fromEntries(Object.entries(PRESETS).map(([n, p]) => [n, resolveModelConfig(p.model)]));
}
