// Router plugins in the CLI's config path: after @mixdepth/train/node's loadPlugins, a
// plugin's kind, its declared option check and its cost are what validates a config; a
// plugin that fails is an input error (exit 2) on one line.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPlugins } from "@mixdepth/train/node";
import { loadConfig, parseSet } from "./config.js";
import { describeError, EXIT } from "./errors.js";

const dir = mkdtempSync(join(tmpdir(), "mixdepth-plugins-"));

describe("plugins and the config", () => {
  it("the plugin's kind and its declared option check then validate configs", async () => {
    const path = join(dir, "ok.mjs");
    writeFileSync(
      path,
      `export function register(registry) {
        registry.registerRouter("plug", () => { throw new Error("not built in this test"); }, {
          validateOptions: (o) => { for (const k of Object.keys(o)) if (k !== "alpha") throw new Error("routing.routerOptions." + k + ": unknown"); },
          cost: (c) => ({ params: c.dModel, flopsPerToken: 4 * c.dModel }),
        });
      }`,
    );
    expect(() => loadConfig({ overrides: [parseSet("model.routing.router=plug")] })).toThrow(/unknown router kind/);
    expect(await loadPlugins([path])).toEqual([{ plugin: path, kinds: ["plug"] }]);
    const v = loadConfig({ overrides: [parseSet("model.routing.router=plug"), parseSet("model.routing.routerOptions.alpha=1")] });
    expect(typeof v.routerCost === "function" && v.routerCost(1)).toEqual({ params: 128, flopsPerToken: 512 });
    expect(() => loadConfig({ overrides: [parseSet("model.routing.router=plug"), parseSet("model.routing.routerOptions.beta=1")] })).toThrow(
      /model\.routing\.routerOptions: rejected by the "plug" router: routing\.routerOptions\.beta: unknown/,
    );
  });

  it("a plugin that cannot load exits 2 with its one line", async () => {
    const err = await loadPlugins([join(dir, "missing.mjs")]).catch((e: unknown) => e);
    const d = describeError(err, false);
    expect(d.code).toBe(EXIT.input);
    expect(d.lines).toEqual([expect.stringMatching(/^error: plugin ".*missing\.mjs": cannot find it/)]);
  });
});
