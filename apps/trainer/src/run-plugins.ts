// The router plugins a run recorded: train writes run.json with the resolved config, whose
// "plugins" are the config's and --plugin's modules (paths made absolute). eval and sample of a
// run's checkpoint load them first, so a custom router kind needs --plugin only once, at train.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { CheckpointError } from "@mixdepth/transformer";
import { readRegularFile, resolveCheckpointDir } from "@mixdepth/transformer/node";

/** run.json holds one config; refuse anything larger. */
const MAX_RUN_JSON_BYTES = 1 << 20;

/**
 * The plugins in run.json of the run holding `path`'s checkpoint (a run folder, or a
 * checkpoints/step-N folder inside one); [] without run.json or plugins, and [] for a path
 * that is not a checkpoint (the command itself then says why). A run.json whose plugins are
 * not a list of strings is a one-line CheckpointError.
 */
export function recordedPlugins(path: string): string[] {
  let dir: string;
  try {
    dir = resolveCheckpointDir(path);
  } catch {
    return [];
  }
  const runJson = join(dirname(dirname(dir)), "run.json");
  if (!existsSync(runJson)) return [];
  let run: unknown;
  try {
    run = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(readRegularFile(runJson, MAX_RUN_JSON_BYTES, "maxBytes")));
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    throw new CheckpointError(`${runJson} is not valid JSON (${(e as Error).message}); restore it or pass --plugin`);
  }
  const plugins = (run as { plugins?: unknown } | null)?.plugins;
  if (plugins === undefined) return [];
  if (!Array.isArray(plugins) || !plugins.every((p) => typeof p === "string" && p.length > 0)) {
    throw new CheckpointError(`${runJson}: plugins must be a list of module paths or package names (got ${JSON.stringify(plugins)?.slice(0, 120)})`);
  }
  return plugins as string[];
}
