// Router registry: built-ins and user routers go through the same calls. Nothing is
// registered at import time; call registerBuiltinRouters() (the transformer does) or
// registerRouter() yourself.
import type { Router, RouterContext, RouterFactory } from "./router.js";
import { createLearnedRouter, learnedRouterWeightShapes } from "./learned-router.js";
import { createStochasticRouter } from "./stochastic-router.js";

/** Name -> shape of a router kind's weights from its context alone, without allocating them. */
export type RouterWeightShapes = (context: RouterContext) => Map<string, number[]>;

export interface RegisterRouterOptions {
  /** Replace an existing kind. */
  override?: boolean;
  /**
   * The weights this kind creates, computed without tensors. Checkpoint loaders use it to check
   * a file before allocating a model; createRouter checks every new router against it.
   */
  weightShapes?: RouterWeightShapes;
}

const factories = new Map<string, RouterFactory>();
const shapeFns = new Map<string, RouterWeightShapes>();

/** Registers a router kind. Throws if the kind exists, unless `override` is set. */
export function registerRouter(kind: string, factory: RouterFactory, options: RegisterRouterOptions = {}): void {
  if (typeof kind !== "string" || kind.length === 0) throw new TypeError(`registerRouter: kind must be a non-empty string (got ${JSON.stringify(kind)})`);
  if (typeof factory !== "function") throw new TypeError(`registerRouter("${kind}"): factory must be a function`);
  if (factories.has(kind) && !options.override) {
    throw new Error(`registerRouter: router kind "${kind}" is already registered (pass { override: true } to replace it)`);
  }
  factories.set(kind, factory);
  if (options.weightShapes) shapeFns.set(kind, options.weightShapes);
  else shapeFns.delete(kind);
}

export function unregisterRouter(kind: string): boolean {
  shapeFns.delete(kind);
  return factories.delete(kind);
}

/**
 * The weight shapes a router of `kind` would have, or null when the kind did not declare them
 * (registered without `weightShapes`). Allocates nothing.
 */
export function routerWeightShapes(kind: string, context: RouterContext): Map<string, number[]> | null {
  const fn = shapeFns.get(kind);
  return fn ? fn(context) : null;
}

export function listRouters(): string[] {
  return [...factories.keys()].sort();
}

/** Builds a router of a registered kind. Throws on unknown kinds, listing the known ones. */
export function createRouter(kind: string, context: RouterContext): Router {
  const factory = factories.get(kind);
  if (!factory) {
    const known = listRouters();
    throw new Error(
      `routing.router: unknown router kind ${JSON.stringify(kind)}; registered: ${known.length ? known.join(", ") : "none"}` +
        (known.length === 0 ? " (call registerBuiltinRouters() first)" : ""),
    );
  }
  const router = factory(context);
  if (router.kind !== kind) {
    router.dispose();
    throw new Error(`router factory for "${kind}" returned a router of kind "${router.kind}"`);
  }
  const declared = routerWeightShapes(kind, context);
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

/** Registers "learned" and "stochastic". Idempotent; leaves user overrides in place. */
export function registerBuiltinRouters(): void {
  if (!factories.has("learned")) registerRouter("learned", createLearnedRouter, { weightShapes: learnedRouterWeightShapes });
  if (!factories.has("stochastic")) registerRouter("stochastic", createStochasticRouter, { weightShapes: () => new Map() });
}
