// Derived seeds: every random stream of a run starts from the one user seed, and each purpose
// gets its own stream through deriveSeed(seed, purpose). The table below is the whole list.
// The derivations are the exact expressions the packages used before they were gathered here
// (an XOR with a purpose's salt, or a multiply-add for a block's router), so existing seeds
// give bit-identical weights, routing and data order: checkpoints, resumed runs and the
// README's reproduced numbers stay valid. A new purpose gets a new salt; never change one.

/** What a derived seed is for. */
export type SeedPurpose = "top-weights" | "block-router" | "stochastic-router" | "batches";

const DERIVATIONS: Readonly<Record<SeedPurpose, (seed: number, index: number) => number>> = {
  // The model's top-level weights (embeddings, positions, head); the blocks use the seed itself.
  "top-weights": (seed) => seed ^ 0x5eed,
  // The router of block `index` (every routed block its own, docs/method.md section 8).
  "block-router": (seed, index) => seed * 1000003 + index * 7919,
  // The stochastic router's draws, from its block's router seed.
  "stochastic-router": (seed) => seed ^ 0x5bd1e995,
  // The trainer's batch sampler, from training.seed.
  batches: (seed) => seed ^ 0x0ba7c4,
};

/** The purposes deriveSeed knows, in table order. */
export const SEED_PURPOSES = Object.keys(DERIVATIONS) as readonly SeedPurpose[];

/**
 * The seed of `purpose`'s stream, an unsigned 32-bit integer (what Mulberry32 keeps), from an
 * integer `seed`. `index`: the block, for "block-router" only. Throws a RangeError naming the
 * argument for a non-integer seed, an unknown purpose or a misplaced index.
 */
export function deriveSeed(seed: number, purpose: SeedPurpose, index?: number): number {
  if (!Number.isInteger(seed)) throw new RangeError(`deriveSeed: seed must be an integer (got ${JSON.stringify(seed)})`);
  if (!Object.hasOwn(DERIVATIONS, purpose)) throw new RangeError(`deriveSeed: unknown purpose ${JSON.stringify(purpose)} (known: ${SEED_PURPOSES.join(", ")})`);
  if (purpose === "block-router") {
    if (index === undefined || !Number.isInteger(index) || index < 0) throw new RangeError(`deriveSeed: "block-router" needs the block index, an integer >= 0 (got ${JSON.stringify(index)})`);
  } else if (index !== undefined) {
    throw new RangeError(`deriveSeed: ${JSON.stringify(purpose)} takes no index (got ${JSON.stringify(index)})`);
  }
  return DERIVATIONS[purpose](seed, index ?? 0) >>> 0;
}
