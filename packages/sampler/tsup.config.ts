import { libraryBuild } from "@mixdepth/build-config";
// Two entries (the browser-safe index and the Node "./node" subpath) share one copy of the
// generator, so TextGenerator is one class across both: code splitting on.
export default { ...libraryBuild({ entry: ["src/index.ts", "src/node.ts"], external: [/^node:/] }), splitting: true };
