import { defineMixdepthConfig } from "./src/config.js";
export default defineMixdepthConfig({ tfjs: true });
