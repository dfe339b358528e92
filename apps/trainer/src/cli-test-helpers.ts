// Shared by the CLI tests: run the built CLI (`pnpm build` first) as a child process, and a
// tiny config (d=16, 2 layers, 12 steps, 1 rank: no worker threads) on a generated text
// file and the cpu backend.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
export const env = { ...process.env, MIXDEPTH_BACKEND: "" };

export async function run(args: string[], extraEnv: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await promisify(execFile)("node", [cli, ...args], { env: { ...env, ...extraEnv }, maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** Loss per step from metrics.jsonl (later records win, as after a resume). */
export function losses(runDir: string): number[] {
  const byStep = new Map<number, number>();
  for (const line of readFileSync(join(runDir, "metrics.jsonl"), "utf8").split("\n")) {
    if (!line) continue;
    const r = JSON.parse(line) as { type: string; step: number; loss: number };
    if (r.type === "train") byStep.set(r.step, r.loss);
  }
  return [...byStep].sort((a, b) => a[0] - b[0]).map(([, l]) => l);
}

/** A fresh folder with text.txt and tiny.yaml; returns it and the CLI flags for the tiny run. */
export function tinySetup(): { dir: string; tiny: string[] } {
  const dir = mkdtempSync(join(tmpdir(), "mixdepth-cli-"));
  writeFileSync(join(dir, "text.txt"), Array.from({ length: 2000 }, (_, i) => `The quick brown fox ${i} jumps over the lazy dog.`).join("\n"));
  writeFileSync(
    join(dir, "tiny.yaml"),
    [
      "model: { vocabSize: 256, dModel: 16, nHeads: 2, nLayers: 2, contextLength: 16, routing: { blocks: every-other, capacity: 0.25 } }",
      "training: { steps: 12, batchSize: 2, seqLen: 16, warmupSteps: 2, evalEvery: 6, evalBatches: 1, checkpointEvery: 4, workers: 1 }",
      `data: { source: ${JSON.stringify(join(dir, "text.txt"))}, cacheDir: ${JSON.stringify(join(dir, "cache"))} }`,
    ].join("\n"),
  );
  return { dir, tiny: ["--config", join(dir, "tiny.yaml"), "--backend", "cpu"] };
}

