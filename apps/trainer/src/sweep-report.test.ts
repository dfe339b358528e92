// The sweep report's statistics.
import { describe, expect, it } from "vitest";
import { mean, std } from "./sweep-report.js";

describe("sweep report statistics", () => {
  it("mean and sample standard deviation", () => {
    expect(mean([1, 2, 3])).toBe(2);
    expect(std([1, 2, 3])).toBe(1);
    expect(std([5])).toBeNaN();
  });
});
