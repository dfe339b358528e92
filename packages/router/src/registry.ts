// Router registry: built-ins and user routers go through the same calls. Nothing is
// registered at import time; call registerBuiltinRouters() (the transformer does) or
// registerRouter() yourself.
import type { Router, RouterContext, RouterFactory } from "./router.js";
import { createLearnedRouter } from "./learned-router.js";
import { createStochasticRouter } from "./stochastic-router.js";

const factories = new Map<string, RouterFactory>();

/** Registers a router kind. Throws if the kind exists, unless `override` is set. */
export function registerRouter(kind: string, factory: RouterFactory, options: { override?: boolean } = {}): void {
  if (typeof kind !== "string" || kind.length === 0) throw new TypeError(`registerRouter: kind must be a non-empty string (got ${JSON.stringify(kind)})`);
  if (typeof factory !== "function") throw new TypeError(`registerRouter("${kind}"): factory must be a function`);
  if (factories.has(kind) && !options.override) {
    throw new Error(`registerRouter: router kind "${kind}" is already registered (pass { override: true } to replace it)`);
  }
  factories.set(kind, factory);
}

export function unregisterRouter(kind: string): boolean {
  return factories.delete(kind);
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
  return router;
}

/** Registers "learned" and "stochastic". Idempotent; leaves user overrides in place. */
export function registerBuiltinRouters(): void {
  if (!factories.has("learned")) registerRouter("learned", createLearnedRouter);
  if (!factories.has("stochastic")) registerRouter("stochastic", createStochasticRouter);
}
