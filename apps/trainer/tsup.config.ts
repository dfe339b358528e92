import { nodeAppBuild } from "@mixdepth/build-config";
// Workspace packages (including @mixdepth/backend) stay external, resolved from node_modules at run time.
export default nodeAppBuild({ entry: ["src/cli.ts"] });
