import { libraryBuild } from "@mixdepth/build-config";
export default libraryBuild();
