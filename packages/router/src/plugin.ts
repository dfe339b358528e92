// The router plugin contract: an ES module exporting `register(registry)`. Whoever loads
// plugins (the mixdepth CLI's --plugin, @mixdepth/train/node's loadPlugins) calls it with the
// public registry calls of this package, so a plugin's kinds land in the registry the model
// is built from even when the plugin has its own copy of the package. Registration is an
// explicit call, never an import side effect.
import type { listRouters, registerRouter } from "./registry.js";

/** What a plugin's `register` receives: the public registry calls of @mixdepth/router. */
export interface RouterRegistry {
  registerRouter: typeof registerRouter;
  listRouters: typeof listRouters;
}

/** A router plugin module: `export function register(registry: RouterRegistry) { ... }`. */
export interface RouterPlugin {
  register(registry: RouterRegistry): void | Promise<void>;
}
