// Small seeded PRNG (mulberry32) for reproducible initialisation and stochastic routing,
// identical on every backend because it runs on the host.
/**
 * mulberry32 with its 32-bit state exposed, so a router can save where its stream is and a
 * resumed run continues it exactly. `next` is bound: pass it around as a `() => number`.
 */
export class Mulberry32 {
  private a: number;

  constructor(seed: number) {
    this.a = seed >>> 0;
  }

  /** The generator's whole state: an unsigned 32-bit integer. */
  get state(): number {
    return this.a;
  }

  set state(value: number) {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new RangeError(`rng state: must be an unsigned 32-bit integer (got ${JSON.stringify(value)})`);
    }
    this.a = value;
  }

  readonly next = (): number => {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded uniform source on [0, 1) (mulberry32), identical on every backend. */
export function mulberry32(seed: number): () => number {
  return new Mulberry32(seed).next;
}

/** Standard normal samples (Box-Muller) from a uniform source. */
export function gaussian(rand: () => number, n: number, std = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v) * std;
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v) * std;
  }
  return out;
}
