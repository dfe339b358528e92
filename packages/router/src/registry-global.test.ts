// The ESM and the CommonJS build of this package share one router registry (a global symbol),
// so a kind registered through one is known to the other, as happens when an ES module plugin
// and a CommonJS application (or two copies of the package) meet in one process.
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import type * as api from "./index.js";

type Api = typeof api;

describe("one router registry across builds", () => {
  it("a kind registered through the ESM build is listed, built and removed through the CommonJS build", async () => {
    const esm = (await import(new URL("../dist/index.js", import.meta.url).href)) as Api;
    const cjs = createRequire(import.meta.url)("../dist/index.cjs") as Api;
    expect(cjs.registerRouter).not.toBe(esm.registerRouter); // really two module instances
    esm.registerRouter("both-builds", (c) => esm.createStochasticRouter(c), { weightShapes: () => new Map() });
    try {
      expect(cjs.listRouters()).toContain("both-builds");
      expect(() => cjs.registerRouter("both-builds", (c) => cjs.createStochasticRouter(c))).toThrow(/already registered/);
      expect(cjs.routerWeightShapes("both-builds", { dModel: 4, layerIndex: 0, auxLoss: null, predictor: null, options: {}, seed: 0 })).toEqual(new Map());
    } finally {
      expect(cjs.unregisterRouter("both-builds")).toBe(true);
    }
    expect(esm.listRouters()).not.toContain("both-builds");
  });
});
