export const PACKAGE_NAME = "@mixdepth/router";
