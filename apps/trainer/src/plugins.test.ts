// Router plugins: a module's register(registry) adds kinds to the registry the trainer
// validates against; every failure is one clear line (a ConfigInvalid: exit 2).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { listRouters } from "@mixdepth/router";
import { ConfigInvalid, loadConfig, parseSet } from "./config.js";
import { loadPlugins } from "./plugins.js";

const dir = mkdtempSync(join(tmpdir(), "mixdepth-plugins-"));
const write = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));

describe("loadPlugins", () => {
  it("calls register(registry); the kind and its declared option check then validate configs", async () => {
    const path = write(
      "ok.mjs",
      `export function register(registry) {
        registry.registerRouter("plug", () => { throw new Error("not built in this test"); }, {
          validateOptions: (o) => { for (const k of Object.keys(o)) if (k !== "alpha") throw new Error("routing.routerOptions." + k + ": unknown"); },
          cost: (c) => ({ params: c.dModel, flopsPerToken: 4 * c.dModel }),
        });
      }`,
    );
    expect(() => loadConfig({ overrides: [parseSet("model.routing.router=plug")] })).toThrow(/unknown router kind/);
    expect(await loadPlugins([path])).toEqual([{ plugin: path, kinds: ["plug"] }]);
    expect(await loadPlugins([path])).toEqual([]); // once per module
    expect(listRouters()).toContain("plug");
    const v = loadConfig({ overrides: [parseSet("model.routing.router=plug"), parseSet("model.routing.routerOptions.alpha=1")] });
    expect(typeof v.routerCost === "function" && v.routerCost(1)).toEqual({ params: 128, flopsPerToken: 512 });
    expect(() => loadConfig({ overrides: [parseSet("model.routing.router=plug"), parseSet("model.routing.routerOptions.beta=1")] })).toThrow(
      /model\.routing\.routerOptions: rejected by the "plug" router: routing\.routerOptions\.beta: unknown/,
    );
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
  ])("%s is one clear ConfigInvalid line", async (_case, spec, message) => {
    const err = await loadPlugins([spec]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigInvalid);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toMatch(/\n/);
  });
});
