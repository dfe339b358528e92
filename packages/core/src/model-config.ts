// The model configuration shared by every mixdepth package. It lives here, at the bottom of
// the dependency chain (core <- flops-accounting <- router <- mod-block <- transformer <-
// sampler), so that every package reads one definition, one set of defaults and one validation.
// Section references are to docs/method.md at the repository root (Raposo et al., 2024).

/** Architecture family. Both are pre-norm decoder-only transformers. */
export type ArchitectureFamily = "gpt2" | "llama";

/** Which blocks are routed (MoD): none, every other (odd indices: 1, 3, 5, ...), all, or an explicit list. */
export type RoutedBlocks = "none" | "every-other" | "all" | readonly number[];

/** How a routed block decides, causally, whether a token is processed at sampling time (section 3). */
export type CausalRouting = "threshold" | "predictor";

export interface RoutingConfig {
  /** Which blocks are MoD blocks. Default "every-other" (the paper's best; section 2). */
  blocks?: RoutedBlocks;
  /** Fraction of each sequence a routed block processes, in (0, 1]. Default 0.125 (section 2). */
  capacity?: number;
  /** Router kind from the router registry. Default "learned". "stochastic" is the paper's control. */
  router?: string;
  /** Free-form options passed to the router factory (must be JSON). */
  routerOptions?: Record<string, unknown>;
  /** Auxiliary BCE loss on router scores (section 3). Default enabled with weight 0.01. null disables. */
  auxLoss?: { weight: number } | null;
  /**
   * Auxiliary predictor MLP d -> hidden -> 1 on the stop-gradient block input (section 3).
   * Default: enabled (hidden d/2, weight 1) for the built-in kinds "learned" and "stochastic";
   * null for any other (custom) kind, which opts in with `{}` or `{ hidden, weight }`. null disables.
   */
  predictor?: { hidden?: number; weight?: number } | null;
  /** Causal decision used at sampling time / causal evaluation. Default "predictor" if enabled, else "threshold". */
  causal?: CausalRouting;
  /**
   * Capacity warm-up (Mixture-of-Recursions, Bae et al. 2025): over the first `steps` training
   * steps the capacity decays from 1.0 to `capacity` on a cosine (see {@link capacityAt});
   * afterwards, and whenever no step is given (evaluation, sampling), it is `capacity`.
   * Default null (off).
   */
  capacityWarmup?: { steps: number } | null;
  /**
   * How a routed block picks its tokens at training time. "topk" (default, section 2): exactly
   * k = routedTokens(capacity, S) per sequence. "threshold" (MoDification, Zhang et al. 2024):
   * every token whose router probability sigmoid(logit) exceeds `threshold`, a data-dependent
   * number, so the FLOPs of a step are measured, not planned; training and sampling then use
   * the same rule, so it needs causal "threshold" and has no aux BCE or predictor.
   */
  train?: TrainRouting;
  /** With train "threshold": the probability a token's router must exceed, in (0, 1). Default 0.5. */
  threshold?: number;
}

/** Training-time token choice of a routed block (see {@link RoutingConfig.train}). */
export type TrainRouting = "topk" | "threshold";

export interface ModelConfig {
  /** Vocabulary size V. */
  vocabSize: number;
  /** Residual width d. */
  dModel: number;
  /** Attention heads; must divide dModel. */
  nHeads: number;
  /** Number of transformer blocks L. */
  nLayers: number;
  /** Context length S (maximum sequence length the model is built for). */
  contextLength: number;
  /** Architecture family. Default "llama" (trained better than gpt2 at our scale; see the transformer README). */
  family?: ArchitectureFamily;
  /** MLP hidden size h. Default 4d for gpt2 (GELU MLP); for llama (SwiGLU) 8d/3 rounded up to a multiple of 8, which keeps the parameter count of a 4d plain MLP. */
  mlpHidden?: number;
  /** Tie the output head to the token embedding. Default true (at small scale it saves V*d parameters at no loss). */
  tieEmbeddings?: boolean;
  /** Epsilon of every LayerNorm / RMSNorm. Default 1e-5. */
  normEps?: number;
  /** Rotary base (llama family only). Default 10000. */
  ropeBase?: number;
  /** Mixture-of-Depths routing. Omit or set blocks "none" for a dense model. */
  routing?: RoutingConfig;
  /** Mixture-of-experts MLPs (MoE, and with `routing` or `noop` the paper's MoDE, section 6). Omit for dense MLPs. */
  experts?: ExpertsConfig;
}

/** How an MoE MLP assigns tokens to experts. */
export type ExpertRouting = "expert-choice" | "token-choice";

/**
 * Mixture-of-experts MLPs (docs/method.md section 6). A block listed here replaces its MLP by
 * `count` expert MLPs of the block's family plus `noop` no-op experts, under one router.
 * - MoE: `noop: 0` on dense blocks. The reduced-capacity baseline is MoE with a lower `capacity`.
 * - Integrated MoDE: `noop > 0`; attention always runs, a token no real expert takes passes
 *   the MLP unchanged.
 * - Staged MoDE: the same blocks also routed by `routing` (the MoD router decides first).
 */
export interface ExpertsConfig {
  /** Which blocks get an MoE MLP. Default "all". */
  blocks?: RoutedBlocks;
  /** Real expert MLPs per MoE block, >= 1. Default 4 (the paper's figure 7 draws 4). */
  count?: number;
  /**
   * No-op experts: router columns with no MLP. They enter the router's softmax, so a token can
   * learn to put its weight on the residual path, lowering its gate and its rank for every real
   * expert. Default 0.
   */
  noop?: number;
  /**
   * Fraction of the block's tokens each REAL expert takes (expert choice), in (0, 1]. Default
   * 1 / count: each token is processed about once, the dense MLP's compute. Never divided by
   * a count that includes the no-op experts.
   */
  capacity?: number;
  /** Hidden size of each expert MLP. Default the model's mlpHidden. */
  hidden?: number;
  /**
   * "expert-choice" (default): each real expert takes its top-k tokens of the sequence,
   * k = routedTokens(capacity, tokens). "token-choice": each token picks its top-1 expert (real
   * or no-op); a real expert keeps at most k of the tokens that picked it, those with the
   * highest probability, and drops the rest (they pass the MLP unchanged). The capacity
   * factor of the MoE literature is capacity * count.
   */
  routing?: ExpertRouting;
  /**
   * Auxiliary BCE of each real expert's router logit against "the expert took this token", so
   * that at sampling time a token goes to expert e iff sigmoid(logit_e) > 0.5 (section 3 per
   * routing decision). Default weight 0.01; null disables (the causal rule is then untrained).
   */
  auxLoss?: { weight: number } | null;
  /**
   * Token choice only: the Switch Transformer's load-balancing loss
   * weight * E * sum over real experts of (fraction of tokens that picked e) * (mean p_e).
   * Default weight 0.01 with "token-choice"; null disables. No-op experts are not balanced: how
   * many tokens take the residual path is learned.
   */
  balanceLoss?: { weight: number } | null;
  /**
   * Expert choice only: an auxiliary predictor MLP d -> hidden -> E on the stop-gradient MLP
   * input, trained by BCE against "expert e took this token" (section 3's predictor, one output
   * per real expert). Default null (off); `{}` gives hidden d/2 and weight 1.
   */
  predictor?: { hidden?: number; weight?: number } | null;
  /** Expert choice: the sampling-time rule per (token, expert). Default "predictor" when enabled, else "threshold" (sigmoid of the router logit > 0.5). */
  causal?: CausalRouting;
  /**
   * Router z-loss, weight * mean over tokens of logsumexp(logits)^2 (ST-MoE, Zoph et al. 2022;
   * used by Mixture-of-Recursions): keeps the router logits small. Default null (off).
   */
  zLoss?: { weight: number } | null;
}

/** {@link ExpertsConfig} with every default filled in. */
export interface ResolvedExperts {
  blocks: readonly number[];
  count: number;
  noop: number;
  capacity: number;
  hidden: number;
  routing: ExpertRouting;
  /** Expert choice: the causal rule's BCE (default 0.01); always null with token choice, whose top-1 is causal already. */
  auxLoss: { weight: number } | null;
  /** Token choice: the load-balancing loss (default 0.01); always null with expert choice. */
  balanceLoss: { weight: number } | null;
  /** Expert choice: the causal predictor, or null. */
  predictor: { hidden: number; weight: number } | null;
  /** Expert choice: the causal rule ("threshold" with token choice, whose top-1 needs none). */
  causal: CausalRouting;
  /** Router z-loss, or null. */
  zLoss: { weight: number } | null;
}

export interface ResolvedRouting {
  blocks: readonly number[];
  capacity: number;
  router: string;
  routerOptions: Record<string, unknown>;
  auxLoss: { weight: number } | null;
  predictor: { hidden: number; weight: number } | null;
  causal: CausalRouting;
  // The follow-ups' options appear only when set, so a config without them resolves (and
  // fingerprints, in the trainer and the PyTorch twin) exactly as before they existed.
  /** Capacity warm-up; absent when off. */
  capacityWarmup?: { steps: number };
  /** "threshold" when training routes by the threshold; absent for top-k (the default). */
  train?: "threshold";
  /** With train "threshold": the probability a token's router must exceed. */
  threshold?: number;
}

/** Every field present and validated. Produced only by {@link resolveModelConfig}. */
export interface ResolvedModelConfig {
  vocabSize: number;
  dModel: number;
  nHeads: number;
  headDim: number;
  nLayers: number;
  contextLength: number;
  family: ArchitectureFamily;
  mlpHidden: number;
  /** "gelu" for gpt2 (2 matrices), "swiglu" for llama (3 matrices). */
  mlpKind: "gelu" | "swiglu";
  tieEmbeddings: boolean;
  normEps: number;
  ropeBase: number;
  routing: ResolvedRouting;
  /** Mixture-of-experts MLPs, or null (every MLP dense). */
  experts: ResolvedExperts | null;
  /** Per block: routed or dense, and its capacity k for a sequence of contextLength tokens. */
  layers: readonly { index: number; routed: boolean; capacity: number }[];
}

/** Thrown for invalid configurations; `field` is the dotted path, `value` the bad value. */
export class ConfigError extends Error {
  constructor(
    readonly field: string,
    readonly value: unknown,
    /** What is wrong, without the field and the value (for rethrowing under a longer field path). */
    readonly reason: string,
  ) {
    super(`${field}: ${reason} (got ${formatValue(value)})`);
    this.name = "ConfigError";
  }
}

function formatValue(v: unknown): string {
  // JSON would print NaN and Infinity as null.
  if (typeof v === "number" || typeof v === "bigint" || v === undefined) return String(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function positiveInt(field: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
    throw new ConfigError(field, v, "must be a positive integer");
  }
  return v;
}

/** Upper bounds of a model config's sizes (see {@link MODEL_LIMITS}). */
export interface ModelLimits {
  /** vocabSize. 1,048,576. */
  maxVocabSize: number;
  /** dModel. 16,384. */
  maxDModel: number;
  /** mlpHidden and routing.predictor.hidden. 65,536. */
  maxMlpHidden: number;
  /** nLayers. 10,000: every block is resolved (and costed, and built) one by one, so a mistyped depth such as 100000000 would spend minutes and gigabytes before any memory estimate could refuse it. */
  maxLayers: number;
  /** contextLength. 65,536. */
  maxContextLength: number;
}

/**
 * The one set of size limits of a model config, checked by resolveModelConfig. The checkpoint
 * reader (@mixdepth/transformer's CHECKPOINT_LIMITS) takes its model bounds from here, so a
 * config that resolves, and so trains, is one whose checkpoint can be read back. Far above
 * this project's models; they bound what a mistyped or untrusted config can make a program
 * allocate before anything else can refuse it.
 */
export const MODEL_LIMITS: Readonly<ModelLimits> = Object.freeze({
  maxVocabSize: 1 << 20,
  maxDModel: 16_384,
  maxMlpHidden: 65_536,
  maxLayers: 10_000,
  maxContextLength: 65_536,
});

/** A positive integer of at most MODEL_LIMITS[key]. */
function boundedInt(field: string, v: unknown, key: keyof ModelLimits): number {
  const n = positiveInt(field, v);
  if (n > MODEL_LIMITS[key]) throw new ConfigError(field, n, `must be at most ${MODEL_LIMITS[key]} (MODEL_LIMITS.${key})`);
  return n;
}

function finiteNonNegative(field: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    throw new ConfigError(field, v, "must be a finite number >= 0");
  }
  return v;
}

/**
 * The capacity of training step `step` (0-based) under a warm-up of `warmupSteps` steps to
 * `target` (Mixture-of-Recursions' capacity warm-up): a cosine from 1.0 at step 0 down to
 * `target` at step warmupSteps, then `target`:
 *   c(t) = target + (1 - target) * (1 + cos(pi * t / N)) / 2   for t < N.
 * Without a step (undefined) or without a warm-up, `target`. The model, the FLOPs accounting
 * and the planner all call this, so their capacities agree exactly.
 */
export function capacityAt(routing: Pick<ResolvedRouting, "capacity" | "capacityWarmup">, step?: number): number {
  const n = routing.capacityWarmup?.steps ?? 0;
  if (step === undefined || step >= n) return routing.capacity;
  if (!Number.isInteger(step) || step < 0) throw new RangeError(`capacityAt: step must be an integer >= 0 (got ${step})`);
  return routing.capacity + ((1 - routing.capacity) * (1 + Math.cos((Math.PI * step) / n))) / 2;
}

/**
 * Number of tokens a routed block processes in a sequence of `seqLen` tokens:
 * `k = round(capacity * seqLen)`, at least 1 and at most seqLen. Used identically by the
 * model, the FLOPs accounting and the trainer, so their numbers agree exactly.
 */
export function routedTokens(capacity: number, seqLen: number): number {
  return Math.min(seqLen, Math.max(1, Math.round(capacity * seqLen)));
}

function resolveRoutedBlocks(blocks: unknown, nLayers: number): number[] {
  if (blocks === "none") return [];
  if (blocks === "all") return Array.from({ length: nLayers }, (_, i) => i);
  if (blocks === "every-other") return Array.from({ length: nLayers }, (_, i) => i).filter((i) => i % 2 === 1);
  if (Array.isArray(blocks)) {
    const seen = new Set<number>();
    blocks.forEach((b, j) => {
      if (typeof b !== "number" || !Number.isInteger(b) || b < 0 || b >= nLayers) {
        throw new ConfigError(`routing.blocks[${j}]`, b, `must be an integer block index in [0, ${nLayers - 1}]`);
      }
      if (seen.has(b)) throw new ConfigError(`routing.blocks[${j}]`, b, "is listed twice");
      seen.add(b);
    });
    return [...seen].sort((a, b) => a - b);
  }
  throw new ConfigError("routing.blocks", blocks, 'must be "none", "every-other", "all" or a list of block indices');
}

const MODEL_KEYS = ["vocabSize", "dModel", "nHeads", "nLayers", "contextLength", "family", "mlpHidden", "tieEmbeddings", "normEps", "ropeBase", "routing", "experts"] as const;
/** Router kinds whose routing.predictor is enabled when the config does not set it. */
const PREDICTOR_BY_DEFAULT: ReadonlySet<string> = new Set(["learned", "stochastic"]);

const ROUTING_KEYS = ["blocks", "capacity", "router", "routerOptions", "auxLoss", "predictor", "causal", "capacityWarmup", "train", "threshold"] as const;
const EXPERTS_KEYS = ["blocks", "count", "noop", "capacity", "hidden", "routing", "auxLoss", "balanceLoss", "predictor", "causal", "zLoss"] as const;

/** The MoE MLP of block `index`, or null when that block's MLP is dense. */
export function expertsAt(config: Pick<ResolvedModelConfig, "experts">, index: number): ResolvedExperts | null {
  const e = config.experts;
  return e && e.blocks.includes(index) ? e : null;
}

function resolveExperts(e: ExpertsConfig | undefined, nLayers: number, mlpHidden: number, dModel: number): ResolvedExperts | null {
  if (e === undefined || e === null) return null;
  let blocks: number[];
  try {
    blocks = resolveRoutedBlocks(e.blocks ?? "all", nLayers);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(err.field.replace(/^routing\./, "experts."), err.value, err.reason);
    throw err;
  }
  const count = e.count === undefined ? 4 : positiveInt("experts.count", e.count);
  const noop = e.noop ?? 0;
  if (typeof noop !== "number" || !Number.isInteger(noop) || noop < 0) throw new ConfigError("experts.noop", noop, "must be an integer >= 0");
  const capacity = e.capacity ?? 1 / count;
  if (typeof capacity !== "number" || !(capacity > 0 && capacity <= 1)) throw new ConfigError("experts.capacity", capacity, "must be in (0, 1]");
  const hidden = e.hidden === undefined ? mlpHidden : positiveInt("experts.hidden", e.hidden);
  const routing = e.routing ?? "expert-choice";
  if (routing !== "expert-choice" && routing !== "token-choice") throw new ConfigError("experts.routing", routing, 'must be "expert-choice" or "token-choice"');
  const tokenChoice = routing === "token-choice";
  if (tokenChoice && e.auxLoss) throw new ConfigError("experts.auxLoss", e.auxLoss, 'applies to routing "expert-choice" only (token choice is causal already)');
  if (!tokenChoice && e.balanceLoss) throw new ConfigError("experts.balanceLoss", e.balanceLoss, 'applies to routing "token-choice" only (expert choice is balanced by construction)');
  const auxLoss = tokenChoice || e.auxLoss === null ? null : { weight: finiteNonNegative("experts.auxLoss.weight", e.auxLoss?.weight ?? 0.01) };
  const balanceLoss = !tokenChoice || e.balanceLoss === null ? null : { weight: finiteNonNegative("experts.balanceLoss.weight", e.balanceLoss?.weight ?? 0.01) };
  if (tokenChoice && e.predictor) throw new ConfigError("experts.predictor", e.predictor, 'applies to routing "expert-choice" only (token choice is causal already)');
  const predictor =
    e.predictor === undefined || e.predictor === null
      ? null
      : {
          hidden: e.predictor.hidden === undefined ? Math.max(1, Math.floor(dModel / 2)) : positiveInt("experts.predictor.hidden", e.predictor.hidden),
          weight: finiteNonNegative("experts.predictor.weight", e.predictor.weight ?? 1),
        };
  const causal = e.causal ?? (predictor ? "predictor" : "threshold");
  if (causal !== "threshold" && causal !== "predictor") throw new ConfigError("experts.causal", causal, 'must be "threshold" or "predictor"');
  if (causal === "predictor" && !predictor) throw new ConfigError("experts.causal", causal, "needs experts.predictor (it is null)");
  const zLoss = e.zLoss === undefined || e.zLoss === null ? null : { weight: finiteNonNegative("experts.zLoss.weight", e.zLoss.weight) };
  return { blocks, count, noop, capacity, hidden, routing, auxLoss, balanceLoss, predictor, causal, zLoss };
}

/**
 * Rejects keys the config does not define (a typo would otherwise be ignored silently and its
 * default used), `__proto__` and `constructor` included: own keys only, checked by name.
 */
function checkKeys(field: string, value: object, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      const path = field ? `${field}.${key}` : key;
      throw new ConfigError(path, (value as Record<string, unknown>)[key], `unknown field (known: ${known.join(", ")})`);
    }
  }
}

function checkObject(field: string, value: unknown, known: readonly string[]): void {
  if (value === null || value === undefined) return;
  if (typeof value !== "object" || Array.isArray(value)) throw new ConfigError(field, value, "must be an object");
  checkKeys(field, value, known);
}

/**
 * Validates a config and fills every default. Throws {@link ConfigError} naming the field;
 * unknown fields are errors at every level (routerOptions, whose keys the router kind
 * checks, excepted).
 */
export function resolveModelConfig(config: ModelConfig): ResolvedModelConfig {
  if (config === null || typeof config !== "object" || Array.isArray(config)) throw new ConfigError("config", config, "must be an object");
  checkKeys("", config, MODEL_KEYS);
  checkObject("routing", config.routing, ROUTING_KEYS);
  checkObject("routing.auxLoss", config.routing?.auxLoss, ["weight"]);
  checkObject("routing.predictor", config.routing?.predictor, ["hidden", "weight"]);
  checkObject("routing.capacityWarmup", config.routing?.capacityWarmup, ["steps"]);
  checkObject("experts", config.experts, EXPERTS_KEYS);
  checkObject("experts.auxLoss", config.experts?.auxLoss, ["weight"]);
  checkObject("experts.balanceLoss", config.experts?.balanceLoss, ["weight"]);
  checkObject("experts.predictor", config.experts?.predictor, ["hidden", "weight"]);
  checkObject("experts.zLoss", config.experts?.zLoss, ["weight"]);
  const vocabSize = boundedInt("vocabSize", config.vocabSize, "maxVocabSize");
  const dModel = boundedInt("dModel", config.dModel, "maxDModel");
  const nHeads = positiveInt("nHeads", config.nHeads);
  if (dModel % nHeads !== 0) throw new ConfigError("nHeads", nHeads, `must divide dModel=${dModel}`);
  const headDim = dModel / nHeads;
  const nLayers = boundedInt("nLayers", config.nLayers, "maxLayers");
  const contextLength = boundedInt("contextLength", config.contextLength, "maxContextLength");
  const family = config.family ?? "llama";
  if (family !== "gpt2" && family !== "llama") throw new ConfigError("family", family, 'must be "gpt2" or "llama"');
  if (family === "llama" && headDim % 2 !== 0) {
    throw new ConfigError("nHeads", nHeads, `gives an odd head size ${headDim}; rotary embeddings need an even one`);
  }
  const mlpHidden =
    config.mlpHidden === undefined
      ? family === "gpt2"
        ? 4 * dModel
        : Math.ceil((8 * dModel) / 3 / 8) * 8
      : boundedInt("mlpHidden", config.mlpHidden, "maxMlpHidden");
  const tieEmbeddings = config.tieEmbeddings ?? true;
  if (typeof tieEmbeddings !== "boolean") throw new ConfigError("tieEmbeddings", tieEmbeddings, "must be a boolean");
  const normEps = config.normEps ?? 1e-5;
  if (typeof normEps !== "number" || !(normEps > 0)) throw new ConfigError("normEps", normEps, "must be a number > 0");
  const ropeBase = config.ropeBase ?? 10000;
  if (typeof ropeBase !== "number" || !(ropeBase > 1)) throw new ConfigError("ropeBase", ropeBase, "must be a number > 1");

  const r = config.routing ?? { blocks: "none" };
  const blocks = resolveRoutedBlocks(r.blocks ?? "every-other", nLayers);
  const capacity = r.capacity ?? 0.125;
  if (typeof capacity !== "number" || !(capacity > 0 && capacity <= 1)) {
    throw new ConfigError("routing.capacity", capacity, "must be in (0, 1]");
  }
  const router = r.router ?? "learned";
  if (typeof router !== "string" || router.length === 0) throw new ConfigError("routing.router", router, "must be a router kind name");
  const routerOptions = r.routerOptions ?? {};
  if (routerOptions === null || typeof routerOptions !== "object" || Array.isArray(routerOptions)) {
    throw new ConfigError("routing.routerOptions", routerOptions, "must be an object");
  }
  for (const key of ["__proto__", "constructor", "prototype"]) {
    // The kind checks its own keys; these names are never options, and copying them is a hazard.
    if (Object.hasOwn(routerOptions, key)) throw new ConfigError(`routing.routerOptions.${key}`, (routerOptions as Record<string, unknown>)[key], "is not allowed as an option name");
  }
  const train = r.train ?? "topk";
  if (train !== "topk" && train !== "threshold") throw new ConfigError("routing.train", train, 'must be "topk" or "threshold"');
  const byThreshold = train === "threshold";
  const threshold = r.threshold ?? 0.5;
  if (r.threshold !== undefined && !byThreshold) throw new ConfigError("routing.threshold", r.threshold, 'applies to routing.train "threshold" only');
  if (typeof threshold !== "number" || !(threshold > 0 && threshold < 1)) throw new ConfigError("routing.threshold", threshold, "must be a probability in (0, 1)");
  // Threshold training routes by the sampling rule itself: nothing for an aux BCE or a predictor to learn.
  if (byThreshold && r.auxLoss) throw new ConfigError("routing.auxLoss", r.auxLoss, 'does not apply with routing.train "threshold" (training already routes by the threshold)');
  if (byThreshold && r.predictor) throw new ConfigError("routing.predictor", r.predictor, 'does not apply with routing.train "threshold" (training already routes by the threshold)');
  if (byThreshold && r.causal === "predictor") throw new ConfigError("routing.causal", r.causal, 'must be "threshold" with routing.train "threshold"');
  if (byThreshold && r.capacityWarmup) throw new ConfigError("routing.capacityWarmup", r.capacityWarmup, 'applies to routing.train "topk" only (the threshold sets no capacity)');
  const capacityWarmup =
    r.capacityWarmup === undefined || r.capacityWarmup === null ? null : { steps: positiveInt("routing.capacityWarmup.steps", r.capacityWarmup.steps) };
  const auxLoss =
    r.auxLoss === null || byThreshold ? null : { weight: finiteNonNegative("routing.auxLoss.weight", r.auxLoss?.weight ?? 0.01) };
  // Only the built-in kinds have a predictor by default (the learned router trains it; the
  // stochastic control keeps the historical default, unused by it); a custom kind gets one
  // only when routing.predictor asks, so its causal rule defaults to the threshold.
  const predictor =
    r.predictor === null || byThreshold || (r.predictor === undefined && !PREDICTOR_BY_DEFAULT.has(router))
      ? null
      : {
          hidden: r.predictor?.hidden === undefined ? Math.max(1, Math.floor(dModel / 2)) : boundedInt("routing.predictor.hidden", r.predictor.hidden, "maxMlpHidden"),
          weight: finiteNonNegative("routing.predictor.weight", r.predictor?.weight ?? 1),
        };
  const causal = r.causal ?? (predictor ? "predictor" : "threshold");
  if (causal !== "threshold" && causal !== "predictor") {
    throw new ConfigError("routing.causal", causal, 'must be "threshold" or "predictor"');
  }
  if (causal === "predictor" && !predictor) {
    throw new ConfigError("routing.causal", causal, "needs routing.predictor (it is null)");
  }
  const experts = resolveExperts(config.experts, nLayers, mlpHidden, dModel);
  const routed = new Set(blocks);
  const layers = Array.from({ length: nLayers }, (_, index) => ({
    index,
    routed: routed.has(index),
    capacity: routed.has(index) ? capacity : 1,
  }));
  return {
    vocabSize,
    dModel,
    nHeads,
    headDim,
    nLayers,
    contextLength,
    family,
    mlpHidden,
    mlpKind: family === "gpt2" ? "gelu" : "swiglu",
    tieEmbeddings,
    normEps,
    ropeBase,
    routing: {
      blocks, capacity, router, routerOptions: { ...routerOptions }, auxLoss, predictor, causal,
      ...(capacityWarmup ? { capacityWarmup } : {}),
      ...(byThreshold ? { train: "threshold" as const, threshold } : {}),
    },
    experts,
    layers,
  };
}
