// The registry: nothing registered on import, built-ins through the public calls,
// override/unregister, and rebuilding a router from its JSON. (Each test file runs in its
// own process, so this file sees the registry exactly as an importer does.)
import { describe, expect, it } from "vitest";
import { expectNoLeaks, maxAbsDiff } from "@mixdepth/vitest-config/tf";
import { ConfigError, resolveModelConfig } from "@mixdepth/core";
import { forwardFlops, paramCounts } from "@mixdepth/flops-accounting";
import * as api from "./index.js";
import type { Router, RouterContext } from "./router.js";

const { createRouter, listRouters, registerBuiltinRouters, registerRouter, unregisterRouter } = api;

const ctx: RouterContext = { dModel: 4, layerIndex: 2, auxLoss: { weight: 0.01 }, predictor: { hidden: 2, weight: 1 }, options: { initStd: 0.3 }, seed: 9 };

describe("router registry", () => {
  it("registers nothing on import", () => {
    expect(listRouters()).toEqual([]);
    expect(() => createRouter("learned", ctx)).toThrow(/registered: none \(call registerBuiltinRouters\(\) first\)/);
  });

  it("registerBuiltinRouters is idempotent and keeps a user override", () => {
    const mine = (c: RouterContext): Router => {
      const inner = api.createStochasticRouter({ ...c, options: {} });
      return {
        kind: "learned",
        route: (x, k) => inner.route(x, k),
        routeCausal: (x, mode) => inner.routeCausal(x, mode),
        weights: () => new Map(),
        toJSON: () => ({ kind: "learned", options: {} }),
        dispose: () => inner.dispose(),
      };
    };
    registerRouter("learned", mine);
    registerBuiltinRouters();
    registerBuiltinRouters();
    expect(listRouters()).toEqual(["learned", "stochastic"]);
    const r = createRouter("learned", ctx);
    expect(r.weights().size).toBe(0); // still the user's factory
    r.dispose();
    registerRouter("learned", api.createLearnedRouter, { override: true });
    const l = createRouter("learned", ctx);
    expect([...l.weights().keys()]).toContain("w");
    l.dispose();
  });

  it("unregisterRouter removes a kind and says whether it was there", () => {
    registerRouter("tmp", api.createLearnedRouter);
    expect(unregisterRouter("tmp")).toBe(true);
    expect(unregisterRouter("tmp")).toBe(false);
    expect(listRouters()).not.toContain("tmp");
  });

  it("rejects a factory whose router reports another kind, without leaking its weights", async () => {
    registerRouter("liar", api.createLearnedRouter); // builds kind "learned"
    await expectNoLeaks(() => {
      expect(() => createRouter("liar", ctx)).toThrow(/router factory for "liar" returned a router of kind "learned"/);
    });
    unregisterRouter("liar");
  });

  it("rebuilds a learned router from toJSON() with the same seed: same weights", async () => {
    registerBuiltinRouters();
    const a = createRouter("learned", ctx);
    const json = JSON.parse(JSON.stringify(a.toJSON())) as api.RouterJSON;
    expect(json).toEqual({ kind: "learned", options: { initStd: 0.3 } });
    const b = createRouter(json.kind, { ...ctx, options: json.options });
    await expectNoLeaks(() => {
      for (const [name, v] of a.weights()) expect(maxAbsDiff(v, b.weights().get(name)!)).toBe(0);
    });
    a.dispose();
    b.dispose();
  });

  it("validates learned router options, naming the field", () => {
    registerBuiltinRouters();
    expect(() => createRouter("learned", { ...ctx, options: { initStd: -1 } })).toThrow(/routing\.routerOptions\.initStd: must be a number >= 0 \(got -1\)/);
    expect(() => createRouter("learned", { ...ctx, options: { initstd: 0.1 } })).toThrow(/routing\.routerOptions\.initstd: unknown option of the learned router \(known: initStd, activation, alpha\)/);
  });

  it("checkRouterConfig: unknown kind and bad options are ConfigErrors, before any tensor exists", async () => {
    unregisterRouter("learned"); // an earlier test overrode it with a bare factory
    registerBuiltinRouters();
    const cfg = (routing: object) => resolveModelConfig({ vocabSize: 8, dModel: 4, nHeads: 2, nLayers: 2, contextLength: 4, routing: { blocks: "all", ...routing } });
    await expectNoLeaks(() => {
      expect(() => api.checkRouterConfig(cfg({ router: "nope" }))).toThrow(/^routing\.router: unknown router kind; registered: learned, stochastic \(got "nope"\)$/);
      expect(() => api.checkRouterConfig(cfg({ routerOptions: { initstd: 1 } }))).toThrow(ConfigError);
      expect(() => api.checkRouterConfig(cfg({ routerOptions: { initstd: 1 } }))).toThrow("routing.routerOptions.initstd: unknown option of the learned router (known: initStd, activation, alpha) (got 1)");
      expect(() => api.checkRouterConfig(cfg({ router: "stochastic", routerOptions: { seed: 1 } }))).toThrow("routing.routerOptions.seed: unknown option of the stochastic router (known: scale) (got 1)");
      expect(() => api.checkRouterConfig(cfg({ routerOptions: { initStd: 0.5 } }))).not.toThrow();
      expect(() => api.checkRouterConfig(cfg({ router: "nope", blocks: "none" }))).not.toThrow(); // dense: no router is built
    });
    // A user kind whose check throws a plain Error: reported for the whole routerOptions.
    registerRouter("picky", api.createLearnedRouter, { validateOptions: () => { throw new Error("needs a colour"); } });
    expect(() => api.checkRouterConfig(cfg({ router: "picky" }))).toThrow('routing.routerOptions: rejected by the "picky" router: needs a colour (got {})');
    unregisterRouter("picky");
  });

  it("routerCost: the declared cost per block, the linear default, and what flops-accounting counts with it", () => {
    registerBuiltinRouters();
    const shape = { vocabSize: 8, dModel: 4, nHeads: 2, nLayers: 2, contextLength: 4 };
    const learned = resolveModelConfig({ ...shape, routing: { blocks: [1], capacity: 0.5 } });
    // w [4,1] + predictor (h = 2): 4 + 8 + 2 + 2 + 1 = 17 params; 2*4 = 8 and 2*(4*2 + 2) = 20 FLOPs per token
    expect(api.routerCost(learned)(1)).toEqual({ params: 17, flopsPerToken: 8, predictorFlopsPerToken: 20 });
    const stochastic = resolveModelConfig({ ...shape, routing: { blocks: [1], capacity: 0.5, router: "stochastic" } });
    expect(api.routerCost(stochastic)(1)).toEqual({ params: 0, flopsPerToken: 0 });
    expect(paramCounts(stochastic, { routerCost: api.routerCost(stochastic) }).blocks[1]!.routing).toBe(0);
    // A kind registered without a cost: the linear default, whatever its name.
    registerRouter("plain", api.createLearnedRouter);
    const plain = resolveModelConfig({ ...shape, routing: { blocks: [1], capacity: 0.5, router: "plain", predictor: null } });
    expect(api.routerCost(plain)(1)).toEqual({ params: 4, flopsPerToken: 8, predictorFlopsPerToken: 0 });
    // A declared cost sees its block's context and reaches forwardFlops: router FLOPs = S x flopsPerToken.
    const seen: api.RouterContext[] = [];
    registerRouter("costly", api.createLearnedRouter, { cost: (c) => (seen.push(c), { params: 3, flopsPerToken: 100 }) });
    const costly = resolveModelConfig({ ...shape, routing: { blocks: [1], capacity: 0.5, router: "costly", routerOptions: { k: 1 } } });
    expect(forwardFlops(costly, { routerCost: api.routerCost(costly) }).blocks[1]).toMatchObject({ router: 400, predictor: 0 });
    expect(seen[0]).toMatchObject({ dModel: 4, layerIndex: 1, capacity: 0.5, options: { k: 1 } });
    expect(() => api.routerCost(resolveModelConfig({ ...shape, routing: { router: "gone" } }))).toThrow(/routing\.router: unknown router kind/);
    expect(() => registerRouter("bad", api.createLearnedRouter, { cost: 3 as never })).toThrow(/cost must be a function/);
    unregisterRouter("plain");
    unregisterRouter("costly");
  });

  it("weightShapes: built-ins declare theirs without allocating, and a router that disagrees is refused", async () => {
    unregisterRouter("learned"); // an earlier test left a user override in place
    registerBuiltinRouters();
    expect([...(api.routerWeightShapes("learned", ctx) ?? [])]).toEqual([
      ["w", [4, 1]],
      ["predictor.w1", [4, 2]],
      ["predictor.b1", [2]],
      ["predictor.w2", [2, 1]],
      ["predictor.b2", [1]],
    ]);
    expect(api.routerWeightShapes("stochastic", ctx)?.size).toBe(0);
    await expectNoLeaks(() => {
      registerRouter("liar", (c) => Object.assign(api.createLearnedRouter(c), { kind: "liar" }), { weightShapes: () => new Map([["w", [5, 1]]]) });
      expect(api.routerWeightShapes("liar", ctx)?.get("w")).toEqual([5, 1]);
      expect(() => createRouter("liar", ctx)).toThrow(/router "liar" created weights w \[4, 1\], predictor\.w1 .*, but its weightShapes declare w \[5, 1\]/);
      unregisterRouter("liar");
    });
    expect(api.routerWeightShapes("liar", ctx)).toBeNull();
  });
});
