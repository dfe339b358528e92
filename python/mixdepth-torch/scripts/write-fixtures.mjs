// Writes the parity fixtures of the PyTorch twin from the BUILT TypeScript packages, on the
// pure-JS cpu backend, seeded: node scripts/write-fixtures.mjs <out-folder>. tests/conftest.py
// runs it when the fixtures are missing or stale (this script or a package's dist changed).
// Per case: <case>.safetensors (weights "w.<name>", inputs, logits, gradients, ... as F32/I32,
// written by the TypeScript encoder) and <case>.json (config, seed, scalars, traces, router
// states before each call). Also config-cases.json (resolveModelConfig on valid and invalid
// configs), ck-<name>/ checkpoint folders written by saveModel, and adamw_step.
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { setupBackend } from "@mixdepth/backend";
import { Mulberry32, resolveModelConfig } from "@mixdepth/core";
import { causalRoutingAgreement, createTransformer, encodeSafetensors } from "@mixdepth/transformer";
import { saveModel } from "@mixdepth/transformer/node";
import { AdamW, decayRule, trainableWeights, valueAndGrads } from "@mixdepth/train";
import { byteTokenizer } from "@mixdepth/text";

// The tfjs-core instance the transformer itself uses (this package has no tfjs dependency of its own).
const require = createRequire(import.meta.url);
const tf = await import(pathToFileURL(createRequire(require.resolve("@mixdepth/transformer")).resolve("@tensorflow/tfjs-core")).href);
await setupBackend({ backend: "cpu", log: () => {} });
if (tf.getBackend() !== "cpu") throw new Error(`write-fixtures: expected the cpu backend on the transformer's tfjs-core, got ${tf.getBackend()}`);

const out = process.argv[2];
if (!out) {
  console.error("usage: node scripts/write-fixtures.mjs <out-folder>");
  process.exit(2);
}
mkdirSync(out, { recursive: true });

const V = 40;
const base = (family, extra = {}) => ({ vocabSize: V, dModel: 16, nHeads: 2, nLayers: 4, contextLength: 16, family, ...extra });

/** Cases: name -> [config, seed, options]. */
const CASES = {};
for (const family of ["gpt2", "llama"]) {
  CASES[`${family}-dense`] = [base(family, { nLayers: 3 }), 1, {}];
  CASES[`${family}-mod`] = [base(family, { routing: { blocks: "every-other", capacity: 0.25 } }), 2, {}];
  CASES[`${family}-mod-threshold`] = [base(family, { nLayers: 3, routing: { blocks: "all", capacity: 0.5, predictor: null, auxLoss: { weight: 0.1 } } }), 3, {}];
  CASES[`${family}-stochastic-one`] = [base(family, { nLayers: 3, routing: { blocks: [1], capacity: 0.3, router: "stochastic" } }), 4, {}];
  CASES[`${family}-stochastic-noise`] = [base(family, { nLayers: 3, routing: { blocks: [0, 2], capacity: 0.4, router: "stochastic", routerOptions: { scale: "noise" } } }), 5, {}];
  // Exact ties: block 0 is routed and sees the embedding alone (gpt2: pos_emb zeroed), so repeated tokens score exactly equal.
  CASES[`${family}-ties`] = [base(family, { nLayers: 3, routing: { blocks: [0, 2], capacity: 0.3 } }), 6, { ties: true }];
}
CASES["gpt2-untied"] = [base("gpt2", { nLayers: 2, tieEmbeddings: false, mlpHidden: 24, normEps: 1e-6, routing: { blocks: [1], capacity: 0.5, predictor: { hidden: 5, weight: 0.5 } } }), 7, {}];
// Seeds outside [0, 2^32): the twin must apply JavaScript's 32-bit ^ and >>> 0 the same way.
CASES["llama-negseed"] = [base("llama", { nLayers: 2, routing: { blocks: "all", capacity: 0.5, router: "stochastic" } }), -123456789, {}];
CASES["gpt2-bigseed"] = [base("gpt2", { nLayers: 2, routing: { capacity: 0.5 } }), 2 ** 33 + 7, {}];
// MoE / MoDE (docs/method.md section 6): integrated (no-op experts on dense blocks), staged (MoD
// router first, the experts choose among its tokens), token choice, reduced capacity, exact ties
// (expertTies: block 0's expert router zeroed, so every p is exactly 1 / (E + N)).
CASES["gpt2-mode-integrated"] = [base("gpt2", { nLayers: 3, experts: { count: 3, noop: 2, predictor: { hidden: 6 }, zLoss: { weight: 0.01 } } }), 11, {}];
CASES["llama-mode-integrated"] = [base("llama", { nLayers: 2, experts: { blocks: [1], count: 2, noop: 1, capacity: 0.4, hidden: 12, causal: "threshold" } }), 12, {}];
CASES["llama-mode-staged"] = [base("llama", { routing: { blocks: "every-other", capacity: 0.5 }, experts: { count: 2, capacity: 0.5, zLoss: { weight: 0.02 } } }), 13, {}];
CASES["gpt2-mode-staged"] = [base("gpt2", { nLayers: 3, routing: { blocks: [1], capacity: 0.5, predictor: {} }, experts: { blocks: [1, 2], count: 2, noop: 1, predictor: {}, causal: "threshold" } }), 14, {}];
CASES["llama-moe-token-choice"] = [base("llama", { nLayers: 3, routing: { blocks: [2], capacity: 0.5 }, experts: { routing: "token-choice", count: 3, noop: 1, capacity: 0.3, balanceLoss: { weight: 0.05 }, zLoss: { weight: 0.01 } } }), 15, {}];
CASES["gpt2-moe-token-choice"] = [base("gpt2", { nLayers: 2, experts: { routing: "token-choice", count: 2 } }), 16, {}];
CASES["gpt2-moe-ties"] = [base("gpt2", { nLayers: 2, experts: { count: 2, capacity: 0.3 } }), 17, { expertTies: true }];
CASES["llama-moe-ties-token-choice"] = [base("llama", { nLayers: 2, experts: { routing: "token-choice", count: 2, noop: 1, capacity: 0.5 } }), 18, { expertTies: true }];
CASES["llama-rope"] = [base("llama", { nLayers: 2, nHeads: 4, ropeBase: 500, mlpHidden: 20, routing: { blocks: "all", capacity: 0.75, causal: "threshold" } }), 8, {}];

const SHAPES = [[1, 1], [1, 16], [2, 7], [3, 12]];

function randomTokens(rng, b, s, ties) {
  const t = new Int32Array(b * s);
  for (let i = 0; i < t.length; i++) t[i] = ties ? [3, 5, 5, 9][Math.floor(rng.next() * 4)] : Math.floor(rng.next() * V);
  return t;
}

function writeCase(name, [config, seed, opts]) {
  const model = createTransformer(config, { seed });
  const tensors = new Map();
  const meta = { config, seed, calls: [] };
  const putF = (key, t) => tensors.set(key, { dtype: "F32", shape: [...t.shape], data: Float32Array.from(t.dataSync()) });
  const putI = (key, data, shape) => tensors.set(key, { dtype: "I32", shape, data: Int32Array.from(data) });
  for (const [n, v] of model.getWeights()) putF(`init.${n}`, v);
  // Weights at init scale make attention almost uniform and hide rotary, masks and gains (a
  // twin with rotary by 0..k-1 passed within 1e-4); scaled and perturbed, every term shows.
  const prng = new Mulberry32(seed + 1000);
  const gauss = (n) => Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(Math.max(prng.next(), 1e-12))) * Math.cos(2 * Math.PI * prng.next()));
  const sharp = {};
  for (const [n, v] of model.getWeights()) {
    const x = v.dataSync();
    const z = gauss(x.length);
    const scale = n.includes(".router.") ? 2 : n === "tok_emb" || n === "pos_emb" || n === "head.w" ? 25 : 12;
    sharp[n] = tf.tensor(n.endsWith(".g") ? z.map((e) => 1 + 0.3 * e) : n.endsWith(".b") ? z.map((e) => 0.2 * e) : x.map((e) => e * scale), v.shape);
  }
  if (opts.ties && config.family === "gpt2") sharp.pos_emb = tf.zeros([config.contextLength, config.dModel]);
  if (opts.expertTies) {
    const w = sharp["blocks.0.mlp.router.w"];
    sharp["blocks.0.mlp.router.w"] = tf.zerosLike(w);
    w.dispose();
  }
  model.setWeights(sharp);
  tf.dispose(Object.values(sharp));
  for (const [n, v] of model.getWeights()) putF(`w.${n}`, v);
  meta.weightNames = [...model.getWeights().keys()];
  const rng = new Mulberry32(seed * 31 + 17);
  const routed = model.config.routing.blocks.length > 0;
  const modes = routed || model.config.experts ? ["topk", "causal:threshold", ...(routed && model.config.routing.predictor ? ["causal:predictor"] : [])] : ["topk"];
  SHAPES.forEach(([b, s], i) => {
    const tokens = randomTokens(rng, b, s, opts.ties);
    putI(`tokens.${i}`, tokens, [b, s]);
    for (const mode of modes) {
      const [routing, causal] = mode.split(":");
      const states = model.getRouterStates();
      const r = tf.tidy(() => {
        const x = tf.tensor2d(tokens, [b, s], "int32");
        const f = model.forward(x, { routing, ...(causal ? { causal } : {}), trace: true });
        return { logits: f.logits, aux: Object.fromEntries(Object.entries(f.auxLosses).map(([k, v]) => [k, v.dataSync()[0]])), traces: f.traces, expertTraces: f.expertTraces };
      });
      putF(`logits.${mode}.${i}`, r.logits);
      r.logits.dispose();
      meta.calls.push({ kind: "forward", shape: i, mode, routerStates: states, aux: r.aux, traces: r.traces.map((t) => ({ layer: t.layer, processed: t.processed })), experts: r.expertTraces.map((t) => ({ layer: t.layer, processed: t.processed })) });
    }
  });
  // Top-k vs causal agreement per routed block (what evaluation reports), on the last shape's tokens.
  if (routed) {
    const [b, s] = SHAPES[3];
    meta.agreement = { routerStates: model.getRouterStates(), ...tf.tidy(() => causalRoutingAgreement(model, tf.tensor2d(tensors.get("tokens.3").data, [b, s], "int32"))) };
  }
  // Gradients of the total loss w.r.t. every weight, two shapes.
  for (const i of [2, 3]) {
    const [b, s] = SHAPES[i];
    const tokens = randomTokens(rng, b, s + 1, opts.ties);
    const inp = [], tgt = [];
    for (let r = 0; r < b; r++) for (let j = 0; j < s; j++) (inp.push(tokens[r * (s + 1) + j]), tgt.push(tokens[r * (s + 1) + j + 1]));
    putI(`loss.inputs.${i}`, inp, [b, s]);
    putI(`loss.targets.${i}`, tgt, [b, s]);
    const states = model.getRouterStates();
    const params = trainableWeights(model);
    const parts = {};
    const { value, grads } = valueAndGrads(() => {
      const l = model.loss(tf.tensor2d(inp, [b, s], "int32"), tf.tensor2d(tgt, [b, s], "int32"));
      parts.lm = l.lm.dataSync()[0];
      parts.aux = l.aux.dataSync()[0];
      return l.total;
    }, params);
    for (const [n, g] of grads) putF(`grad.${i}.${n}`, g);
    meta.calls.push({ kind: "loss", shape: i, routerStates: states, total: value.dataSync()[0], lm: parts.lm, aux: parts.aux });
    if (i === 2 && name === "llama-mod") writeAdamW(model, grads, { inputs: inp, targets: tgt, shape: [b, s], config, seed });
    tf.dispose([value, ...grads.values()]);
  }
  // Cached decoding, causal routing: a prefill, then one token per call. 2 rows from a 5-token
  // prompt; 3 rows from a 1-token prompt (shorter than k) up to the full context.
  meta.decode = [];
  for (const [j0, [b, prompt, steps]] of [[2, 5, 8], [3, 1, config.contextLength - 1]].entries()) {
    const tokens = randomTokens(rng, b, prompt + steps, opts.ties);
    putI(`decode.${j0}.tokens`, tokens, [b, prompt + steps]);
    const states = model.getRouterStates();
    const cache = model.createCache();
    const lengths = [];
    for (let j = 0; j <= steps; j++) {
      const from = j === 0 ? 0 : prompt + j - 1, n = j === 0 ? prompt : 1;
      const ids = [];
      for (let r = 0; r < b; r++) for (let c = from; c < from + n; c++) ids.push(tokens[r * (prompt + steps) + c]);
      const logits = tf.tidy(() => model.forward(tf.tensor2d(ids, [b, n], "int32"), { routing: "causal", cache, logits: "last" }).logits);
      putF(`decode.${j0}.logits.${j}`, logits);
      logits.dispose();
      lengths.push(cache.lengths());
    }
    cache.dispose();
    meta.decode.push({ prompt, steps, routerStates: states, lengths });
  }
  meta.routerStatesAfter = model.getRouterStates();
  writeFileSync(join(out, `${name}.safetensors`), encodeSafetensors(tensors));
  writeFileSync(join(out, `${name}.json`), JSON.stringify(meta));
  // Checkpoint folders for the round trip, with logits of fixed tokens.
  if (name === "gpt2-mod" || name === "llama-stochastic-noise" || name === "gpt2-untied" || name === "llama-mode-staged") {
    const dir = join(out, `ck-${name}`);
    saveModel(dir, model, { tokenizer: byteTokenizer().toJSON(), description: `fixture ${name}`, step: 3 });
    const tokens = randomTokens(rng, 2, 9, false);
    const states = model.getRouterStates();
    const logits = tf.tidy(() => model.forward(tf.tensor2d(tokens, [2, 9], "int32"), { routing: "causal" }).logits);
    writeFileSync(join(out, `ck-${name}.logits.json`), JSON.stringify({ tokens: [...tokens], shape: [2, 9], routing: "causal", routerStates: states, logits: [...logits.dataSync()] }));
    logits.dispose();
  }
  model.dispose();
}

/** One AdamW step of the TS trainer's optimizer on the llama-mod gradients (twin-train's optim.py checks it). */
function writeAdamW(model, grads, info) {
  const hp = { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, decayEmbeddings: false, decayNormsAndBiases: false };
  const tensors = new Map();
  const putF = (key, t) => tensors.set(key, { dtype: "F32", shape: [...t.shape], data: Float32Array.from(t.dataSync()) });
  const params = trainableWeights(model);
  // A copy of the weights, so the model of the other fixtures is not changed by the step.
  const copies = new Map([...params].map(([n, v]) => [n, tf.variable(v.clone(), true)]));
  for (const [n, v] of copies) putF(`before.${n}`, v);
  for (const [n, g] of grads) putF(`grad.${n}`, g);
  const opt = new AdamW(copies, { beta1: hp.beta1, beta2: hp.beta2, eps: hp.eps, weightDecay: hp.weightDecay, decay: decayRule(hp) });
  opt.apply(grads, hp.lr);
  for (const [n, v] of copies) putF(`after.${n}`, v);
  const st = opt.getState();
  for (const [n, m] of st.m) tensors.set(`m.${n}`, { dtype: "F32", shape: [...copies.get(n).shape], data: m });
  for (const [n, v] of st.v) tensors.set(`v.${n}`, { dtype: "F32", shape: [...copies.get(n).shape], data: v });
  writeFileSync(join(out, "adamw_step.safetensors"), encodeSafetensors(tensors));
  writeFileSync(join(out, "adamw_step.json"), JSON.stringify({ ...info, hyper: hp, step: st.step, decayed: opt.decayedNames(), names: [...params.keys()] }));
  opt.dispose();
  copies.forEach((v) => v.dispose());
}

/** resolveModelConfig on valid and invalid configs: the Python parser must agree exactly. */
function writeConfigCases() {
  const ok = { vocabSize: 32, dModel: 16, nHeads: 2, nLayers: 4, contextLength: 8 };
  const configs = [
    ok,
    { ...ok, family: "gpt2" },
    { ...ok, dModel: 30, nHeads: 3 },
    { ...ok, dModel: 30, nHeads: 3, family: "gpt2" },
    { ...ok, dModel: 20, nHeads: 4, family: "gpt2" },
    { ...ok, routing: {} },
    { ...ok, routing: null },
    { ...ok, routing: { blocks: "all", capacity: 1 } },
    { ...ok, routing: { blocks: [3, 0, 2] } },
    { ...ok, routing: { predictor: null } },
    { ...ok, routing: { predictor: {} } },
    { ...ok, routing: { predictor: { hidden: 3 }, auxLoss: null } },
    { ...ok, routing: { auxLoss: { weight: 0 }, causal: "threshold" } },
    { ...ok, routing: { router: "stochastic", routerOptions: { scale: "noise" } } },
    { ...ok, dModel: 1, nHeads: 1, family: "gpt2", routing: { blocks: "every-other" } },
    { ...ok, mlpHidden: 7, tieEmbeddings: false, normEps: 1e-6, ropeBase: 500 },
    { ...ok, dModel: 64, nHeads: 8 },
    { ...ok, dModel: 100, nHeads: 2 },
    // MoE / MoDE (model.experts)
    { ...ok, experts: {} },
    { ...ok, experts: null },
    { ...ok, family: "gpt2", experts: { blocks: [2, 0], count: 3, noop: 2, capacity: 0.2, hidden: 12 } },
    { ...ok, experts: { noop: null, capacity: null, routing: null, causal: null } },
    { ...ok, experts: { predictor: {}, zLoss: { weight: 0.001 } } },
    { ...ok, experts: { predictor: { hidden: 3, weight: 0.5 }, causal: "threshold", auxLoss: null } },
    { ...ok, experts: { routing: "token-choice", noop: 1 } },
    { ...ok, experts: { routing: "token-choice", balanceLoss: null, auxLoss: null, predictor: null } },
    { ...ok, experts: { routing: "token-choice", balanceLoss: { weight: 0.1 } } },
    { ...ok, routing: { blocks: "every-other", capacity: 0.5 }, experts: { blocks: "every-other", count: 2, capacity: 1 } },
    { ...ok, experts: { blocks: "none" } },
    { ...ok, experts: { count: 1 } },
    // invalid, one field each
    null,
    [],
    { ...ok, vocab: 3 },
    { ...ok, vocabSize: 0 },
    { ...ok, vocabSize: 1.5 },
    { ...ok, vocabSize: "32" },
    { ...ok, dModel: true },
    { ...ok, nHeads: 3 },
    { ...ok, nLayers: 10001 },
    { ...ok, vocabSize: 2 ** 21 },
    { ...ok, mlpHidden: 70000 },
    { ...ok, routing: { predictor: { hidden: 70000 } } },
    { ...ok, contextLength: -1 },
    { ...ok, family: "bert" },
    { ...ok, dModel: 18, nHeads: 3 },
    { ...ok, mlpHidden: 0 },
    { ...ok, mlpHidden: null },
    { ...ok, tieEmbeddings: "yes" },
    { ...ok, normEps: 0 },
    { ...ok, ropeBase: 1 },
    { ...ok, routing: [] },
    { ...ok, routing: { blocks: "some" } },
    { ...ok, routing: { blocks: [4] } },
    { ...ok, routing: { blocks: [1, 1] } },
    { ...ok, routing: { blocks: [0.5] } },
    { ...ok, routing: { capacity: 0 } },
    { ...ok, routing: { capacity: 1.5 } },
    { ...ok, routing: { router: "" } },
    { ...ok, routing: { routerOptions: [] } },
    { ...ok, routing: { auxLoss: 1 } },
    { ...ok, routing: { auxLoss: { weight: -1 } } },
    { ...ok, routing: { auxLoss: { w: 1 } } },
    { ...ok, routing: { predictor: { hidden: 0 } } },
    { ...ok, routing: { predictor: { weight: "1" } } },
    { ...ok, routing: { predictor: { hidden: null } } },
    { ...ok, routing: { causal: "always" } },
    { ...ok, routing: { causal: "predictor", predictor: null } },
    { ...ok, routing: { capcity: 0.5 } },
    { ...ok, experts: [] },
    { ...ok, experts: 3 },
    { ...ok, experts: { experts: 4 } },
    { ...ok, experts: { auxLoss: { w: 1 } } },
    { ...ok, experts: { balanceLoss: 2 } },
    { ...ok, experts: { predictor: { size: 2 } } },
    { ...ok, experts: { zLoss: { weight: 1, x: 2 } } },
    { ...ok, experts: { blocks: [4] } },
    { ...ok, experts: { blocks: [1, 1] } },
    { ...ok, experts: { blocks: "odd" } },
    { ...ok, experts: { count: 0 } },
    { ...ok, experts: { count: null } },
    { ...ok, experts: { count: 2.5 } },
    { ...ok, experts: { noop: -1 } },
    { ...ok, experts: { noop: 0.5 } },
    { ...ok, experts: { capacity: 0 } },
    { ...ok, experts: { capacity: 1.01 } },
    { ...ok, experts: { capacity: "0.5" } },
    { ...ok, experts: { hidden: 0 } },
    { ...ok, experts: { hidden: null } },
    { ...ok, experts: { routing: "switch" } },
    { ...ok, experts: { routing: "token-choice", auxLoss: { weight: 0.1 } } },
    { ...ok, experts: { balanceLoss: { weight: 0.1 } } },
    { ...ok, experts: { auxLoss: { weight: -1 } } },
    { ...ok, experts: { routing: "token-choice", balanceLoss: { weight: "x" } } },
    { ...ok, experts: { routing: "token-choice", predictor: {} } },
    { ...ok, experts: { predictor: { hidden: 0 } } },
    { ...ok, experts: { predictor: { weight: -2 } } },
    { ...ok, experts: { causal: "always" } },
    { ...ok, experts: { causal: "predictor" } },
    { ...ok, experts: { zLoss: {} } },
    { ...ok, experts: { zLoss: { weight: -1 } } },
    { ...ok, nHeads: 3, experts: { count: 0 } },
    { ...ok, routing: { causal: "x" }, experts: { count: 0 } },
  ];
  const cases = configs.map((config) => {
    try {
      return { config, resolved: resolveModelConfig(config) };
    } catch (e) {
      return { config, error: e.message, field: e.field };
    }
  });
  writeFileSync(join(out, "config-cases.json"), JSON.stringify(cases));
}

writeConfigCases();
for (const [name, c] of Object.entries(CASES)) writeCase(name, c);
console.log(`write-fixtures: ${Object.keys(CASES).length} cases, config cases and checkpoints in ${out}`);
