// The learning-rate schedule of nanoGPT and most LM recipes: linear warmup, then a cosine
// decay to a floor at the last step. A pure function of the step, so a resumed run gets the
// same rate without saving any schedule state.

export interface Schedule {
  /** Peak learning rate, reached at the end of warmup. */
  lr: number;
  /** Learning rate at the last step (nanoGPT: lr / 10). */
  minLr: number;
  /** Steps of linear warmup (0: start at lr). */
  warmupSteps: number;
  /** Total steps; the cosine ends at step `steps - 1`. */
  steps: number;
}

/**
 * Learning rate of the step with 0-based index `step`: linear warmup lr * (step + 1) / warmup,
 * then cosine from lr down to minLr at the last step (and minLr after it).
 */
export function learningRate(s: Schedule, step: number): number {
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  const decaySteps = Math.max(1, s.steps - s.warmupSteps - 1);
  const progress = Math.min(1, (step - s.warmupSteps) / decaySteps);
  return s.minLr + 0.5 * (s.lr - s.minLr) * (1 + Math.cos(Math.PI * progress));
}
