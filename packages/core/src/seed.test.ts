// Known answers for deriveSeed, computed independently by a small Python reimplementation of
// mulberry32 and of the four salts as they stood before deriveSeed (Python integers with
// explicit 32-bit masks; not by this package's code): /usr/bin/python3
// packages/core/scripts/known-answers.py. They pin today's derived seeds, so checkpoints,
// resumed runs and the README's numbers stay valid.
import { describe, expect, it } from "vitest";
import { SEED_PURPOSES, deriveSeed, type SeedPurpose } from "./seed.js";
import { mulberry32 } from "./rng.js";

// [purpose, seed, index, derived seed, first mulberry32 draw from it]
const KNOWN: [SeedPurpose, number, number | undefined, number, number][] = [
  ["top-weights", 0, undefined, 24301, 0.7100320369936526],
  ["top-weights", 1, undefined, 24300, 0.8218776881694794],
  ["top-weights", -1, undefined, 4294942994, 0.5891988985240459],
  ["top-weights", 2147483648, undefined, 2147507949, 0.464399236952886],
  ["stochastic-router", 0, undefined, 1540483477, 0.6892725960351527],
  ["stochastic-router", 42, undefined, 1540483519, 0.8452568033244461],
  ["stochastic-router", -1, undefined, 2754483818, 0.23604620015248656],
  ["stochastic-router", 2147483648, undefined, 3687967125, 0.5387816054280847],
  ["batches", 0, undefined, 763844, 0.3626782039646059],
  ["batches", 1, undefined, 763845, 0.002705036196857691],
  ["batches", -1, undefined, 4294203451, 0.01262517343275249],
  ["batches", 2147483648, undefined, 2148247492, 0.6182877337560058],
  ["block-router", 0, 0, 0, 0.26642920868471265],
  ["block-router", 1, 0, 1000003, 0.926348441047594],
  ["block-router", 42, 3, 42023883, 0.4592285705730319],
  ["block-router", -1, 1, 4293975212, 0.7431006727274507],
  ["block-router", 2147483648, 2, 2147499486, 0.23241822491399944],
  ["block-router", 7, 255, 9019366, 0.48497491073794663],
];

describe("deriveSeed", () => {
  it.each(KNOWN)("%s of seed %d (index %s) is %d", (purpose, seed, index, derived, draw) => {
    expect(deriveSeed(seed, purpose, index)).toBe(derived);
    expect(mulberry32(deriveSeed(seed, purpose, index))()).toBe(draw);
  });

  it("lists its purposes, and different purposes of one seed differ", () => {
    expect(SEED_PURPOSES).toEqual(["top-weights", "block-router", "stochastic-router", "batches"]);
    const of7 = SEED_PURPOSES.map((p) => deriveSeed(7, p, p === "block-router" ? 1 : undefined));
    expect(new Set(of7).size).toBe(4);
  });

  it("rejects a non-integer seed, an unknown purpose and a misplaced index", () => {
    expect(() => deriveSeed(1.5, "batches")).toThrow(/^deriveSeed: seed must be an integer \(got 1\.5\)$/);
    expect(() => deriveSeed(1, "weights" as SeedPurpose)).toThrow(/unknown purpose "weights" \(known: top-weights, block-router, stochastic-router, batches\)/);
    expect(() => deriveSeed(1, "block-router")).toThrow(/"block-router" needs the block index, an integer >= 0 \(got undefined\)/);
    expect(() => deriveSeed(1, "block-router", -1)).toThrow(/\(got -1\)/);
    expect(() => deriveSeed(1, "batches", 2)).toThrow(/"batches" takes no index \(got 2\)/);
  });
});
