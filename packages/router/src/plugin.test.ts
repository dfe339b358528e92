// The plugin contract as a type users implement: a RouterPlugin registers its kind through
// the registry it is handed (not through its own import of the package).
import { describe, expect, it } from "vitest";
import { expectNoLeaks } from "@mixdepth/vitest-config/tf";
import * as api from "./index.js";
import type { RouterPlugin, RouterRegistry } from "./index.js";

describe("RouterPlugin", () => {
  it("registers through the registry it is given", async () => {
    const seen: string[] = [];
    const plugin: RouterPlugin = {
      register(registry) {
        seen.push(...registry.listRouters());
        registry.registerRouter("stochastic", api.createStochasticRouter);
      },
    };
    const registry: RouterRegistry = api.routerRegistry();
    await plugin.register(registry);
    expect(seen).toEqual([]); // nothing registered before: the plugin saw the same registry
    expect(api.listRouters()).toEqual(["stochastic"]);
    const config = { dModel: 4, layerIndex: 0, auxLoss: null, predictor: null, options: {}, seed: 0 };
    await expectNoLeaks(() => {
      const r = api.createRouter("stochastic", config);
      expect(r.kind).toBe("stochastic");
      r.dispose();
    });
    expect(api.unregisterRouter("stochastic")).toBe(true);
  });
});
