export const PACKAGE_NAME = "@mixdepth/sampler";
