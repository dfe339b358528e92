// Regenerates the README's generated parts (default-config table, ratio output) from the built package.
import { readFileSync, writeFileSync } from "node:fs";
import { withTable } from "../dist/readme-table.js";
const path = new URL("../README.md", import.meta.url);
writeFileSync(path, withTable(readFileSync(path, "utf8")));
console.log("README.md generated parts updated");
