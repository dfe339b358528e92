import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ratioReport, withTable } from "./readme-table.js";

describe("README generated parts", () => {
  it("are up to date (run `pnpm --filter @mixdepth/flops-accounting run build readme`)", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    expect(withTable(readme)).toBe(readme);
  });

  it("the ratio report states the hand-checked totals (flops.test.ts, config B)", () => {
    const r = ratioReport();
    expect(r).toContain("forward per sequence: MoD 2186018816 FLOPs, dense 3791650816 FLOPs");
    expect(r).toContain("MoD/dense forward FLOPs ratio: 0.5765"); // 2,186,018,816 / 3,791,650,816
    expect(r.split("\n")).toHaveLength(2 + 8 + 5);
  });

  it("refuses a README without markers", () => {
    expect(() => withTable("# no markers\n")).toThrow(/markers/);
  });
});
