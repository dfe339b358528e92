// A custom router through the CLI, from a plugin outside the repository (no node_modules
// beside it: it builds on the registry it is handed): train records --plugin in run.json, and
// eval and sample of the run find it without the flag. The run's label says the causal rule
// a custom kind without a predictor gets: the threshold.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { run, tinySetup } from "./cli-test-helpers.js";

let dir = "";
let tiny: string[] = [];
beforeAll(() => ({ dir, tiny } = tinySetup()));

const PLUGIN = `export function register(registry) {
  const { tf } = registry;
  registry.registerRouter("first-feature", (context) => ({
    kind: "first-feature",
    scores: (x) => tf.tidy(() => tf.reshape(tf.slice(x, [0, 0, 0], [-1, -1, 1]), x.shape.slice(0, 2))),
    route(x, k) { return registry.topkRoute(this.scores(x), k); },
    routeCausal(x) { return registry.thresholdRoute(this.scores(x)); },
    weights: () => new Map(),
    toJSON: () => ({ kind: "first-feature", options: context.options }),
    dispose() {},
  }), { weightShapes: () => new Map(), cost: () => ({ params: 0, flopsPerToken: 0 }) });
}
`;

describe("a router plugin recorded in the run", () => {
  it("train --plugin once; eval and sample find it in run.json", async () => {
    const plugin = join(dir, "first-feature.mjs");
    writeFileSync(plugin, PLUGIN);
    const d = join(dir, "plugged");
    const train = await run(["train", ...tiny, "--out", d, "--steps", "2", "--plugin", plugin, "--set", "model.routing.router=first-feature", "--set", "model.routing.auxLoss=null"]);
    expect(train.code, train.stderr).toBe(0);
    expect(train.stdout).toMatch(/first-feature router, causal: threshold/); // no default predictor for a custom kind
    expect((JSON.parse(readFileSync(join(d, "run.json"), "utf8")) as { plugins: string[] }).plugins).toEqual([plugin]);
    const ev = await run(["eval", d, "--backend", "cpu", "--batches", "1"]);
    expect(ev.code, ev.stderr).toBe(0);
    expect(ev.stdout).toMatch(/causal routing: loss .* \(threshold\)/);
    const sample = await run(["sample", join(d, "checkpoints", "step-000002"), "--backend", "cpu", "-n", "4"]);
    expect(sample.code, sample.stderr).toBe(0);
    expect(sample.stdout).toMatch(/4 tokens in /);
  }, 120_000);

  it("run.json plugins that are not a list of strings: one line, exit 2", async () => {
    const d = join(dir, "bad-plugins");
    expect((await run(["train", ...tiny, "--out", d, "--steps", "2"])).code).toBe(0);
    const file = join(d, "run.json");
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, "utf8")), plugins: [3] }));
    const r = await run(["sample", d, "--backend", "cpu", "-n", "2"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^error: .*run\.json: plugins must be a list of module paths or package names \(got \[3\]\)$/);
  }, 120_000);
});
