export { L2NormRouter, l2NormRouterCost, register, validateL2NormOptions } from "./l2-norm-router.js";
export type { L2NormRouterOptions, Registry } from "./l2-norm-router.js";
