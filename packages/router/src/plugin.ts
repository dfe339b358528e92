// The router plugin contract: an ES module exporting `register(registry)`. Whoever loads
// plugins (the mixdepth CLI's --plugin, @mixdepth/train/node's loadPlugins) calls it with
// routerRegistry(): this package's registry calls, the @tensorflow/tfjs-core the models are
// built with, and the helpers that turn scores into route results. So a plugin's kinds land
// in the registry the model is built from, and its tensors on the engine the model runs, even
// when the plugin lives outside the application (it then needs no copy of either package; a
// plugin package declares @tensorflow/tfjs-core and @mixdepth/router as peer dependencies).
// Registration is an explicit call, never an import side effect.
import * as tf from "@tensorflow/tfjs-core";
import { causalDecisions, thresholdRoute, topkRoute } from "./decisions.js";
import { listRouters, registerRouter } from "./registry.js";
import { topkPositions } from "./topk.js";

/** What a plugin's `register` receives (see {@link routerRegistry}). */
export interface RouterRegistry {
  registerRouter: typeof registerRouter;
  listRouters: typeof listRouters;
  /**
   * The @tensorflow/tfjs-core of the loader: build the router's tensors with it (`registry.tf.tidy`,
   * `registry.tf.variable`), so a plugin never loads a second copy of TensorFlow.js.
   */
  tf: typeof tf;
  /** Route results from scores with one readback, as exported by this package. */
  topkRoute: typeof topkRoute;
  thresholdRoute: typeof thresholdRoute;
  causalDecisions: typeof causalDecisions;
  topkPositions: typeof topkPositions;
}

/** A router plugin module: `export function register(registry: RouterRegistry) { ... }`. */
export interface RouterPlugin {
  register(registry: RouterRegistry): void | Promise<void>;
}

/** The registry a plugin's `register` is called with: this package's registry and its tfjs-core. */
export function routerRegistry(): RouterRegistry {
  return { registerRouter, listRouters, tf, topkRoute, thresholdRoute, causalDecisions, topkPositions };
}
