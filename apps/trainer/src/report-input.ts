// What the report reads, validated: metrics.jsonl and depth.json are files a user (or a
// hostile checkpoint author) may have edited, and their values end up in an HTML page. A
// record with a wrong field is skipped and counted, a depth.json that does not match the
// DepthView shape is left out, and the page says so; the report itself still escapes every
// value (report.ts). Both files are read through the bounded reader (read-file.ts).
import { existsSync } from "node:fs";
import { z } from "zod";
import type { DepthView } from "./depth-view.js";
import type { EvalRecord, TrainRecord } from "./metrics.js";
import { InputFileError, MAX_JSON_BYTES, MAX_LOG_BYTES, readBoundedText } from "./read-file.js";

// JSON has no NaN: JSON.stringify writes a non-finite number as null.
const num = z.union([z.number(), z.null()]).transform((v) => v ?? Number.NaN);
const int = z.number().int().nonnegative();

const trainSchema = z.object({
  type: z.literal("train"),
  step: int,
  loss: num,
  total: num,
  aux: num,
  lr: num,
  gradNorm: num,
  tokens: num,
  flops: num,
  msPerStep: num,
  tokensPerSec: num,
});

const lossSchema = z.object({ loss: num, bpb: num });
const evalSchema = z.object({
  type: z.literal("eval"),
  step: int,
  flops: num,
  tokens: num,
  topk: lossSchema,
  causal: lossSchema.nullable().default(null),
  routing: z
    .array(z.object({ layer: int, nominalFraction: num, causalFraction: num, accuracy: num, precision: num.default(null), recall: num.default(null) }))
    .default([]),
  seconds: num,
  tokensPerSec: num,
  auxLosses: z.record(z.string().max(200), num).optional(),
});

const startSchema = z.object({
  type: z.literal("start"),
  backend: z.string().max(1000),
  config: z.unknown(),
  paramCount: num,
  flopsPerStep: num,
  forwardFlopsPerSequence: num,
});

export type StartInfo = z.infer<typeof startSchema>;

export interface ReportInput {
  train: TrainRecord[];
  evals: EvalRecord[];
  start: StartInfo | null;
  /** One line per problem found (shown on the page). */
  problems: string[];
}

const issue = (e: z.ZodError) => {
  const i = e.issues[0];
  return i ? `${i.path.join(".") || "(record)"}: ${i.message}` : "invalid";
};

/** The train, eval and (last) start records of metrics.jsonl; records with invalid fields are skipped and reported. */
export function readReportMetrics(path: string): ReportInput {
  const out: ReportInput = { train: [], evals: [], start: null, problems: [] };
  if (!existsSync(path)) return out;
  const lines = readBoundedText(path, MAX_LOG_BYTES, "metrics.jsonl", "MAX_LOG_BYTES, 256 MiB").split("\n");
  let skipped = 0;
  let first = "";
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    const skip = (why: string) => {
      skipped++;
      first ||= `line ${i + 1}, ${why}`;
    };
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      // A torn last line (crash mid-append) is expected; anything else is damage.
      if (lines.slice(i + 1).some((l) => l.trim())) skip("not JSON");
      return;
    }
    const type = (rec as { type?: unknown } | null)?.type;
    const schema = type === "train" ? trainSchema : type === "eval" ? evalSchema : type === "start" ? startSchema : null;
    if (!schema) return; // checkpoint, end, error: not drawn
    const r = schema.safeParse(rec);
    if (!r.success) return skip(issue(r.error));
    if (r.data.type === "train") out.train.push(r.data);
    else if (r.data.type === "eval") out.evals.push(r.data as EvalRecord);
    else out.start = r.data;
  });
  if (skipped) out.problems.push(`metrics.jsonl: ${skipped} record${skipped > 1 ? "s" : ""} skipped for invalid fields (first: ${first})`);
  return out;
}

const MAX_DEPTH_LAYERS = 4096;
const depthSchema = z
  .object({
    step: int,
    nLayers: z.number().int().min(1).max(MAX_DEPTH_LAYERS),
    routedBlocks: z.array(int).max(MAX_DEPTH_LAYERS),
    tokens: z.array(z.string().max(1000)).max(1 << 16),
    modes: z
      .array(
        z.object({
          mode: z.enum(["topk", "causal"]),
          depth: z.array(int),
          // MoE blocks' load on the passage (absent for models without experts).
          experts: z.array(z.object({ layer: int, load: z.array(int).max(4096), skipped: int, tokens: int })).max(MAX_DEPTH_LAYERS).optional(),
        }),
      )
      .max(2),
  })
  .superRefine((v, ctx) => {
    v.routedBlocks.forEach((b, i) => {
      if (b >= v.nLayers) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["routedBlocks", i], message: `block ${b} is not below nLayers ${v.nLayers}` });
    });
    v.modes.forEach((m, i) => {
      if (m.depth.length !== v.tokens.length) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["modes", i, "depth"], message: `${m.depth.length} depths for ${v.tokens.length} tokens` });
      const j = m.depth.findIndex((d) => d > v.nLayers);
      if (j >= 0) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["modes", i, "depth", j], message: `depth ${m.depth[j]} exceeds nLayers ${v.nLayers}` });
    });
  });

/** depth.json if present and valid; else null, with the reason in `problems`. */
export function readDepthView(path: string, problems: string[]): DepthView | null {
  if (!existsSync(path)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readBoundedText(path, MAX_JSON_BYTES, "depth.json", "MAX_JSON_BYTES, 16 MiB"));
  } catch (e) {
    problems.push(`${e instanceof InputFileError ? "" : "depth.json: not valid JSON: "}${(e as Error).message}; the depth view is left out`);
    return null;
  }
  const r = depthSchema.safeParse(raw);
  if (!r.success) {
    problems.push(`depth.json: ${issue(r.error)}; the depth view is left out`);
    return null;
  }
  return r.data;
}
