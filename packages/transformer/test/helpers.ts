// Test-only routers registered through the public registry, a host-readback counter, and
// seeded redrawn weights.
import * as tf from "@tensorflow/tfjs";
import { registerRouter, thresholdRoute, topkRoute, type Router, type RouterContext } from "@mixdepth/router";
import type { Transformer } from "../src/index.js";

/** A weightless router whose score of token i in a sequence of S is `score(i, S)`. */
class PatternRouter implements Router {
  constructor(
    readonly kind: string,
    private readonly score: (i: number, s: number) => number,
  ) {}
  private scoresFor(x: tf.Tensor3D): tf.Tensor2D {
    const [b, s] = x.shape;
    const row = Array.from({ length: s }, (_, i) => this.score(i, s));
    return tf.tensor2d(Array.from({ length: b }, () => row).flat(), [b, s]);
  }
  route(x: tf.Tensor3D, k: number) {
    return topkRoute(this.scoresFor(x), k);
  }
  routeCausal(x: tf.Tensor3D) {
    return thresholdRoute(this.scoresFor(x));
  }
  weights() {
    return new Map<string, tf.Variable>();
  }
  toJSON() {
    return { kind: this.kind, options: {} };
  }
  dispose() {}
}

/** "ones": every score 1 (all ties). "scrambled": score 1 + ((5 i) mod S) / S, which picks uneven, non-contiguous positions. */
export function registerTestRouters(): void {
  registerRouter("ones", (_c: RouterContext) => new PatternRouter("ones", () => 1), { override: true });
  registerRouter("scrambled", (_c: RouterContext) => new PatternRouter("scrambled", (i, s) => 1 + ((5 * i) % s) / s), { override: true });
}

/**
 * Counts host readbacks (every path from a tensor's data to the host goes through the
 * engine's readSync or read: dataSync, arraySync, data, array) while `fn` runs.
 */
export async function countReadbacks<T>(fn: () => T | Promise<T>): Promise<{ result: T; readbacks: number }> {
  const engine = tf.engine() as unknown as { readSync: (...a: unknown[]) => unknown; read: (...a: unknown[]) => unknown };
  const { readSync, read } = engine;
  let readbacks = 0;
  engine.readSync = function (this: unknown, ...a: unknown[]) {
    readbacks++;
    return readSync.apply(this, a);
  };
  engine.read = function (this: unknown, ...a: unknown[]) {
    readbacks++;
    return read.apply(this, a);
  };
  try {
    const result = await fn();
    return { result, readbacks };
  } finally {
    engine.readSync = readSync;
    engine.read = read;
  }
}

/**
 * Redraws every weight N(0, std) (gains 1 + N(0, std)), seeded, so that attention and routing
 * change the logits by far more than a 1e-4 tolerance (at the default init, std 0.02, a wrong
 * cache could hide below it) and routers both route and skip.
 */
export function redrawWeights(model: Transformer, seed: number, std = 0.4): void {
  let a = (seed * 2654435761) >>> 0;
  const uniform = () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return (a + 0.5) / 4294967296;
  };
  const fresh = new Map<string, tf.Tensor>();
  for (const [name, v] of model.getWeights()) {
    const data = Float32Array.from({ length: v.size }, () => {
      const g = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()) * std;
      return name.endsWith(".g") ? 1 + g : g;
    });
    fresh.set(name, tf.tensor(data, v.shape));
  }
  model.setWeights(fresh);
  tf.dispose([...fresh.values()]);
}
