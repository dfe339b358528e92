// Router registry: built-ins and user routers go through the same calls. Nothing is
// registered at import time; call registerBuiltinRouters() (the transformer does) or
// registerRouter() yourself. A registration carries the factory and, optionally, what the
// kind declares without building tensors (option check, cost, weight shapes), so a config is
// validated and costed, and a checkpoint checked, before any backend exists.
import { ConfigError, type ResolvedModelConfig } from "@mixdepth/core";
import { linearRouterCost, type RouterCost } from "@mixdepth/flops-accounting";
import type { Router, RouterContext, RouterDeclaration, RouterFactory } from "./router.js";
import { createLearnedRouter, learnedRouterWeightShapes, validateLearnedOptions } from "./learned-router.js";
import { createStochasticRouter, validateStochasticOptions } from "./stochastic-router.js";

/** Name -> shape of a router kind's weights from its context alone, without allocating them. */
export type RouterWeightShapes = (context: RouterContext) => Map<string, number[]>;

/** What registerRouter takes besides the factory. */
export type RegisterRouterOptions = { override?: boolean } & RouterDeclaration;

interface Registration extends RouterDeclaration {
  factory: RouterFactory;
}

// One registry per process, however this package is loaded: its ESM and CommonJS builds (or
// two installed copies) are separate modules, so a module-level Map would give each its own
// registry and a kind registered through one would be unknown to the other. The Map lives on
// a global symbol, as tfjs-core keeps its kernel registry on the global object.
const REGISTRY_KEY = Symbol.for("mixdepth.routerRegistry");
const holder = globalThis as { [REGISTRY_KEY]?: Map<string, Registration> };
const registrations: Map<string, Registration> = (holder[REGISTRY_KEY] ??= new Map<string, Registration>());

/**
 * Registers a router kind with its factory and, optionally, its declaration (`validateOptions`,
 * `cost`, `weightShapes`; see {@link RouterDeclaration}). Throws if the kind exists, unless
 * `override` is set.
 */
export function registerRouter(kind: string, factory: RouterFactory, options: RegisterRouterOptions = {}): void {
  if (typeof kind !== "string" || kind.length === 0) throw new TypeError(`registerRouter: kind must be a non-empty string (got ${JSON.stringify(kind)})`);
  if (typeof factory !== "function") throw new TypeError(`registerRouter("${kind}"): factory must be a function`);
  for (const key of ["validateOptions", "cost", "weightShapes"] as const) {
    if (options[key] !== undefined && typeof options[key] !== "function") throw new TypeError(`registerRouter("${kind}"): ${key} must be a function`);
  }
  if (registrations.has(kind) && !options.override) {
    throw new Error(`registerRouter: router kind "${kind}" is already registered (pass { override: true } to replace it)`);
  }
  registrations.set(kind, {
    factory,
    ...(options.validateOptions ? { validateOptions: options.validateOptions } : {}),
    ...(options.cost ? { cost: options.cost } : {}),
    ...(options.weightShapes ? { weightShapes: options.weightShapes } : {}),
  });
}

export function unregisterRouter(kind: string): boolean {
  return registrations.delete(kind);
}

export function listRouters(): string[] {
  return [...registrations.keys()].sort();
}

function registration(kind: string): Registration {
  const r = registrations.get(kind);
  if (!r) {
    const known = listRouters();
    throw new ConfigError(
      "routing.router",
      kind,
      `unknown router kind; registered: ${known.length ? known.join(", ") : "none"}` + (known.length === 0 ? " (call registerBuiltinRouters() first)" : ""),
    );
  }
  return r;
}

/** Builds a router of a registered kind. Throws on unknown kinds, listing the known ones. */
export function createRouter(kind: string, context: RouterContext): Router {
  const r = registration(kind);
  const router = r.factory(context);
  if (router.kind !== kind) {
    router.dispose();
    throw new Error(`router factory for "${kind}" returned a router of kind "${router.kind}"`);
  }
  const declared = r.weightShapes?.(context);
  if (declared) {
    const actual = [...router.weights()].map(([n, v]) => `${n} [${v.shape.join(", ")}]`).join(", ");
    const want = [...declared].map(([n, s]) => `${n} [${s.join(", ")}]`).join(", ");
    if (actual !== want) {
      router.dispose();
      throw new Error(`router "${kind}" created weights ${actual || "(none)"}, but its weightShapes declare ${want || "(none)"}`);
    }
  }
  return router;
}

/**
 * The weight shapes a router of `kind` would have, or null when the kind did not declare them
 * (registered without `weightShapes`). Allocates nothing.
 */
export function routerWeightShapes(kind: string, context: RouterContext): Map<string, number[]> | null {
  return registrations.get(kind)?.weightShapes?.(context) ?? null;
}

/**
 * The context the router of block `layerIndex` is built with: the one derivation from the
 * resolved config, used by the model and by the cost and option checks.
 */
export function routerContext(config: ResolvedModelConfig, layerIndex: number, seed = 0): RouterContext {
  const r = config.routing;
  const layer = config.layers[layerIndex];
  return {
    dModel: config.dModel,
    layerIndex,
    auxLoss: r.auxLoss,
    predictor: r.predictor,
    options: r.routerOptions,
    seed,
    ...(layer ? { capacity: layer.capacity } : {}),
  };
}

/**
 * Checks, without building anything, that the config's router kind is registered and that
 * its kind accepts routing.routerOptions. Throws ConfigError naming the field
 * (`routing.router`, `routing.routerOptions.<key>`) and quoting the value.
 */
export function checkRouterConfig(config: ResolvedModelConfig): void {
  if (config.routing.blocks.length === 0) return; // a dense model builds no router
  const kind = config.routing.router;
  const r = registration(kind);
  if (!r.validateOptions) return;
  try {
    r.validateOptions(config.routing.routerOptions);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError("routing.routerOptions", config.routing.routerOptions, `rejected by the ${JSON.stringify(kind)} router: ${(e as Error).message}`);
  }
}

/**
 * The declared cost of the config's routers, per block index, for @mixdepth/flops-accounting
 * (`forwardFlops(config, { routerCost: routerCost(config) })`). Throws like
 * {@link checkRouterConfig} on an unknown kind.
 */
export function routerCost(config: ResolvedModelConfig): (layerIndex: number) => RouterCost {
  if (config.routing.blocks.length === 0) return () => ({ params: 0, flopsPerToken: 0 });
  const r = registration(config.routing.router);
  return (layerIndex) => {
    const context = routerContext(config, layerIndex);
    return r.cost ? r.cost(context) : linearRouterCost(context.dModel, context.predictor);
  };
}

/** Registers "learned" and "stochastic". Idempotent; leaves user overrides in place. */
export function registerBuiltinRouters(): void {
  if (!registrations.has("learned")) {
    registerRouter("learned", createLearnedRouter, {
      validateOptions: validateLearnedOptions,
      cost: (c) => linearRouterCost(c.dModel, c.predictor),
      weightShapes: learnedRouterWeightShapes,
    });
  }
  if (!registrations.has("stochastic")) {
    // The paper's control has no weights and no matmuls: it ignores routing.predictor.
    registerRouter("stochastic", createStochasticRouter, {
      validateOptions: validateStochasticOptions,
      cost: () => ({ params: 0, flopsPerToken: 0 }),
      weightShapes: () => new Map(),
    });
  }
}
