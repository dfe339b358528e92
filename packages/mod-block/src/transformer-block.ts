// One pre-norm transformer block and its residual branch (docs/method.md section 2, step 4).
//   a = Attn(norm1(x), positions)        causal by original position
//   m = MLP(norm2(x + a))
//   branch f(x) = a + m                  the block computes x + f(x); MoD computes x + r * f(x~)
// GPT-2 family: LayerNorm (gain, bias), biased QKV/output/MLP, GELU (tanh) MLP d -> h -> d.
// Llama family: RMSNorm (gain), no biases, rotary on q and k, SwiGLU MLP (gate, up, down).
// A block listed in config.experts has a mixture-of-experts MLP instead (moe-mlp.ts): m is
// then the experts' gated sum, and exactly 0 for a token no real expert took.
import * as tf from "@tensorflow/tfjs-core";
import { expertsAt, type ResolvedExperts, type ResolvedModelConfig } from "@mixdepth/core";
import { attentionMask, constParam, layerNorm, linear, normalParam, rmsNorm, rotary, rotaryAngles } from "./layers.js";
import { familyMlp, familyMlpWeightShapes, moeMlp, moeMlpWeightShapes, type ExpertMode, type ExpertRouting } from "./moe-mlp.js";

/**
 * Keys and values of the tokens one block has processed (its KV cache entry), heads split,
 * rotary applied. Positions and validity are host data: they are known on the host (the
 * routing decisions are), and the attention mask is built from them there.
 */
export interface KeyValues {
  k: tf.Tensor4D; // [B, H, T, hd]
  v: tf.Tensor4D; // [B, H, T, hd]
  /** Original positions of these tokens, [B * T] row-major. */
  positions: Int32Array;
  /** [B * T] row-major, 0 at padding slots (never attended to); null when every slot is a token. */
  valid: Uint8Array | null;
}

export interface BranchOptions {
  /** [B * T] row-major: 0 marks padding among the new tokens (neither a key nor a result). */
  valid?: Uint8Array | null;
  /** Keys/values of earlier tokens at this block (a KV cache); all of them precede the new tokens. */
  past?: KeyValues | null;
  /** MoE MLP only: expert choice over these tokens ("topk", default) or the per-token causal rule. */
  experts?: ExpertMode;
}

export interface BranchResult {
  /** f(x) = a + m, [B, T, d]. */
  out: tf.Tensor3D;
  /** Keys and values of `past` followed by the new tokens': what the cache holds after this call. */
  kv: KeyValues;
  /** MoE MLP: its weighted auxiliary losses (caller owns them); {} otherwise. */
  auxLosses: Record<string, tf.Scalar>;
  /** MoE MLP: which of these tokens each real expert processed; null for a dense MLP. */
  experts: ExpertRouting | null;
}

/** Row-wise concatenation of two [B * Ta] and [B * Tb] row-major arrays into [B * (Ta + Tb)]. */
export function concatRows<T extends Int32Array | Uint8Array>(a: T, ta: number, b: T, tb: number, batch: number): T {
  const out = new (a.constructor as new (n: number) => T)(batch * (ta + tb));
  for (let r = 0; r < batch; r++) {
    out.set(a.subarray(r * ta, (r + 1) * ta), r * (ta + tb));
    out.set(b.subarray(r * tb, (r + 1) * tb), r * (ta + tb) + ta);
  }
  return out;
}

/** Matrices that write into the residual stream (initialised with the smaller std), expert MLPs' included. */
const isResidualProjection = (name: string) => name === "attn.out.w" || name.endsWith(".proj.w") || name.endsWith(".down.w");

/**
 * Name -> shape of block `index`'s attention, MLP and norm weights (MoD router excluded), in
 * creation order, from the config alone (no tensors). TransformerBlock allocates exactly these;
 * checkpoint loaders check files against them before allocating anything. A block with an MoE
 * MLP has "mlp.router.w" and "mlp.experts.<e>.*" in place of the dense "mlp.*".
 */
export function transformerBlockWeightShapes(config: ResolvedModelConfig, index: number): [string, number[]][] {
  const { dModel: d, mlpHidden: h } = config;
  const gpt2 = config.family === "gpt2";
  const out: [string, number[]][] = [["norm1.g", [d]]];
  if (gpt2) out.push(["norm1.b", [d]]);
  out.push(["attn.qkv.w", [d, 3 * d]]);
  if (gpt2) out.push(["attn.qkv.b", [3 * d]]);
  out.push(["attn.out.w", [d, d]]);
  if (gpt2) out.push(["attn.out.b", [d]]);
  out.push(["norm2.g", [d]]);
  if (gpt2) out.push(["norm2.b", [d]]);
  const experts = expertsAt(config, index);
  out.push(...(experts ? moeMlpWeightShapes(config.family, d, experts) : familyMlpWeightShapes(config.family, d, h, "mlp")));
  return out;
}

export class TransformerBlock {
  private readonly params = new Map<string, tf.Variable>();
  /** The MoE MLP's settings, or null for a dense MLP. */
  readonly experts: ResolvedExperts | null;

  constructor(
    readonly config: ResolvedModelConfig,
    readonly index: number,
    rand: () => number,
  ) {
    const std = 0.02;
    const residualStd = 0.02 / Math.sqrt(2 * config.nLayers); // GPT-2: scale projections into the residual stream
    // Gains start at 1, biases at 0, matrices normal; projections into the residual stream
    // get the smaller std; the expert router 1/sqrt(d) (unit-scale logits on a normed input,
    // as the MoD router). Created in blockWeightShapes order (the order of random draws).
    this.experts = expertsAt(config, index);
    for (const [name, shape] of transformerBlockWeightShapes(config, index)) {
      const v = name.endsWith(".g")
        ? constParam(shape, 1)
        : name.endsWith(".b")
          ? constParam(shape, 0)
          : name.startsWith("mlp.predictor.b")
            ? constParam(shape, 0)
            : normalParam(rand, shape, name === "mlp.router.w" || name.startsWith("mlp.predictor.w") ? 1 / Math.sqrt(shape[0] as number) : isResidualProjection(name) ? residualStd : std);
      this.params.set(name, v);
    }
  }

  /** Weights by name relative to the block (e.g. "attn.qkv.w"). */
  weights(): Map<string, tf.Variable> {
    return new Map(this.params);
  }

  private w(name: string): tf.Variable {
    const v = this.params.get(name);
    if (!v) throw new Error(`block ${this.index}: no weight "${name}"`);
    return v;
  }

  private wOpt(name: string): tf.Variable | undefined {
    return this.params.get(name);
  }

  private norm(x: tf.Tensor, which: "norm1" | "norm2"): tf.Tensor {
    const eps = this.config.normEps;
    return this.config.family === "gpt2"
      ? layerNorm(x, this.w(`${which}.g`) as tf.Tensor1D, this.w(`${which}.b`) as tf.Tensor1D, eps)
      : rmsNorm(x, this.w(`${which}.g`) as tf.Tensor1D, eps);
  }

  /** [B, T, d] -> [B, H, T, hd] */
  private heads(x: tf.Tensor): tf.Tensor4D {
    const [b, t] = x.shape as [number, number, number];
    const { nHeads, headDim } = this.config;
    // One token (a decode step): the same memory layout, so a reshape spares a transpose kernel.
    if (t === 1) return tf.reshape(x, [b, nHeads, 1, headDim]);
    return tf.transpose(tf.reshape(x, [b, t, nHeads, headDim]), [0, 2, 1, 3]) as tf.Tensor4D;
  }

  /**
   * The residual branch f = a + m on the given tokens. `x`: [B, T, d] (e.g. the routed tokens
   * only); `positions`: [B * T] row-major, their ORIGINAL positions (rotary and the causal mask
   * use them). With `past`, new tokens also attend to those keys. Returns tensors the caller
   * owns (`out`, `kv.k`, `kv.v`).
   */
  branch(x: tf.Tensor3D, positions: Int32Array, options: BranchOptions = {}): BranchResult {
    const [b, t, d] = x.shape;
    const past = options.past ?? null;
    const valid = options.valid ?? null;
    const tPast = past ? past.positions.length / b : 0;
    const keyPositions = past ? concatRows(past.positions, tPast, positions, t, b) : positions;
    const keyValid = past && (past.valid || valid) ? concatRows(past.valid ?? ones(b * tPast), tPast, valid ?? ones(b * t), t, b) : valid;
    const mask = attentionMask(positions, keyPositions, keyValid, b, t, tPast + t); // null: nothing masked
    const expertMode = options.experts ?? "topk";
    if (this.experts && past && expertMode === "topk") throw new Error(`block ${this.index}: expert choice (top-k) looks at the whole sequence; with a KV cache use experts "causal"`);
    let routing: ExpertRouting | null = null;
    const { out, k, v, auxLosses } = tf.tidy(() => {
      const { headDim, family, ropeBase } = this.config;
      const h = this.norm(x, "norm1");
      const qkv = linear(h, this.w("attn.qkv.w") as tf.Tensor2D, this.wOpt("attn.qkv.b") as tf.Tensor1D | undefined);
      const [qf, kf, vf] = tf.split(qkv, 3, 2);
      let q = this.heads(qf!); // [B, H, T, hd]
      let k = this.heads(kf!);
      const v = this.heads(vf!);
      if (family === "llama") {
        const angles = rotaryAngles(positions, headDim, ropeBase); // host table rows, shared by q and k
        const cos = tf.tensor4d(angles.cos, [b, 1, t, headDim / 2]);
        const sin = tf.tensor4d(angles.sin, [b, 1, t, headDim / 2]);
        q = rotary(q, cos, sin);
        k = rotary(k, cos, sin);
      }
      const keys = past ? (tf.concat([past.k, k], 2) as tf.Tensor4D) : k; // [B, H, Tk, hd]
      const values = past ? (tf.concat([past.v, v], 2) as tf.Tensor4D) : v;
      let logits = tf.mul(tf.matMul(q, keys, false, true), 1 / Math.sqrt(headDim)); // [B, H, T, Tk]
      if (mask) logits = tf.add(logits, tf.tensor4d(mask, [b, 1, t, tPast + t]));
      const attended = tf.matMul(tf.softmax(logits, -1), values); // [B, H, T, hd]
      const merged = tf.reshape(t === 1 ? attended : tf.transpose(attended, [0, 2, 1, 3]), [b, t, d]); // [B, T, d]
      const a = linear(merged, this.w("attn.out.w") as tf.Tensor2D, this.wOpt("attn.out.b") as tf.Tensor1D | undefined);
      const hm = this.norm(tf.add(x, a), "norm2") as tf.Tensor3D;
      const w = (name: string) => this.w(name);
      let m: tf.Tensor;
      let aux: Record<string, tf.Scalar> = {};
      if (this.experts) {
        const r = moeMlp(hm, family, this.experts, w, { mode: expertMode, valid });
        m = r.out;
        aux = r.auxLosses;
        routing = r.routing;
      } else {
        m = familyMlp(hm, family, w, "mlp");
      }
      return { out: tf.add(a, m) as tf.Tensor3D, k: keys, v: values, auxLosses: aux };
    });
    return { out, kv: { k, v, positions: keyPositions, valid: keyValid }, auxLosses, experts: routing };
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
  }
}

function ones(n: number): Uint8Array {
  return new Uint8Array(n).fill(1);
}
