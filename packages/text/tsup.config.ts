import { libraryBuild } from "@mixdepth/build-config";
export default libraryBuild({ entry: ["src/index.ts"] });
