// `mixdepth report` through the built CLI (`pnpm build` first): one run rebuilt in place,
// several overlaid into one page and CSV, and a folder that is not a run refused with exit 2.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "./cli-test-helpers.js";

function fakeRun(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const recs = [
    { type: "start", time: "t", backend: "cpu", resumedFrom: null, config: {}, paramCount: 10, flopsPerStep: 1e6, forwardFlopsPerSequence: 1e5 },
    ...[1, 2, 3, 4].map((s) => ({ type: "train", step: s, loss: 5 - s / 10, total: 5, aux: 0, lr: 1e-3, gradNorm: 1, tokens: 64 * s, flops: 1e6 * s, msPerStep: 10, tokensPerSec: 6400 })),
    { type: "eval", step: 4, flops: 4e6, tokens: 64, topk: { loss: 4.5, bpb: 6.5 }, causal: null, routing: [], seconds: 0.1, tokensPerSec: 640 },
  ];
  writeFileSync(join(dir, "metrics.jsonl"), recs.map((r) => JSON.stringify(r)).join("\n") + "\n");
}

describe("mixdepth report", () => {
  it("rebuilds one run, overlays several, refuses a folder without metrics.jsonl", async () => {
    const root = mkdtempSync(join(tmpdir(), "mixdepth-report-cmd-"));
    fakeRun(join(root, "a"));
    fakeRun(join(root, "b"));
    const one = await run(["report", join(root, "a")]);
    expect(one.code, one.stderr).toBe(0);
    expect(existsSync(join(root, "a", "report.html"))).toBe(true);
    expect(readFileSync(join(root, "a", "metrics.csv"), "utf8").split("\n")).toHaveLength(6);
    const out = join(root, "ab.html");
    const two = await run(["report", join(root, "a"), join(root, "b"), "--out", out]);
    expect(two.code, two.stderr).toBe(0);
    expect(two.stdout).toContain(`metrics: ${join(root, "ab.csv")}`);
    expect(readFileSync(out, "utf8")).toContain("2 runs overlaid");
    const bad = await run(["report", join(root, "a"), root, "--out", join(root, "bad.html")]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`${JSON.stringify(root)} is not a run folder (no metrics.jsonl in it)`);
    expect(existsSync(join(root, "bad.html"))).toBe(false);
  }, 60_000);
});
