// A per-layer key/value cache for one sequence (docs/method.md section 4). Every block has its
// own entry. A dense block stores every token; a routed block stores ONLY the tokens it
// routed: a skipped token writes no key/value there, so later tokens cannot attend to it
// in that block, exactly as in the causal-mode forward pass. Lengths therefore differ
// from layer to layer (and from sequence to sequence in a batch, which is why the sampler
// keeps one cache per sequence instead of a padded batch).
import * as tf from "@tensorflow/tfjs-core";
import type { KeyValues } from "@mixdepth/mod-block";

export class KVCache {
  private readonly entries: (KeyValues | null)[];
  private disposed = false;

  /** `nLayers` empty layers. */
  constructor(readonly nLayers: number) {
    this.entries = Array.from({ length: nLayers }, () => null);
  }

  private check(layer: number): void {
    if (this.disposed) throw new Error("KVCache: used after dispose()");
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.nLayers) {
      throw new RangeError(`KVCache: layer ${layer} out of range [0, ${this.nLayers - 1}]`);
    }
  }

  /** Keys, values ([1, H, T, hd], rotary applied) and positions ([1, T]) at `layer`, or null if empty. Owned by the cache. */
  get(layer: number): KeyValues | null {
    this.check(layer);
    return this.entries[layer] ?? null;
  }

  /** Number of tokens stored at `layer`: for a routed block, the tokens routed there. */
  length(layer: number): number {
    this.check(layer);
    return this.entries[layer]?.positions.shape[1] ?? 0;
  }

  /** Original positions stored at `layer`, ascending (reads back; for tests and stats). */
  positions(layer: number): number[] {
    const e = this.get(layer);
    return e ? Array.from(e.positions.dataSync()) : [];
  }

  /** Lengths of every layer. */
  lengths(): number[] {
    return this.entries.map((_, i) => this.length(i));
  }

  /**
   * Appends the keys/values of new tokens at `layer` (all later than those stored). The
   * cache copies what it needs; the caller still owns `kv`.
   */
  append(layer: number, kv: KeyValues): void {
    this.check(layer);
    const old = this.entries[layer];
    const next: KeyValues = old
      ? tf.tidy(() => ({
          k: tf.concat([old.k, kv.k], 2) as tf.Tensor4D,
          v: tf.concat([old.v, kv.v], 2) as tf.Tensor4D,
          positions: tf.concat([old.positions, kv.positions], 1) as tf.Tensor2D,
        }))
      : { k: tf.clone(kv.k), v: tf.clone(kv.v), positions: tf.clone(kv.positions) };
    // Kept: append may run inside a caller's tf.tidy, which must not free the cache.
    tf.keep(next.k);
    tf.keep(next.v);
    tf.keep(next.positions);
    if (old) tf.dispose([old.k, old.v, old.positions]);
    this.entries[layer] = next;
  }

  /** Number of tensors the cache holds (3 per non-empty layer). */
  get numTensors(): number {
    return this.entries.reduce((n, e) => n + (e ? 3 : 0), 0);
  }

  /** Bytes of keys and values held (positions excluded). */
  get bytes(): number {
    return this.entries.reduce((n, e) => n + (e ? (e.k.size + e.v.size) * 4 : 0), 0);
  }

  /** Empties every layer (frees the tensors); the cache stays usable. */
  clear(): void {
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i];
      if (e) tf.dispose([e.k, e.v, e.positions]);
      this.entries[i] = null;
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.clear();
    this.disposed = true;
  }
}
