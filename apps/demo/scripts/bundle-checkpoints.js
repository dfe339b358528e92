// Bundles checkpoints into the demo page: checks each one, then replaces
// public/checkpoints/{mod,dense}/ and index.json (which the page reads at start) with exactly
// the checkpoints given.
//   node apps/demo/scripts/bundle-checkpoints.js --mod <checkpoint> [--dense <checkpoint>] [--max-mib 16] [--out <dir>]
// A checkpoint is a folder with config.json + model.safetensors, as `mixdepth train` writes
// them under runs/<run>/checkpoints/step-NNNNNN (the run's checkpoints/latest.json names the
// newest) and saveModel() of @mixdepth/transformer/node writes them anywhere.
// Checks, all before anything is written (exit 2 and nothing changed on failure):
//   - each model.safetensors is at most --max-mib MiB: the page downloads it on every visit
//     and git keeps every version ever bundled;
//   - each checkpoint passes @mixdepth/transformer's safe reader (config limits, header
//     names and shapes against the config, then the data): the page reads it the same way;
//   - the mod slot has routed blocks and the dense slot has none.
// Shapes and families are read from each config; nothing here assumes d=64 or gpt2. A
// dense checkpoint of another shape than the MoD one is allowed with a warning (the page
// says so beside the timing). Without --dense the page has no dense slot, and times MoD only.
// Writing: the new folders are staged beside the old ones and renamed into place, then
// index.json is replaced by a rename, so an interrupted run leaves a readable bundle.
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const USAGE = "usage: node apps/demo/scripts/bundle-checkpoints.js --mod <checkpoint folder> [--dense <checkpoint folder>] [--max-mib 16] [--out <dir>]";
const DEFAULT_MAX_MIB = 16;
const FILES = ["model.safetensors", "config.json"];

/** An input error: printed with the usage line, exit 2. */
class InputError extends Error {}

function parse(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { mod: { type: "string" }, dense: { type: "string" }, "max-mib": { type: "string" }, out: { type: "string" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new InputError(e.message);
  }
  if (!values.mod) throw new InputError("--mod: the MoD checkpoint folder is required");
  const maxMib = values["max-mib"] === undefined ? DEFAULT_MAX_MIB : Number(values["max-mib"]);
  if (!Number.isFinite(maxMib) || maxMib <= 0) throw new InputError(`--max-mib: expected a positive number of MiB (got ${JSON.stringify(values["max-mib"])})`);
  const out = resolve(values.out ?? join(dirname(fileURLToPath(import.meta.url)), "..", "public", "checkpoints"));
  const slots = [["mod", values.mod]];
  if (values.dense) slots.push(["dense", values.dense]);
  return { slots, maxBytes: Math.floor(maxMib * 1024 ** 2), maxMib, out };
}

/** Checks one checkpoint folder for `slot`; returns what the summary prints. */
function check(readCheckpoint, slot, dir, maxBytes, maxMib) {
  const where = `--${slot} ${JSON.stringify(dir)}`;
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InputError(`${where}: not a folder`);
  if (!existsSync(join(dir, "model.safetensors")) && existsSync(join(dir, "checkpoints", "latest.json"))) {
    throw new InputError(`${where}: a run folder, not a checkpoint folder; pass one of its checkpoints, e.g. ${join(dir, "checkpoints", "step-NNNNNN")} (checkpoints/latest.json names the newest)`);
  }
  for (const f of FILES) if (!existsSync(join(dir, f))) throw new InputError(`${where}: ${f} is missing (a checkpoint folder holds ${FILES.join(" + ")})`);
  const bytes = statSync(join(dir, "model.safetensors")).size;
  if (bytes > maxBytes) {
    throw new InputError(`${where}: model.safetensors is ${(bytes / 1024 ** 2).toFixed(1)} MiB, over the limit of ${maxMib} MiB (--max-mib): the page downloads it on every visit`);
  }
  let parsed;
  try {
    parsed = readCheckpoint(dir, { limits: { maxWeightsBytes: maxBytes } });
  } catch (e) {
    throw new InputError(`${where}: ${e.message}`);
  }
  const c = parsed.resolved;
  const routed = c.routing.blocks.length;
  if (slot === "mod" && routed === 0) throw new InputError(`${where}: has no routed blocks (routing.blocks is empty); the MoD slot needs a Mixture-of-Depths model`);
  if (slot === "dense" && routed > 0) throw new InputError(`${where}: routes blocks ${c.routing.blocks.join(", ")}; the dense slot needs a model without routed blocks`);
  const shape = `${c.family} L=${c.nLayers} d=${c.dModel} heads=${c.nHeads} ctx=${c.contextLength} V=${c.vocabSize}`;
  const step = typeof parsed.json.step === "number" ? `, step ${parsed.json.step}` : "";
  const routing = routed ? `, MoD blocks ${c.routing.blocks.join(", ")} at ${c.routing.capacity}` : "";
  return { slot, dir, shape, line: `${slot}: ${dir} -> checkpoints/${slot} (${shape}${routing}${step}, ${(bytes / 1024).toFixed(0)} KiB)` };
}

function write(out, checked) {
  mkdirSync(out, { recursive: true });
  const tag = `${process.pid}-${Date.now()}`;
  const staged = checked.map((c) => {
    const tmp = join(out, `.${c.slot}.tmp-${tag}`);
    mkdirSync(tmp);
    for (const f of FILES) copyFileSync(join(c.dir, f), join(tmp, f));
    return { ...c, tmp };
  });
  for (const s of staged) {
    const to = join(out, s.slot);
    const old = join(out, `.${s.slot}.old-${tag}`);
    if (existsSync(to)) renameSync(to, old);
    renameSync(s.tmp, to);
    rmSync(old, { recursive: true, force: true });
  }
  const index = Object.fromEntries(staged.map((s) => [s.slot, `checkpoints/${s.slot}`]));
  const tmpIndex = join(out, `.index.json.tmp-${tag}`);
  writeFileSync(tmpIndex, JSON.stringify(index, null, 2) + "\n");
  renameSync(tmpIndex, join(out, "index.json"));
  // A slot not given is no longer bundled: remove its folder so no stale pair remains.
  for (const slot of ["mod", "dense"]) if (!(slot in index)) rmSync(join(out, slot), { recursive: true, force: true });
}

async function main(argv) {
  let args;
  let checked;
  try {
    args = parse(argv);
    // Loaded after the arguments are read: a usage error answers without loading tfjs.
    const { readCheckpoint } = await import("@mixdepth/transformer/node");
    checked = args.slots.map(([slot, dir]) => check(readCheckpoint, slot, resolve(dir), args.maxBytes, args.maxMib));
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    console.error(`bundle-checkpoints: ${e.message}\n${USAGE}`);
    return 2;
  }
  const [mod, dense] = checked;
  if (dense && mod && dense.shape !== mod.shape) {
    console.warn(`warning: the dense checkpoint (${dense.shape}) differs in shape from the MoD one (${mod.shape}): the page's timing is then not like for like`);
  }
  write(args.out, checked);
  for (const c of checked) console.log(c.line);
  console.log(`wrote ${join(args.out, "index.json")}: ${checked.map((c) => c.slot).join(", ")}`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
