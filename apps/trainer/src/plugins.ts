// Router plugins for the CLI (`plugins: [...]` in a config, `--plugin <module>` on the command
// line). A plugin is an ES module that exports `register(registry)`; the trainer calls it with
// the public router registry of @mixdepth/router, so the plugin's kinds land in the registry
// the model is built from even when the plugin has its own copy of the package. Plugins load
// before the config is validated: their kinds and options are checked before any work.
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import * as router from "@mixdepth/router";
import { ConfigInvalid, isPathLike } from "./config.js";

/** What a plugin's `register` receives: the public registry calls of @mixdepth/router. */
export interface PluginRegistry {
  registerRouter: typeof router.registerRouter;
  listRouters: typeof router.listRouters;
}

const loaded = new Set<string>();

/** A path (relative to `cwd`) or a package name resolved from `cwd`, as an importable URL. */
function moduleUrl(spec: string, cwd: string): string {
  if (isPathLike(spec)) return pathToFileURL(resolve(cwd, spec)).href;
  return pathToFileURL(createRequire(join(cwd, "noop.js")).resolve(spec)).href;
}

/**
 * Imports each plugin once and calls its `register(registry)`. Returns the router kinds each
 * one added. Any failure is a ConfigInvalid (exit 2) naming the plugin, on one line.
 */
export async function loadPlugins(specs: readonly string[], cwd = process.cwd()): Promise<{ plugin: string; kinds: string[] }[]> {
  router.registerBuiltinRouters();
  const out: { plugin: string; kinds: string[] }[] = [];
  for (const spec of specs) {
    const fail = (why: string): never => {
      throw new ConfigInvalid(`plugin ${JSON.stringify(spec)}: ${why}`);
    };
    let url: string;
    try {
      url = moduleUrl(spec, cwd);
    } catch (e) {
      return fail(`cannot find it (${(e as Error).message.split("\n")[0]})`);
    }
    if (loaded.has(url)) continue;
    let mod: { register?: unknown; default?: { register?: unknown } };
    try {
      mod = (await import(url)) as typeof mod;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      return fail(err.code === "ERR_MODULE_NOT_FOUND" ? `cannot find it (${err.message.split("\n")[0]})` : `failed to load: ${err.message.split("\n")[0]}`);
    }
    const register = typeof mod.register === "function" ? mod.register : typeof mod.default?.register === "function" ? mod.default.register : null;
    if (!register) fail("exports no register(registry) function");
    const before = new Set(router.listRouters());
    try {
      await (register as (r: PluginRegistry) => unknown)({ registerRouter: router.registerRouter, listRouters: router.listRouters });
    } catch (e) {
      fail(`register() failed: ${(e as Error).message.split("\n")[0]}`);
    }
    loaded.add(url);
    out.push({ plugin: spec, kinds: router.listRouters().filter((k) => !before.has(k)) });
  }
  return out;
}
