// The README's table of default configs, generated from the code so it cannot drift
// (scripts/readme.js writes it; readme-table.test.ts fails when the README is stale).
import type { ModelConfig } from "./model-config.js";
import { forwardFlops, modVsDense, trainingFlops } from "./flops.js";
import { paramCounts } from "./params.js";

export const README_CONFIGS: { name: string; config: ModelConfig }[] = [
  { name: "bench dense (d256 L8 S256)", config: { vocabSize: 256, dModel: 256, nHeads: 8, nLayers: 8, contextLength: 256 } },
  {
    name: "bench MoD 12.5% every other",
    config: { vocabSize: 256, dModel: 256, nHeads: 8, nLayers: 8, contextLength: 256, routing: { blocks: "every-other", capacity: 0.125 } },
  },
  {
    name: "bench MoD 12.5%, no predictor",
    config: { vocabSize: 256, dModel: 256, nHeads: 8, nLayers: 8, contextLength: 256, routing: { blocks: "every-other", capacity: 0.125, predictor: null } },
  },
  {
    name: "bench MoD 50% every other",
    config: { vocabSize: 256, dModel: 256, nHeads: 8, nLayers: 8, contextLength: 256, routing: { blocks: "every-other", capacity: 0.5 } },
  },
  {
    name: "llama MoD 12.5% every other",
    config: { vocabSize: 256, dModel: 256, nHeads: 8, nLayers: 8, contextLength: 256, family: "llama", routing: { blocks: "every-other", capacity: 0.125 } },
  },
];

const fmt = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(3)} G` : `${(n / 1e6).toFixed(3)} M`);

export function readmeTable(): string {
  const rows = README_CONFIGS.map(({ name, config }) => {
    const f = forwardFlops(config);
    const t = trainingFlops(config);
    const p = paramCounts(config);
    return `| ${name} | ${fmt(p.total)} | ${fmt(f.total)} | ${fmt(t.perToken)} | ${modVsDense(config).ratio.toFixed(4)} |`;
  });
  return [
    "| config | params | forward FLOPs / sequence | training FLOPs / token | MoD / dense forward |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...rows,
  ].join("\n");
}

export const TABLE_START = "<!-- flops-table:start -->";
export const TABLE_END = "<!-- flops-table:end -->";

/** Replaces the text between the markers with the current table. */
export function withTable(readme: string): string {
  const a = readme.indexOf(TABLE_START);
  const b = readme.indexOf(TABLE_END);
  if (a < 0 || b < a) throw new Error(`README lacks the ${TABLE_START} ... ${TABLE_END} markers`);
  return readme.slice(0, a + TABLE_START.length) + "\n" + readmeTable() + "\n" + readme.slice(b);
}
