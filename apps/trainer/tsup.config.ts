import { nodeAppBuild } from "@mixdepth/build-config";
// Workspace packages (including @mixdepth/backend) stay external, resolved from node_modules at run time.
// data-parallel(-worker).js: the worker thread's entry, and the module the bench script imports.
export default nodeAppBuild({ entry: ["src/cli.ts", "src/data-parallel.ts", "src/data-parallel-worker.ts"] });
