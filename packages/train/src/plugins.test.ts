// Router plugins: a module's register(registry) adds kinds (and their declared option check
// and cost) to the registry models are built from; every failure is one clear line.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolveModelConfig } from "@mixdepth/core";
import { checkRouterConfig, listRouters, routerCost, routerRegistry } from "@mixdepth/router";
import * as tf from "@tensorflow/tfjs";
import * as tfCore from "@tensorflow/tfjs-core";
import { createTransformer } from "@mixdepth/transformer";
import { expectNoLeaks, useBackend } from "@mixdepth/vitest-config/tf";
import { isPathLike, loadPlugins, PluginError } from "./plugins.js";

const dir = mkdtempSync(join(tmpdir(), "mixdepth-plugins-"));
const write = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));

describe("loadPlugins", () => {
  it("calls register(registry); the kind's declared option check and cost then apply to configs", async () => {
    const path = write(
      "ok.mjs",
      `export function register(registry) {
        registry.registerRouter("plug", () => { throw new Error("not built in this test"); }, {
          validateOptions: (o) => { for (const k of Object.keys(o)) if (k !== "alpha") throw new Error("routing.routerOptions." + k + ": unknown"); },
          cost: (c) => ({ params: c.dModel, flopsPerToken: 4 * c.dModel }),
        });
      }`,
    );
    const config = (routerOptions: Record<string, unknown>) =>
      resolveModelConfig({ vocabSize: 16, dModel: 8, nHeads: 2, nLayers: 2, contextLength: 8, routing: { blocks: [1], capacity: 0.5, router: "plug", routerOptions, auxLoss: null, predictor: null } });
    expect(listRouters()).not.toContain("plug");
    expect(await loadPlugins([path])).toEqual([{ plugin: path, kinds: ["plug"] }]);
    expect(await loadPlugins([path])).toEqual([]); // once per module
    expect(listRouters()).toEqual(["learned", "plug", "stochastic"]); // the built-ins too (sorted)
    expect(() => checkRouterConfig(config({ alpha: 1 }))).not.toThrow();
    expect(routerCost(config({ alpha: 1 }))(1)).toEqual({ params: 8, flopsPerToken: 32 });
    expect(() => checkRouterConfig(config({ beta: 1 }))).toThrow(/routing\.routerOptions\.beta: unknown/);
  });

  it("a plugin outside any node_modules builds its router with the registry's tfjs-core and helpers (no second copy of TensorFlow.js)", async () => {
    // A kind whose score is the block input's first feature; it imports nothing.
    const path = write(
      "outside.mjs",
      `export function register(registry) {
        const { tf } = registry;
        registry.registerRouter("first-feature", (context) => ({
          kind: "first-feature",
          scores: (x) => tf.tidy(() => tf.reshape(tf.slice(x, [0, 0, 0], [-1, -1, 1]), x.shape.slice(0, 2))),
          route(x, k) { return registry.topkRoute(this.scores(x), k); },
          routeCausal(x) { return registry.thresholdRoute(this.scores(x)); },
          weights: () => new Map(),
          toJSON: () => ({ kind: "first-feature", options: context.options }),
          dispose() {},
        }), { weightShapes: () => new Map(), cost: () => ({ params: 0, flopsPerToken: 0 }) });
      }`,
    );
    expect(await loadPlugins([path])).toEqual([{ plugin: path, kinds: ["first-feature"] }]);
    await useBackend("cpu");
    await expectNoLeaks(() => {
      const model = createTransformer({ vocabSize: 16, dModel: 8, nHeads: 2, nLayers: 2, contextLength: 8, routing: { blocks: [1], capacity: 0.5, router: "first-feature", auxLoss: null } }, { seed: 1 });
      expect(model.config.routing.causal).toBe("threshold"); // a custom kind: no default predictor
      const x = tf.tensor2d([[1, 2, 3, 4]], [1, 4], "int32");
      const out = model.forward(x, { routing: "causal" });
      expect(out.logits.shape).toEqual([1, 4, 16]);
      tf.dispose([x, out.logits]);
      model.dispose();
    });
    expect(routerRegistry().tf).toBe(tfCore);
  });

  it("relative paths resolve against the given directory", async () => {
    write("rel.mjs", `export function register(r) { r.registerRouter("plug-rel", () => null); }`);
    expect(await loadPlugins(["./rel.mjs"], dir)).toEqual([{ plugin: "./rel.mjs", kinds: ["plug-rel"] }]);
  });

  it.each<[string, string, RegExp]>([
    ["a missing file", join(dir, "missing.mjs"), /^plugin ".*missing\.mjs": cannot find it/],
    ["a missing package", "no-such-mixdepth-plugin", /^plugin "no-such-mixdepth-plugin": cannot find it/],
    ["no register export", write("none.mjs", "export const x = 1;"), /^plugin ".*none\.mjs": exports no register\(registry\) function$/],
    ["a syntax error", write("broken.mjs", "export function register( {"), /^plugin ".*broken\.mjs": failed to load: /],
    ["register throwing", write("throws.mjs", 'export function register() { throw new Error("boom\\nmore"); }'), /^plugin ".*throws\.mjs": register\(\) failed: boom$/],
    ["a duplicate kind", write("dup.mjs", 'export function register(r) { r.registerRouter("learned", () => null); }'), /register\(\) failed: registerRouter: router kind "learned" is already registered/],
  ])("%s is one clear PluginError line", async (_case, spec, message) => {
    const err = await loadPlugins([spec]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toMatch(/\n/);
  });

  it("tells paths from package names", () => {
    expect(["./a.mjs", "../a.mjs", "/abs/a.mjs", ".", ".."].map(isPathLike)).toEqual([true, true, true, true, true]);
    expect(["@scope/plugin", "plugin", ".hidden.mjs"].map(isPathLike)).toEqual([false, false, false]);
  });
});
