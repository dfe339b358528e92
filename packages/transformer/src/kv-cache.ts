// The model's per-block key/value cache (docs/method.md section 4), state for incremental decoding
// through Transformer.forward. Every block has its own entry. A dense block stores every
// token; a routed block stores ONLY the tokens it processed: a skipped token writes no
// key/value there, so later tokens cannot attend to it in that block, exactly as in the
// causal-mode forward pass. Lengths therefore differ from block to block. Within a batch,
// rows that routed fewer tokens carry padding slots that are never attended to.
import * as tf from "@tensorflow/tfjs-core";
import type { KeyValues } from "@mixdepth/mod-block";

export class KVCache {
  private entries: (KeyValues | null)[];
  private consumed = 0;
  private rows: number | null = null;
  private disposed = false;

  /** `nLayers` empty blocks. Usually made by `model.createCache()`. */
  constructor(readonly nLayers: number) {
    if (!Number.isInteger(nLayers) || nLayers < 1) throw new RangeError(`nLayers: must be an integer >= 1 (got ${JSON.stringify(nLayers)})`);
    this.entries = Array.from({ length: nLayers }, () => null);
  }

  private check(layer?: number): void {
    if (this.disposed) throw new Error("KVCache: used after dispose()");
    if (layer !== undefined && (!Number.isInteger(layer) || layer < 0 || layer >= this.nLayers)) {
      throw new RangeError(`KVCache: layer ${layer} out of range [0, ${this.nLayers - 1}]`);
    }
  }

  /** Tokens consumed so far: the original position of the next token. */
  get position(): number {
    this.check();
    return this.consumed;
  }

  /** Batch size the cache holds (fixed by its first use), or null while empty. */
  get batch(): number | null {
    return this.rows;
  }

  /** The entry of block `layer` (owned by the cache), or null if it holds no token there. */
  get(layer: number): KeyValues | null {
    this.check(layer);
    return this.entries[layer] ?? null;
  }

  /** Slots stored at `layer` per row: for a routed block, the tokens it processed (plus padding in batches). */
  length(layer: number): number {
    const e = this.get(layer);
    return e ? e.k.shape[2] : 0;
  }

  /** Original positions stored at `layer` for batch row `row` (default 0), padding left out. Host data, no readback. */
  positions(layer: number, row = 0): number[] {
    const e = this.get(layer);
    if (!e) return [];
    const t = e.k.shape[2];
    const out: number[] = [];
    for (let j = row * t; j < (row + 1) * t; j++) if (!e.valid || e.valid[j]) out.push(e.positions[j] as number);
    return out;
  }

  /** Lengths of every block. */
  lengths(): number[] {
    return this.entries.map((_, i) => this.length(i));
  }

  /** Number of tensors the cache holds (2 per non-empty block: keys and values). */
  get numTensors(): number {
    return this.entries.reduce((n, e) => n + (e ? 2 : 0), 0);
  }

  /** Bytes of keys and values held. */
  get bytes(): number {
    return this.entries.reduce((n, e) => n + (e ? (e.k.size + e.v.size) * 4 : 0), 0);
  }

  /**
   * Used by Transformer.forward after every block ran: replaces the entries (new ones the
   * cache now owns; entries equal to the old ones are kept) and advances the position.
   * @internal
   */
  commit(next: readonly (KeyValues | null)[], batch: number, tokens: number): void {
    this.check();
    next.forEach((e, i) => {
      const old = this.entries[i] ?? null;
      if (e === old) return;
      if (old) tf.dispose([old.k, old.v]);
      this.entries[i] = e;
    });
    this.rows = batch;
    this.consumed += tokens;
  }

  /** Empties every block (frees the tensors); the next token is at position 0 again. */
  clear(): void {
    for (const e of this.entries) if (e) tf.dispose([e.k, e.v]);
    this.entries = this.entries.map(() => null);
    this.consumed = 0;
    this.rows = null;
  }

  dispose(): void {
    if (this.disposed) return;
    this.clear();
    this.disposed = true;
  }
}
