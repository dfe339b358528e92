// Router plugin loading (Node only: @mixdepth/train/node). A plugin is an ES module whose
// `register` is a @mixdepth/router RouterPlugin's: loadPlugins imports it and calls it with
// routerRegistry() of the @mixdepth/router this package uses (its registry calls and its
// tfjs-core), so the plugin's kinds land in the registry the model is built from and its
// tensors on the model's engine, even for a plugin outside the application's node_modules.
// The mixdepth CLI (`plugins: [...]`, `--plugin`) and the data-parallel workers load through
// here; load before validating a config, so its kinds and options are checked before any work.
import { createRequire } from "node:module";
import { isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import * as router from "@mixdepth/router";
import type { RouterPlugin, RouterRegistry } from "@mixdepth/router";

/** A plugin that cannot be found, loaded or registered; the message names it, on one line. */
export class PluginError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PluginError";
  }
}

/** A plugin given as a path (./x.mjs, ../x.mjs, /abs/x.mjs) rather than a package name. */
export function isPathLike(spec: string): boolean {
  return spec.startsWith("./") || spec.startsWith("../") || isAbsolute(spec) || spec === "." || spec === "..";
}

const loaded = new Set<string>();

/** A path (relative to `cwd`) or a package name resolved from `cwd`, as an importable URL. */
function moduleUrl(spec: string, cwd: string): string {
  if (isPathLike(spec)) return pathToFileURL(resolve(cwd, spec)).href;
  return pathToFileURL(createRequire(join(cwd, "noop.js")).resolve(spec)).href;
}

/**
 * `p`, or a rejection when the event loop runs dry while waiting for it: a plugin whose
 * top-level await (or register()) never settles would otherwise let Node exit with code 0,
 * having done nothing. Node emits "beforeExit" when nothing is left to run.
 */
async function unlessStuck<T>(p: Promise<T>, stuck: () => Error): Promise<T> {
  let onIdle = () => {};
  const idle = new Promise<never>((_, reject) => {
    onIdle = () => reject(stuck());
  });
  process.once("beforeExit", onIdle);
  try {
    return await Promise.race([p, idle]);
  } finally {
    process.off("beforeExit", onIdle);
  }
}

/**
 * Registers the built-in routers, then imports each plugin once (per process or worker) and
 * calls its `register(registry)` (a named export, or the default export's). Returns the router
 * kinds each newly loaded one added. Any failure is a PluginError naming the plugin.
 */
export async function loadPlugins(specs: readonly string[], cwd = process.cwd()): Promise<{ plugin: string; kinds: string[] }[]> {
  router.registerBuiltinRouters();
  const out: { plugin: string; kinds: string[] }[] = [];
  for (const spec of specs) {
    const fail = (why: string): never => {
      throw new PluginError(`plugin ${JSON.stringify(spec)}: ${why}`);
    };
    let url: string;
    try {
      url = moduleUrl(spec, cwd);
    } catch (e) {
      return fail(`cannot find it (${(e as Error).message.split("\n")[0]})`);
    }
    if (loaded.has(url)) continue;
    let mod: Partial<RouterPlugin> & { default?: Partial<RouterPlugin> };
    try {
      mod = (await unlessStuck(import(url), () => new PluginError(`plugin ${JSON.stringify(spec)}: its module never finished loading (a top-level await that never settles?)`))) as typeof mod;
    } catch (e) {
      if (e instanceof PluginError) throw e;
      const err = e as NodeJS.ErrnoException;
      return fail(err.code === "ERR_MODULE_NOT_FOUND" ? `cannot find it (${err.message.split("\n")[0]})` : `failed to load: ${err.message.split("\n")[0]}`);
    }
    const register = typeof mod.register === "function" ? mod.register : typeof mod.default?.register === "function" ? mod.default.register : null;
    if (!register) return fail("exports no register(registry) function");
    const before = new Set(router.listRouters());
    const registry: RouterRegistry = router.routerRegistry();
    try {
      await unlessStuck(Promise.resolve(register(registry)), () => new PluginError(`plugin ${JSON.stringify(spec)}: register() never finished (it returned a promise that never settles)`));
    } catch (e) {
      if (e instanceof PluginError) throw e;
      fail(`register() failed: ${(e as Error).message.split("\n")[0]}`);
    }
    loaded.add(url);
    out.push({ plugin: spec, kinds: router.listRouters().filter((k) => !before.has(k)) });
  }
  return out;
}
