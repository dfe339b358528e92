// Copies the newest checkpoint of a `mixdepth train` run into the demo's bundled checkpoints:
//   node apps/demo/scripts/bundle-checkpoint.js <runDir> <mod|dense>
// It copies model.safetensors and config.json only (the trainer state stays in the run) and
// updates public/checkpoints/index.json, which the page reads at start.
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const [runDir, slot] = process.argv.slice(2);
if (!runDir || (slot !== "mod" && slot !== "dense")) {
  console.error("usage: node apps/demo/scripts/bundle-checkpoint.js <runDir> <mod|dense>");
  process.exit(2);
}
const latest = JSON.parse(readFileSync(join(runDir, "checkpoints", "latest.json"), "utf8"));
const from = join(runDir, "checkpoints", latest.checkpoint);
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "public", "checkpoints");
const to = join(root, slot);
mkdirSync(to, { recursive: true });
for (const f of ["model.safetensors", "config.json"]) copyFileSync(join(from, f), join(to, f));
const indexFile = join(root, "index.json");
const index = existsSync(indexFile) ? JSON.parse(readFileSync(indexFile, "utf8")) : {};
index[slot] = `checkpoints/${slot}`;
writeFileSync(indexFile, JSON.stringify(index, null, 2) + "\n");
const kib = (statSync(join(to, "model.safetensors")).size / 1024).toFixed(0);
console.log(`${from} -> ${to} (step ${latest.step}, ${kib} KiB)`);
