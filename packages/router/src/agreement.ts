// How well a causal routing decision matches training-time top-k (docs/method.md section 3):
// confusion counts with "in the top-k" as the positive class.

export interface RoutingAgreement {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
  accuracy: number;
  precision: number;
  recall: number;
  /** Fraction of tokens the causal decision routes: the realized capacity. */
  routedFraction: number;
  /** Fraction routed by top-k, k/S: the nominal capacity. */
  targetFraction: number;
}

/**
 * `selected`: causal decisions, [B*S] row-major (truthy = routed). `topk`: [B*k] positions
 * per row. Returns counts and rates (precision/recall are NaN when undefined).
 */
export function routingAgreement(selected: ArrayLike<number | boolean>, topk: ArrayLike<number>, batch: number, seqLen: number): RoutingAgreement {
  const k = topk.length / batch;
  if (!Number.isInteger(k) || selected.length !== batch * seqLen) {
    throw new RangeError(`routingAgreement: shapes disagree (selected ${selected.length}, topk ${topk.length}, B=${batch}, S=${seqLen})`);
  }
  const target = new Uint8Array(batch * seqLen);
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < k; j++) {
      const pos = topk[b * k + j] as number;
      // An out-of-range position would silently mark a token of the next row.
      if (!Number.isInteger(pos) || pos < 0 || pos >= seqLen) throw new RangeError(`routingAgreement: topk[${b}][${j}] = ${pos} is not a position in [0, ${seqLen})`);
      target[b * seqLen + pos] = 1;
    }
  }
  let tp = 0, fp = 0, fn = 0, tn = 0;
  for (let i = 0; i < target.length; i++) {
    const p = selected[i] ? 1 : 0;
    if (p && target[i]) tp++;
    else if (p) fp++;
    else if (target[i]) fn++;
    else tn++;
  }
  return rates(tp, fp, fn, tn);
}

/** Pools confusion counts (e.g. over blocks or batches) and recomputes the rates from the sums. */
export function combineAgreements(parts: readonly RoutingAgreement[]): RoutingAgreement {
  let tp = 0, fp = 0, fn = 0, tn = 0;
  for (const a of parts) {
    tp += a.tp;
    fp += a.fp;
    fn += a.fn;
    tn += a.tn;
  }
  return rates(tp, fp, fn, tn);
}

function rates(tp: number, fp: number, fn: number, tn: number): RoutingAgreement {
  const n = tp + fp + fn + tn;
  return {
    tp, fp, fn, tn,
    accuracy: (tp + tn) / n, precision: tp / (tp + fp), recall: tp / (tp + fn),
    routedFraction: (tp + fp) / n, targetFraction: (tp + fn) / n,
  };
}
