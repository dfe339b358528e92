// The worker side of data-parallel.ts: one rank > 0. It loads its own single-threaded tfjs
// backend (the one rank 0 runs on), the run's router plugins and a model replica, then per
// request: loads rank 0's weights from the shared buffer and its router states, computes the loss and gradients of
// its rows, writes the gradients into its own shared buffer and replies with lm and aux.
// Every failure is replied as { type: "error" } with its message: rank 0 names the rank.
import { parentPort, workerData } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs-core";
import { setupBackend } from "@mixdepth/backend";
import { createTransformer, type Transformer } from "@mixdepth/transformer";
import { threadCpuMs, type StepRequest, type WorkerInit, type WorkerReply } from "./data-parallel.js";
import { trainableWeights } from "./grads.js";
import { loadPlugins } from "./plugins.js";
import { lossAndGrads } from "./train-step.js";

const init = workerData as WorkerInit;
if (!parentPort) throw new Error("data-parallel-worker.js runs as a worker thread of data-parallel.ts, not on its own");
const port = parentPort;
const reply = (m: WorkerReply) => port.postMessage(m);
const message = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0] as string;

// No top-level await: the package's CommonJS build bundles this entry too.
async function main(): Promise<void> {
  let model: Transformer;
  let params: Map<string, tf.Variable>;
  try {
    // Rank 0 has printed tfjs's one-time notices already (e.g. the cpu backend's "install the
    // node backend" banner); in tfjs 4.22 the PROD flag only silences those console notices.
    tf.env().set("PROD", true);
    await setupBackend({ backend: init.backend });
    await loadPlugins(init.plugins, init.cwd);
    model = createTransformer(init.config, { seed: init.seed });
    params = trainableWeights(model);
    const names = (xs: [string, unknown][]) => xs.map(([n]) => n).join(",");
    if (names([...params]) !== names(init.gradLayout) || names([...model.getWeights()]) !== names(init.weightLayout)) {
      throw new Error("the replica's weights differ from rank 0's (names or order)");
    }
    reply({ type: "ready" });
  } catch (e) {
    reply({ type: "error", message: `start: ${message(e)}` });
    throw e;
  }

  const weights = new Float32Array(init.weights);
  const grads = new Float32Array(init.grads);
  let calls = 0;

  port.on("message", (m: StepRequest) => {
    try {
      calls += 1;
      const t0 = performance.now();
      if (m.loadWeights) {
        const loaded = new Map<string, tf.Tensor>();
        let off = 0;
        for (const [name, shape] of init.weightLayout) {
          const n = shape.reduce((a, b) => a * b, 1);
          // slice(): a private copy; a tensor must not alias memory rank 0 rewrites.
          loaded.set(name, tf.tensor(weights.slice(off, off + n), shape, "float32"));
          off += n;
        }
        try {
          model.setWeights(loaded); // copies the values
        } finally {
          tf.dispose([...loaded.values()]);
        }
      }
      model.setRouterStates(m.routerStates);
      const t1 = performance.now();
      const cpu1 = threadCpuMs();
      if (init.faults.workerThrowAtCall === calls) throw new Error(`injected fault at call ${calls}`);
      const r = lossAndGrads(model, params, { inputs: m.inputs, targets: m.targets }, m.rows, m.seqLen, m.options);
      let at = 0;
      for (const g of r.grads.values()) {
        const d = g.dataSync() as Float32Array;
        grads.set(d, at);
        at += d.length;
      }
      tf.dispose([...r.grads.values()]);
      reply({ type: "done", lm: r.lm, aux: r.aux, blockTokens: r.passes?.[0]?.blockTokens ?? [], routing: r.routing ?? null, loadMs: t1 - t0, computeMs: performance.now() - t1, computeCpuMs: threadCpuMs() - cpu1 });
    } catch (e) {
      reply({ type: "error", message: `step: ${message(e)}` });
    }
  });
}

void main();
