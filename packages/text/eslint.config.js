import config from "@mixdepth/eslint-config";
export default config;
