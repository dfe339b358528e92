// The training kit as a user meets it (issue 13, first acceptance bullet). In the fresh npm
// project where the tarballs are installed: run the @mixdepth/train README's training loop as
// written (transpiled by that project's own TypeScript; its loss must fall), then load a
// custom router as a plugin (the repository's examples/custom-router, largest-L2-norm tokens,
// built) with @mixdepth/train/node's loadPlugins, train a model that routes with it through
// the kit's one trainStep on 2 data-parallel ranks (the workers load the plugin too) until its
// loss falls, save, load and sample with streamed text that must equal the decoded tokens.
import { execFile } from "node:child_process";
import { copyFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The fenced `ts` blocks of a README, in order. */
export function tsBlocks(markdown) {
  return [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
}

/** The losses of the "step N: loss X, ..." lines of a program's output, in order. */
export function printedLosses(output) {
  return output.split("\n").flatMap((l) => /^step \d+: loss ([\d.]+)/.exec(l)?.[1] ?? []).map(Number);
}

/** Why `losses` is not a falling loss (fewer than two, or one not below the one before), or null. */
export function fallingLossProblem(losses, what) {
  if (losses.length < 2) return `${what}: printed ${losses.length} loss line(s), expected at least 2`;
  for (let i = 1; i < losses.length; i++) {
    if (!(losses[i] < losses[i - 1])) return `${what}: the loss did not fall (${losses.join(" -> ")})`;
  }
  return null;
}

// Trains with a custom router registered from outside the packages, through their public API only.
const ROUTER_PROGRAM = `
import * as tf from "@tensorflow/tfjs";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setupBackend } from "@mixdepth/backend";
import { generateStream, greedy } from "@mixdepth/sampler";
import { createTransformer } from "@mixdepth/transformer";
import { loadModel, saveModel } from "@mixdepth/transformer/node";
import { byteTokenizer } from "@mixdepth/text";
import { AdamW, Mulberry32, decayRule, randomBatch, trainableWeights, trainStep } from "@mixdepth/train";
import { DataParallel, liveWorkers, loadPlugins } from "@mixdepth/train/node";

console.log((await setupBackend()).line);
const plugin = join(process.cwd(), "l2-norm-router.mjs");
console.log("plugin: " + JSON.stringify(await loadPlugins([plugin])));
const before = tf.memory().numTensors;
const tok = byteTokenizer();
const data = tok.encode("a custom router picks the tokens each block processes. ".repeat(40));
const [B, S, steps] = [8, 32, 60];
const modelConfig = { vocabSize: 256, dModel: 64, nHeads: 4, nLayers: 2, contextLength: S, routing: { blocks: [1], capacity: 0.5, router: "l2-norm", auxLoss: null, predictor: null } };
const model = createTransformer(modelConfig, { seed: 0 });
const params = trainableWeights(model);
if (![...params.keys()].some((n) => n.startsWith("blocks.1.router"))) throw new Error("the l2-norm router has no trainable weight: " + [...params.keys()].join(", "));
const opt = new AdamW(params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, decay: decayRule({ decayEmbeddings: false, decayNormsAndBiases: false }) });
const rng = new Mulberry32(1);
const settings = { batchSize: B, seqLen: S, gradAccum: 1, gradClip: 1, lr: 1e-2, minLr: 1e-3, warmupSteps: 3, steps };
const dp = await DataParallel.start(model, params, { ranks: 2, config: modelConfig, seed: 0, backend: tf.getBackend(), plugins: [plugin] });
try {
  for (let step = 0; step < steps; step++) {
    const nextBatch = () => randomBatch(data, B, S, rng);
    const r = await trainStep({ model, params, optimizer: opt, nextBatch, lossAndGrads: (b, rows, s) => dp.step(b, rows, s) }, settings, step);
    if (step % 20 === 19) console.log("step " + (step + 1) + ": loss " + r.loss.toFixed(3) + " on " + dp.ranks + " ranks");
  }
} finally {
  await dp.close();
}
if (liveWorkers() !== 0) throw new Error(liveWorkers() + " worker threads left running");
opt.dispose();
const dir = join(mkdtempSync(join(tmpdir(), "mixdepth-kit-")), "ck");
// saveModel keeps weights, config and router state (the calibrated causal threshold); loadModel restores all three.
const trainedState = JSON.stringify(model.getRouterStates());
saveModel(dir, model, { tokenizer: tok.toJSON() });
model.dispose();
const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
if (config.model.routing.router !== "l2-norm") throw new Error("config.json: routing.router is " + config.model.routing.router);
const loaded = loadModel(dir);
if (JSON.stringify(loaded.getRouterStates()) !== trainedState) throw new Error("router state not restored: " + JSON.stringify(loaded.getRouterStates()) + " vs " + trainedState);
console.log("router state: " + JSON.stringify(loaded.getRouterStates()));
const decoder = tok.decoder();
let streamed = "";
const ids = [];
const gen = generateStream(loaded, Array.from(tok.encode("a custom")), { maxNewTokens: 24, processors: [greedy()] });
for await (const e of gen) {
  ids.push(e.tokens[0]);
  streamed += decoder.push(e.tokens[0]);
}
streamed += decoder.flush();
if (streamed !== tok.decode(ids)) throw new Error("streamed text " + JSON.stringify(streamed) + " is not the decoded tokens " + JSON.stringify(tok.decode(ids)));
console.log("sample: " + JSON.stringify("a custom" + streamed));
loaded.dispose();
rmSync(dir, { recursive: true, force: true });
if (tf.memory().numTensors !== before) throw new Error((tf.memory().numTensors - before) + " tensors leaked");
`;

/**
 * Runs both programs in `dir` (a project with the tarballs, @tensorflow/tfjs and typescript
 * installed). `readme` is the kit README's text, `routerModule` the built ESM file of the
 * custom router example. Returns their output; throws naming what failed.
 */
export async function runKitExample({ dir, readme, routerModule }) {
  const block = tsBlocks(readme)[0];
  if (!block) throw new Error("the @mixdepth/train README has no ts block");
  const opts = { cwd: dir, maxBuffer: 1 << 24 };
  const fail = (what) => (e) => {
    throw new Error(`${what} failed:\n${e.stdout ?? ""}${e.stderr ?? e.message}`);
  };
  await writeFile(join(dir, "kit-readme.ts"), block);
  await writeFile(
    join(dir, "transpile.cjs"),
    'const ts = require("typescript"); const fs = require("fs");\n' +
      'const src = fs.readFileSync("kit-readme.ts", "utf8");\n' +
      'fs.writeFileSync("kit-readme.mjs", ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText);\n',
  );
  await run("node", ["transpile.cjs"], opts).catch(fail("transpiling the kit README example"));
  const readmeRun = await run("node", ["kit-readme.mjs"], opts).catch(fail("the kit README example"));
  const readmeProblem = fallingLossProblem(printedLosses(readmeRun.stdout), "kit README example");
  if (readmeProblem) throw new Error(`${readmeProblem}\n${readmeRun.stdout}`);
  await copyFile(routerModule, join(dir, "l2-norm-router.mjs"));
  await writeFile(join(dir, "kit-router.mjs"), ROUTER_PROGRAM);
  const routerRun = await run("node", ["kit-router.mjs"], opts).catch(fail("training with a custom router"));
  const routerProblem = fallingLossProblem(printedLosses(routerRun.stdout), "custom router training");
  if (routerProblem) throw new Error(`${routerProblem}\n${routerRun.stdout}`);
  return { readmeOutput: readmeRun.stdout, routerOutput: routerRun.stdout };
}
