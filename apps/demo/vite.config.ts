// Vite config of the demo page. Relative base so dist/ works from any static server or
// sub-path; one copy of tfjs-core so the libraries and the backends share one engine.
import { defineConfig } from "vite";

export default defineConfig({
  base: "./",
  resolve: { dedupe: ["@tensorflow/tfjs-core"] },
  build: {
    target: "es2022",
    // tfjs is large by nature; the warning says nothing actionable here.
    chunkSizeWarningLimit: 4000,
  },
});
