// AdamW with decoupled weight decay (Loshchilov & Hutter; PyTorch's convention
// p <- p - lr * weightDecay * p, then the Adam step) and two parameter groups, decayed and not
// (nanoGPT's: matrices decay; norm gains, biases and embedding tables do not, unless asked).
// The learning rate is an argument of each step so any schedule drives it (./schedule.ts);
// clip gradients before the step (./clip.ts, docs/method.md section 8). Moments and the step
// count are plain data so a checkpoint can restore them exactly.
import * as tf from "@tensorflow/tfjs-core";

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Which weights get weight decay, by name and shape. */
  decay: (name: string, shape: readonly number[]) => boolean;
}

/**
 * Default decay rule: matrices only. Rank-1 weights (norm gains, biases) and the embedding
 * tables (`tok_emb`, `pos_emb`) are not decayed unless asked.
 */
export function decayRule(opts: { decayEmbeddings: boolean; decayNormsAndBiases: boolean }): AdamWOptions["decay"] {
  return (name, shape) => {
    if (name === "tok_emb" || name === "pos_emb") return opts.decayEmbeddings;
    if (shape.length < 2) return opts.decayNormsAndBiases;
    return true;
  };
}

export interface AdamWState {
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

function checkOptions(o: AdamWOptions): void {
  const bad = (field: string, rule: string, v: unknown) => new RangeError(`AdamW: ${field} must be ${rule} (got ${typeof v === "number" ? String(v) : JSON.stringify(v)})`);
  for (const k of ["beta1", "beta2"] as const) {
    const v = o[k];
    if (typeof v !== "number" || !(v >= 0 && v < 1)) throw bad(k, "a number in [0, 1)", v);
  }
  if (typeof o.eps !== "number" || !(o.eps > 0 && Number.isFinite(o.eps))) throw bad("eps", "a finite number > 0", o.eps);
  if (typeof o.weightDecay !== "number" || !(o.weightDecay >= 0 && Number.isFinite(o.weightDecay))) throw bad("weightDecay", "a finite number >= 0", o.weightDecay);
  if (typeof o.decay !== "function") throw bad("decay", "a function (name, shape) => boolean, e.g. decayRule(...)", o.decay);
}

/** Owns its first and second moments (tf.Variables); call dispose(). */
export class AdamW {
  /** Steps taken so far (the t of the bias correction). */
  step = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private readonly decayed = new Set<string>();

  /** Throws a RangeError naming the option and quoting its value when `opts` is not usable. */
  constructor(
    private readonly params: Map<string, tf.Variable>,
    private readonly opts: AdamWOptions,
  ) {
    checkOptions(opts);
    for (const [name, p] of params) {
      // tidy frees the zeros; the variables keep their own copy.
      this.m.set(name, tf.tidy(() => tf.variable(tf.zeros(p.shape), false, `adamw.m.${name}.${p.id}`)));
      this.v.set(name, tf.tidy(() => tf.variable(tf.zeros(p.shape), false, `adamw.v.${name}.${p.id}`)));
      if (opts.weightDecay > 0 && opts.decay(name, p.shape)) this.decayed.add(name);
    }
  }

  /** Names of the weights that get weight decay. */
  decayedNames(): string[] {
    return [...this.decayed];
  }

  /** One update with learning rate `lr`; `grads` must have an entry for every parameter. */
  apply(grads: Map<string, tf.Tensor>, lr: number): void {
    this.step += 1;
    const { beta1: b1, beta2: b2, eps, weightDecay } = this.opts;
    const bc1 = 1 - Math.pow(b1, this.step);
    const bc2 = 1 - Math.pow(b2, this.step);
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (!g) throw new Error(`AdamW: no gradient for "${name}"`);
      const m = this.m.get(name) as tf.Variable;
      const v = this.v.get(name) as tf.Variable;
      tf.tidy(() => {
        const m1 = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
        const v1 = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
        m.assign(m1);
        v.assign(v1);
        const update = tf.div(tf.div(m1, bc1), tf.add(tf.sqrt(tf.div(v1, bc2)), eps));
        const decayed = this.decayed.has(name) ? tf.mul(p, 1 - lr * weightDecay) : p;
        p.assign(tf.sub(decayed, tf.mul(update, lr)));
      });
    }
  }

  getState(): AdamWState {
    const read = (src: Map<string, tf.Variable>) => new Map([...src].map(([k, t]) => [k, t.dataSync() as Float32Array]));
    return { step: this.step, m: read(this.m), v: read(this.v) };
  }

  /** Restores moments and step; every name and size must match. */
  setState(state: AdamWState): void {
    for (const [which, src, dst] of [["m", state.m, this.m], ["v", state.v, this.v]] as const) {
      for (const [name, t] of dst) {
        const data = src.get(name);
        if (!data) throw new Error(`optimizer state: missing ${which} for "${name}"`);
        if (data.length !== t.size) throw new Error(`optimizer state: ${which} of "${name}" has ${data.length} values, expected ${t.size}`);
      }
      for (const name of src.keys()) if (!dst.has(name)) throw new Error(`optimizer state: unknown weight "${name}" in ${which}`);
    }
    for (const [name, t] of this.m) tf.tidy(() => t.assign(tf.tensor(state.m.get(name) as Float32Array, t.shape)));
    for (const [name, t] of this.v) tf.tidy(() => t.assign(tf.tensor(state.v.get(name) as Float32Array, t.shape)));
    this.step = state.step;
  }

  dispose(): void {
    this.m.forEach((t) => t.dispose());
    this.v.forEach((t) => t.dispose());
  }
}
