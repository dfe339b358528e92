import { libraryBuild } from "@mixdepth/build-config";
// Two entries: the Node setup (index) and the browser-safe wasm fixes (./wasm-fixes). They
// share one copy of each fix (one "installed" state whichever entry installed it): code
// splitting on. Node built-ins stay external (only the index imports them).
export default { ...libraryBuild({ entry: ["src/index.ts", "src/wasm-fixes.ts"], external: [/^node:/] }), splitting: true };
