import type { Options } from "tsup";
export interface BuildOptions {
  entry?: string[];
  external?: (string | RegExp)[];
}
/** ESM + CJS library build with declarations for both; tfjs and @mixdepth packages stay external. */
export function libraryBuild(options?: BuildOptions): Options | Options[];
/** Node CLI build (no declarations); tfjs and @mixdepth packages stay external. */
export function nodeAppBuild(options?: BuildOptions): Options | Options[];
