// The data sampler's seeded generator: @mixdepth/core's Mulberry32, whose whole state is one
// 32-bit integer, so a run saves it in its checkpoint and resumes the exact same stream.
import { Mulberry32 } from "@mixdepth/core";

export class Rng extends Mulberry32 {
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** Fisher-Yates shuffle of a copy of `items`. */
export function shuffled<T>(items: readonly T[], rng: Rng): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
