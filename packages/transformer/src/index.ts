export const PACKAGE_NAME = "@mixdepth/transformer";
