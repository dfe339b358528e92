import { libraryBuild } from "@mixdepth/build-config";
// Three entries: the browser-safe index, the Node "./node" subpath, and the data-parallel
// worker thread's script (started by file name, beside node.js). They share one copy of each
// module (one NonFiniteError class across both subpaths): code splitting on. shims: the CJS
// build finds the worker script from import.meta.url too.
export default { ...libraryBuild({ entry: ["src/index.ts", "src/node.ts", "src/data-parallel-worker.ts"], external: [/^node:/] }), splitting: true, shims: true };
