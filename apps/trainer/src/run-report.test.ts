// The run report from a synthetic metrics.jsonl: every chart is there, both validation curves
// are drawn, the CSV has one row per step with evaluation columns, and several runs overlay.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { DepthView } from "./depth-view.js";
import type { MetricRecord } from "./metrics.js";
import { metricsCsv, runCurves, runNames, writeOverlayReport, writeRunReport } from "./run-report.js";

function fakeRun(dir: string, steps: number, routed: boolean): void {
  const recs: MetricRecord[] = [{ type: "start", time: "t", backend: "cpu", resumedFrom: null, config: {}, paramCount: 1000, flopsPerStep: 1e6, forwardFlopsPerSequence: 3e5 }];
  for (let s = 1; s <= steps; s++) {
    recs.push({ type: "train", step: s, loss: 5 - s / 10, total: 5.1 - s / 10, aux: 0.1, lr: 1e-3 * s, gradNorm: 2 / s, tokens: 64 * s, flops: 1e6 * s, msPerStep: 10, tokensPerSec: 6400 });
    if (s % 5 === 0) {
      recs.push({
        type: "eval", step: s, flops: 1e6 * s, tokens: 64, topk: { loss: 4.9 - s / 10, bpb: 7 }, causal: routed ? { loss: 5 - s / 10, bpb: 7.1 } : null, seconds: 0.1, tokensPerSec: 640,
        ...(routed ? { auxLosses: { aux_bce: 0.05, predictor_bce: 0.6 - s / 100 } } : {}),
        routing: routed ? [{ layer: 1, nominalFraction: 0.25, causalFraction: 0.2 + s / 100, accuracy: 0.7 + s / 100, precision: 0.5, recall: 0.4 }] : [],
      });
    }
  }
  writeFileSync(join(dir, "metrics.jsonl"), recs.map((r) => JSON.stringify(r)).join("\n") + "\n");
}

const depth: DepthView = { step: 10, nLayers: 4, routedBlocks: [1, 3], tokens: ["T", "h", "<"], modes: [{ mode: "topk", depth: [2, 3, 4] }, { mode: "causal", depth: [2, 2, 3] }] };

describe("run report", () => {
  it("draws loss, validation, lr, grad norm, aux, tokens/s and routing charts; keeps the depth view; offline", () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-report-"));
    fakeRun(dir, 10, true);
    const html = readFileSync(writeRunReport(dir, { depth }), "utf8");
    expect(html.match(/<svg /g)).toHaveLength(9);
    for (const title of ["learning rate", "gradient norm", "auxiliary losses", "tokens/s", "routed fraction per block", "accuracy per block", "validation loss: top-k and causal"]) expect(html).toContain(title);
    // Both validation curves, with a dot (and hover title) per evaluation.
    expect(html.match(/<title>val top-k: /g)?.length).toBeGreaterThanOrEqual(2);
    expect(html.match(/<title>val causal: /g)?.length).toBeGreaterThanOrEqual(2);
    // The depth view: one span per token per mode, escaped, coloured by depth.
    expect(html).toContain('title="token 2: 4 of 4 blocks">&lt;</span>');
    expect(html).toContain("mean depth 3 of 4 blocks");
    expect(html).not.toMatch(/<script|<link|src=|@import/);
    expect(html).toContain("<title>predictor_bce: 0.5 at 10</title>"); // named aux losses at evaluations
    // depth.json is kept, so the report regenerates without the model.
    expect(runCurves(dir, "x").depth).toEqual(depth);
    expect(readFileSync(writeRunReport(dir), "utf8")).toContain("per-token depth on a validation passage (step 10)");
  });

  it("metrics.csv: one row per step, evaluation and per-block columns filled at evaluation steps", () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-report-"));
    fakeRun(dir, 10, true);
    writeRunReport(dir);
    const lines = readFileSync(join(dir, "metrics.csv"), "utf8").trim().split("\n");
    const head = (lines[0] as string).split(",");
    expect(head.slice(0, 6)).toEqual(["step", "train_loss", "total_loss", "aux_loss", "lr", "grad_norm"]);
    expect(head).toContain("block1_accuracy");
    expect(head).toContain("eval_predictor_bce");
    expect(lines).toHaveLength(11);
    const row5 = Object.fromEntries(head.map((h, i) => [h, (lines[5] as string).split(",")[i]]));
    expect(row5).toMatchObject({ step: "5", train_loss: "4.5", lr: "0.005", val_loss_topk: "4.4", val_loss_causal: "4.5", block1_accuracy: "0.75" });
    const row4 = Object.fromEntries(head.map((h, i) => [h, (lines[4] as string).split(",")[i]]));
    expect(row4.val_loss_topk).toBe("");
  });

  it("overlays several runs in one page and one CSV with a run column", () => {
    const root = mkdtempSync(join(tmpdir(), "mixdepth-report-"));
    const a = join(root, "a");
    const b = join(root, "b");
    for (const [d, routed] of [[a, true], [b, false]] as const) {
      mkdirSync(d);
      fakeRun(d, 10, routed);
    }
    const out = writeOverlayReport([a, b], join(root, "both.html"));
    const html = readFileSync(out.html, "utf8");
    expect(out.csv).toBe(join(root, "both.csv"));
    expect(html).toContain("2 runs overlaid");
    expect(html).toContain("a val top-k");
    expect(html).toContain("b val top-k");
    expect(html).not.toContain("b val causal"); // dense: no causal curve
    const csv = readFileSync(out.csv, "utf8").trim().split("\n");
    expect(csv[0]?.startsWith("run,step,")).toBe(true);
    expect(csv).toHaveLength(21);
    expect(metricsCsv([runCurves(b, "b")])).not.toContain("block1");
    expect(runNames(["/x/run", "/y/run", "/y/other"])).toEqual(["x/run", "y/run", "other"]);
  });

  it("validates every file it reads and escapes every value: a script injected into depth.json or metrics.jsonl never reaches the page", () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-report-"));
    fakeRun(dir, 10, true);
    const evil = "</span><script>alert(1)</script><img src=x onerror=alert(2)>";
    writeFileSync(
      join(dir, "depth.json"),
      JSON.stringify({ step: evil, nLayers: evil, routedBlocks: [evil], tokens: [evil], modes: [{ mode: evil, depth: [evil] }] }),
    );
    const lines = readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n");
    lines.splice(1, 0, JSON.stringify({ type: "train", step: 1, loss: evil, total: 1, aux: 0, lr: 1, gradNorm: 1, tokens: 1, flops: 1, msPerStep: 1, tokensPerSec: 1 }));
    lines.push(JSON.stringify({ type: "start", time: "t", backend: evil, resumedFrom: null, config: { x: evil }, paramCount: evil, flopsPerStep: 1, forwardFlopsPerSequence: 1 }));
    writeFileSync(join(dir, "metrics.jsonl"), lines.join("\n") + "\n");
    const html = readFileSync(writeRunReport(dir), "utf8");
    expect(html).not.toMatch(/<script|<img|<\/span><script/i);
    expect(html).toContain("depth.json: ");
    expect(html).toMatch(/metrics\.jsonl: 2 records? skipped/);
    expect(runCurves(dir, "x").depth).toBeNull();
    expect(runCurves(dir, "x").train).toHaveLength(10);
    const csv = readFileSync(join(dir, "metrics.csv"), "utf8");
    expect(csv).not.toContain("<script");
  });
});
