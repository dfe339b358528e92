import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { withTable } from "./readme-table.js";

describe("README table", () => {
  it("is up to date (run `pnpm --filter @mixdepth/flops-accounting run readme`)", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    expect(withTable(readme)).toBe(readme);
  });
});
