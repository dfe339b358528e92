// Gradient accumulation: the gradients of several micro-batches averaged into the gradient of
// one larger batch (nanoGPT's gradient_accumulation_steps), so a batch that does not fit in
// memory still trains with the same effective batch size. Summed in the order added, then
// divided once: the same numbers as the sum of the micro-batch losses divided by their count.
import * as tf from "@tensorflow/tfjs-core";

/** Owns the running sum (tensors); call dispose() if you abandon it before mean(). */
export class GradientAccumulator {
  private sum: Map<string, tf.Tensor> | null = null;
  private n = 0;

  /** Micro-batches added since the last mean(). */
  get count(): number {
    return this.n;
  }

  /** Adds one micro-batch's gradients (copied: the caller still owns and disposes `grads`). */
  add(grads: Map<string, tf.Tensor>): void {
    if (!this.sum) {
      this.sum = new Map([...grads].map(([k, g]) => [k, tf.clone(g)]));
    } else {
      if (grads.size !== this.sum.size) throw new RangeError(`GradientAccumulator: got ${grads.size} gradients, the first micro-batch had ${this.sum.size}`);
      for (const [k, g] of grads) {
        const prev = this.sum.get(k);
        if (!prev) throw new RangeError(`GradientAccumulator: gradient "${k}" was not in the first micro-batch`);
        this.sum.set(k, tf.add(prev, g));
        prev.dispose();
      }
    }
    this.n += 1;
  }

  /** The mean of the added gradients (caller owns it); the accumulator starts over. */
  mean(): Map<string, tf.Tensor> {
    if (!this.sum) throw new RangeError("GradientAccumulator: mean() before any add()");
    const sum = this.sum;
    const n = this.n;
    this.sum = null;
    this.n = 0;
    if (n === 1) return sum;
    const out = new Map<string, tf.Tensor>();
    for (const [k, g] of sum) {
      out.set(k, tf.div(g, n));
      g.dispose();
    }
    return out;
  }

  dispose(): void {
    if (this.sum) tf.dispose([...this.sum.values()]);
    this.sum = null;
    this.n = 0;
  }
}
