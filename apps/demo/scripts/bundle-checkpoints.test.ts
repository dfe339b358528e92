// The bundling script as a user runs it (node, exit codes, files written or not): it copies
// exactly the checkpoints given, refuses oversize, broken or wrong-slot ones with exit 2 and
// an unchanged bundle, and takes any shape and family (a llama d=48 checkpoint made here).
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCheckpoint } from "../test/make-checkpoint.js";

const demoDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const script = join(demoDir, "scripts", "bundle-checkpoints.js");
const bundled = join(demoDir, "public", "checkpoints");
const mod = join(bundled, "mod");
const dense = join(bundled, "dense");

function bundle(...args: string[]) {
  const r = spawnSync(process.execPath, [script, ...args], { cwd: demoDir, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every file under `dir` with its bytes, to prove a refused run changed nothing. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out[join(e.parentPath, e.name)] = readFileSync(join(e.parentPath, e.name)).toString("base64");
  }
  return out;
}

// The descriptions below are those of the bundled checkpoints (README, "The bundled
// checkpoints"): rebundling other ones updates them.
describe("bundle-checkpoints.js", () => {
  let tmp: string;
  let llama: string;

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), "demo-bundle-"));
    // A llama-family MoD checkpoint of another shape than the bundled ones (llama d=128, 6 blocks).
    llama = join(tmp, "llama-mod");
    makeCheckpoint(llama, { vocabSize: 256, dModel: 48, nHeads: 4, nLayers: 3, contextLength: 96, family: "llama", routing: { blocks: [1], capacity: 0.25 } }, 7, { tokenizer: { type: "byte" }, step: 5 });
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("copies the MoD and dense checkpoints and writes index.json naming both", () => {
    const out = join(tmp, "both");
    const r = bundle("--mod", mod, "--dense", dense, "--out", out);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(out, "index.json"), "utf8"))).toEqual({ mod: "checkpoints/mod", dense: "checkpoints/dense" });
    for (const slot of ["mod", "dense"]) {
      for (const f of ["model.safetensors", "config.json"]) expect(readFileSync(join(out, slot, f)).equals(readFileSync(join(bundled, slot, f))), `${slot}/${f}`).toBe(true);
    }
    expect(readdirSync(out).sort()).toEqual(["dense", "index.json", "mod"]); // no temp folders left
    expect(r.stdout).toContain("mod: ");
    expect(r.stdout).toContain("(llama L=6 d=128 heads=4 ctx=128 V=256, MoD blocks 1, 3, 5 at 0.125, step 5000, 4871 KiB)");
  });

  it("bundles exactly what it is given: another shape and family, and no stale dense slot", () => {
    const out = join(tmp, "swap");
    expect(bundle("--mod", mod, "--dense", dense, "--out", out).status).toBe(0);
    const r = bundle("--mod", llama, "--out", out);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("llama L=3 d=48 heads=4 ctx=96 V=256, MoD blocks 1 at 0.25, step 5");
    expect(JSON.parse(readFileSync(join(out, "index.json"), "utf8"))).toEqual({ mod: "checkpoints/mod" });
    expect(readdirSync(out).sort()).toEqual(["index.json", "mod"]);
    expect(JSON.parse(readFileSync(join(out, "mod", "config.json"), "utf8")).model).toMatchObject({ family: "llama", dModel: 48 });
  });

  it("warns when the dense checkpoint's shape differs from the MoD one", () => {
    const r = bundle("--mod", llama, "--dense", dense, "--out", join(tmp, "mixed"));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain("warning: the dense checkpoint (llama L=6 d=128 heads=4 ctx=128 V=256) differs in shape from the MoD one (llama L=3 d=48 heads=4 ctx=96 V=256)");
  });

  it("refuses bad input with exit 2, naming the argument, and changes nothing", () => {
    const out = join(tmp, "kept");
    expect(bundle("--mod", mod, "--dense", dense, "--out", out).status).toBe(0);
    const before = snapshot(out);
    const broken = join(tmp, "broken");
    mkdirSync(broken);
    copyFileSync(join(mod, "config.json"), join(broken, "config.json"));
    writeFileSync(join(broken, "model.safetensors"), readFileSync(join(mod, "model.safetensors")).subarray(0, 5000));
    const run = join(tmp, "run");
    mkdirSync(join(run, "checkpoints"), { recursive: true });
    writeFileSync(join(run, "checkpoints", "latest.json"), JSON.stringify({ checkpoint: "step-000300", step: 300 }));
    const cases: [string[], RegExp][] = [
      [["--mod", mod, "--max-mib", "0.5"], /--mod ".*mod": model\.safetensors is 4\.8 MiB, over the limit of 0\.5 MiB \(--max-mib\)/],
      [["--mod", dense], /--mod ".*dense": has no routed blocks/],
      [["--mod", mod, "--dense", mod], /--dense ".*mod": routes blocks 1, 3, 5; the dense slot needs a model without routed blocks/],
      [["--mod", broken], /--mod ".*broken": .*model\.safetensors/],
      [["--mod", run], /--mod ".*run": a run folder, not a checkpoint folder; pass one of its checkpoints, e\.g\. .*step-NNNNNN/],
      [["--mod", join(tmp, "nowhere")], /--mod ".*nowhere": not a folder/],
      [["--mod", tmp], /model\.safetensors is missing/],
      [["--dense", dense], /--mod: the MoD checkpoint folder is required/],
      [["--mod", mod, "--max-mib", "lots"], /--max-mib: expected a positive number of MiB \(got "lots"\)/],
      [["--mod", mod, "--bogus"], /Unknown option '--bogus'/],
    ];
    for (const [args, message] of cases) {
      const r = bundle(...args, "--out", out);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(message);
      expect(r.stderr).toContain("usage: node apps/demo/scripts/bundle-checkpoints.js --mod");
      expect(snapshot(out), args.join(" ")).toEqual(before);
    }
  });
});
