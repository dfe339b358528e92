// Shared by the measuring scripts beside it (not tests: they print numbers): the median, and
// process-CPU milliseconds per call of a function whose result is disposed each time.
import * as tf from "@tensorflow/tfjs";

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median process-CPU ms of `reps` calls of `f` after `warmup` untimed ones (f's tensors disposed). */
export function cpuMs(f, reps, warmup) {
  for (let i = 0; i < warmup; i++) tf.dispose(f());
  const times = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    tf.dispose(f());
    const c = process.cpuUsage(c0);
    times.push((c.user + c.system) / 1000);
  }
  return median(times);
}
