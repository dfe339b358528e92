import { defineMixdepthConfig } from "@mixdepth/vitest-config";
export default defineMixdepthConfig({ tfjs: false });
