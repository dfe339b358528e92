// The README's generated parts, computed from the code so they cannot drift: the table of
// default configs and the output of the ratio command (scripts/readme.js writes both,
// scripts/ratio.js prints the report; readme-table.test.ts fails when the README is stale).
import { resolveModelConfig, type ModelConfig, type ResolvedModelConfig } from "@mixdepth/core";
import { asResolved, denseCounterpart, forwardFlops, modVsDense, trainingFlops } from "./flops.js";
import { paramCounts } from "./params.js";
import { linearRouterCost, type RouterCost } from "./router-cost.js";

// routerCost: what the router kind declares when registered (@mixdepth/router); omitted: the learned router's.
export const README_CONFIGS: { name: string; config: ModelConfig; routerCost?: RouterCost }[] = [
  { name: "bench dense (d256 L8 S256)", config: { vocabSize: 256, dModel: 256, nHeads: 8, nLayers: 8, contextLength: 256, family: "gpt2" } },
  {
    name: "bench MoD 12.5% every other",
    config: { vocabSize: 256, dModel: 256, nHeads: 8, nLayers: 8, contextLength: 256, family: "gpt2", routing: { blocks: "every-other", capacity: 0.125 } },
  },
  {
    name: "bench MoD 12.5%, no predictor",
    config: { vocabSize: 256, dModel: 256, nHeads: 8, nLayers: 8, contextLength: 256, family: "gpt2", routing: { blocks: "every-other", capacity: 0.125, predictor: null } },
  },
  {
    name: "bench MoD 50% every other",
    config: { vocabSize: 256, dModel: 256, nHeads: 8, nLayers: 8, contextLength: 256, family: "gpt2", routing: { blocks: "every-other", capacity: 0.5 } },
  },
  {
    name: "bench stochastic 12.5% (control)",
    config: {
      vocabSize: 256, dModel: 256, nHeads: 8, nLayers: 8, contextLength: 256, family: "gpt2",
      routing: { blocks: "every-other", capacity: 0.125, router: "stochastic", predictor: null, auxLoss: null },
    },
    routerCost: { params: 0, flopsPerToken: 0 }, // the stochastic kind's declaration: no weights
  },
  {
    name: "llama dense (d256 L8 S256)",
    config: { vocabSize: 256, dModel: 256, nHeads: 8, nLayers: 8, contextLength: 256, family: "llama" },
  },
  {
    name: "llama MoD 12.5% every other",
    config: { vocabSize: 256, dModel: 256, nHeads: 8, nLayers: 8, contextLength: 256, family: "llama", routing: { blocks: "every-other", capacity: 0.125 } },
  },
];

/** The learned router's declaration (@mixdepth/router registers it so): linear score + predictor. */
function learned(config: ModelConfig | ResolvedModelConfig): RouterCost {
  const r = asResolved(config);
  return linearRouterCost(r.dModel, r.routing.predictor);
}

const fmt = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(3)} G` : `${(n / 1e6).toFixed(3)} M`);

export function readmeTable(): string {
  const rows = README_CONFIGS.map(({ name, config, routerCost }) => {
    const o = { routerCost: routerCost ?? learned(config) };
    const f = forwardFlops(config, o);
    const t = trainingFlops(config, o);
    const p = paramCounts(config, o);
    return `| ${name} | ${fmt(p.total)} | ${fmt(f.total)} | ${fmt(t.perToken)} | ${modVsDense(config, o).ratio.toFixed(4)} |`;
  });
  return [
    "| config | params | forward FLOPs / sequence | training FLOPs / token | MoD / dense forward |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...rows,
  ].join("\n");
}

/** The benchmark MoD config of the ratio command: d=256, L=8, heads 8, S=256, V=256, capacity 0.125 every other block. */
export const RATIO_CONFIG: ModelConfig = {
  vocabSize: 256, dModel: 256, nHeads: 8, nLayers: 8, contextLength: 256, family: "gpt2",
  routing: { blocks: "every-other", capacity: 0.125 },
};

/** Per-block, per-component forward FLOPs of {@link RATIO_CONFIG} and its MoD/dense ratios. */
export function ratioReport(): string {
  const config = resolveModelConfig(RATIO_CONFIG);
  const mod = forwardFlops(config, { routerCost: learned(config) });
  const dense = forwardFlops(denseCounterpart(config));
  const M = (n: number) => (n / 1e6).toFixed(3).padStart(10);
  const lines = [
    "d=256 L=8 heads=8 S=256 V=256, capacity 0.125 on blocks 1,3,5,7 (learned router, predictor d/2); forward MFLOPs per sequence",
    "block  routed tokens       qkv    scores    values       out       mlp    router predictor     total",
    ...mod.blocks.map(
      (b) =>
        `${String(b.index).padStart(5)}  ${String(b.routed).padEnd(6)} ${String(b.tokens).padStart(6)} ` +
        `${M(b.qkv)}${M(b.attentionScores)}${M(b.attentionValues)}${M(b.attentionOutput)}${M(b.mlp)}${M(b.router)}${M(b.predictor)}${M(b.total)}`,
    ),
    `head (2*S*d*V) ${M(mod.head)}`,
    `forward per sequence: MoD ${mod.total} FLOPs, dense ${dense.total} FLOPs`,
    `MoD/dense forward FLOPs ratio: ${modVsDense(config, { routerCost: learned(config) }).ratio.toFixed(4)}`,
    `MoD/dense training FLOPs ratio: ${(trainingFlops(config, { routerCost: learned(config) }).total / trainingFlops(denseCounterpart(config)).total).toFixed(4)}`,
  ];
  const noPredictor = resolveModelConfig({ ...RATIO_CONFIG, routing: { ...RATIO_CONFIG.routing, predictor: null } });
  lines.push(`MoD/dense forward FLOPs ratio without the predictor: ${modVsDense(noPredictor, { routerCost: learned(noPredictor) }).ratio.toFixed(4)}`);
  return lines.join("\n");
}

export const TABLE_START = "<!-- flops-table:start -->";
export const TABLE_END = "<!-- flops-table:end -->";
export const RATIO_START = "<!-- ratio-output:start -->";
export const RATIO_END = "<!-- ratio-output:end -->";

function between(readme: string, start: string, end: string, content: string): string {
  const a = readme.indexOf(start);
  const b = readme.indexOf(end);
  if (a < 0 || b < a) throw new Error(`README lacks the ${start} ... ${end} markers`);
  return readme.slice(0, a + start.length) + "\n" + content + "\n" + readme.slice(b);
}

/** Replaces the text between the markers with the current table and ratio output. */
export function withTable(readme: string): string {
  const withRatio = between(readme, RATIO_START, RATIO_END, "```text\n" + ratioReport() + "\n```");
  return between(withRatio, TABLE_START, TABLE_END, readmeTable());
}
