export { L2NormRouter, l2NormRouterCost, register, validateL2NormOptions } from "./l2-norm-router.js";
export type { L2NormRouterOptions } from "./l2-norm-router.js";
