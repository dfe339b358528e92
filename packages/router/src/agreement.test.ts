// Causal-vs-top-k agreement (docs/method.md section 3): counts, rates, pooling.
import { describe, expect, it } from "vitest";
import { combineAgreements, routingAgreement } from "./agreement.js";

describe("routingAgreement", () => {
  it("reports realized and nominal routed fractions", () => {
    // B=2, S=4, k=1: top-k picks 3 and 0; causal routes [0,1,1,1] and [1,0,0,0]
    const r = routingAgreement([0, 1, 1, 1, 1, 0, 0, 0], [3, 0], 2, 4);
    expect(r).toMatchObject({ tp: 2, fp: 2, fn: 0, tn: 4, recall: 1, precision: 0.5, routedFraction: 0.5, targetFraction: 0.25 });
  });

  it("rejects positions outside the row instead of marking the next row", () => {
    expect(() => routingAgreement([0, 0, 0, 0], [2, 0], 2, 2)).toThrow(/topk\[0\]\[0\] = 2 is not a position in \[0, 2\)/);
  });
});

describe("combineAgreements", () => {
  it("sums counts and recomputes rates from the sums", () => {
    const a = routingAgreement([1, 0, 0, 0], [0], 1, 4); // tp 1, tn 3
    const b = routingAgreement([1, 1, 0, 0], [3], 1, 4); // fp 2, fn 1, tn 1
    const c = combineAgreements([a, b]);
    expect(c).toMatchObject({ tp: 1, fp: 2, fn: 1, tn: 4, accuracy: 5 / 8, precision: 1 / 3, recall: 1 / 2, routedFraction: 3 / 8, targetFraction: 2 / 8 });
  });
});
