export const PACKAGE_NAME = "@mixdepth/mod-block";
