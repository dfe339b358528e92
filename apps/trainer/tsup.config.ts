import { nodeAppBuild } from "@mixdepth/build-config";
// Workspace libraries stay external (resolved from node_modules at run time); the private
// @mixdepth/backend loader is TypeScript source and gets bundled.
export default nodeAppBuild({ external: [/^@mixdepth\/(router|mod-block|transformer|flops-accounting|sampler)$/] });
