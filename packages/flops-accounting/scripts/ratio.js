// Prints the per-component forward FLOPs of the benchmark MoD config against its dense
// counterpart (d=256, L=8, heads 8, S=256, V=256, capacity 0.125, every other block routed).
// Run: pnpm --filter @mixdepth/flops-accounting run ratio (after `build`). The README shows
// the same report (src/readme-table.ts), kept current by `run readme` and a test.
import { existsSync } from "node:fs";

if (!existsSync(new URL("../dist/readme-table.js", import.meta.url))) {
  console.error("dist/ is missing: run `pnpm --filter @mixdepth/flops-accounting run build` first");
  process.exit(1);
}
const { ratioReport } = await import("../dist/readme-table.js");
console.log(ratioReport());
