import { defineMixdepthConfig } from "@mixdepth/vitest-config";
export default defineMixdepthConfig({ tfjs: false, testTimeout: 180_000 });
