// `mixdepth compare` honours the config's routing (capacity, blocks, router) or refuses it
// with a message, before anything runs; FLOPs per step count each router's declared cost.
import { describe, expect, it } from "vitest";
import { flopsPerStep } from "@mixdepth/flops-accounting";
import { ConfigInvalid, loadConfig, parseSet } from "./config.js";
import { planCompare } from "./commands.js";

const compare = (...sets: string[]) => loadConfig({ preset: "compare", overrides: sets.map(parseSet) });

describe("planCompare", () => {
  it("keeps --set model.routing.capacity=0.5 (the planner used to overwrite it with 0.125)", () => {
    const plan = planCompare(compare("model.routing.capacity=0.5"), undefined);
    expect(plan.variants.map((v) => v.name)).toEqual(["dense", "mod", "stochastic"]);
    const [, mod, stochastic] = plan.variants;
    expect(mod!.valid.model.routing.capacity).toBe(0.5);
    expect(stochastic!.valid.model.routing.capacity).toBe(0.5);
    expect(mod!.valid.model.routing.blocks).toEqual([1, 3]);
  });

  it("keeps routed blocks and router options", () => {
    const plan = planCompare(compare("model.routing.blocks=[0, 2]", "model.routing.routerOptions.initStd=0.02"), undefined);
    const mod = plan.variants[1]!.valid.model.routing;
    expect(mod).toMatchObject({ blocks: [0, 2], router: "learned", routerOptions: { initStd: 0.02 } });
    expect(plan.variants[2]!.valid.model.routing).toMatchObject({ blocks: [0, 2], router: "stochastic", routerOptions: {} });
  });

  it("gives each variant the steps its declared cost buys within the budget", () => {
    const plan = planCompare(compare(), 1e13);
    for (const v of plan.variants) {
      const per = flopsPerStep(v.valid.model, { ...plan.setting, routerCost: v.valid.routerCost });
      expect(v.steps * per).toBeLessThanOrEqual(1e13);
      expect((v.steps + 1) * per).toBeGreaterThan(1e13);
    }
    const [, mod, stochastic] = plan.variants;
    expect(stochastic!.steps).toBeGreaterThan(mod!.steps); // the control declares no router cost
  });

  it("refuses what it cannot compare, naming the field", () => {
    expect(() => planCompare(compare("model.routing.blocks=none"), undefined)).toThrow(ConfigInvalid);
    expect(() => planCompare(compare("model.routing.blocks=none"), undefined)).toThrow(/model\.routing\.blocks: compare needs routed blocks .*\(got "none"\)/);
    expect(() => planCompare(compare("model.routing.router=stochastic"), undefined)).toThrow(/model\.routing\.router: is the control variant/);
  });
});
