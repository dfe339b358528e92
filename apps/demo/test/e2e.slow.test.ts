// End-to-end: build the page, serve dist/ from 127.0.0.1, open it in Debian's headless
// Chromium (playwright-core). The page must open on a finished generation from the bundled
// checkpoint, its text coloured by per-token depth in agreement with the routing trace;
// then a regeneration with another prompt, whose routing maps are checked against what
// @mixdepth/sampler reported. Nothing here assumes the checkpoint's size or family: block
// counts and token counts are read from the page, capacities from the map. Any console
// error or page error fails the test. Screenshots go to test-artifacts/ (demo.png: the page
// as it opens, the one under docs/).
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { routedTokens } from "@mixdepth/core";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCheckpoint } from "./make-checkpoint.js";
import { serveStatic, type StaticServer } from "./static-server.js";

const demoDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const artifacts = join(demoDir, "test-artifacts");
const MAX_TOKENS = 40;
const SECOND_PROMPT = "She said that";

interface MapInfo {
  tokens: number;
  blocks: number;
  cells: number;
  distinctPairs: number;
  /** Per block index: processed cells. */
  processed: Record<string, number>;
  fractions: { block: number; realized: number; nominal: number; count: string }[];
}

async function readMap(page: Page, name: string): Promise<MapInfo> {
  return page.$eval(`[data-map="${name}"]`, (root) => {
    const table = root.querySelector("table") as HTMLTableElement;
    const cells = [...root.querySelectorAll<HTMLElement>("td[data-token]")];
    const processed: Record<string, number> = {};
    for (const c of cells) if (c.dataset.processed === "true") processed[c.dataset.block as string] = (processed[c.dataset.block as string] ?? 0) + 1;
    return {
      tokens: Number(table.dataset.tokens),
      blocks: Number(table.dataset.blocks),
      cells: cells.length,
      distinctPairs: new Set(cells.map((c) => `${c.dataset.token}/${c.dataset.block}`)).size,
      processed,
      fractions: [...root.querySelectorAll<HTMLElement>("li.fraction")].map((li) => ({
        block: Number(li.dataset.block),
        realized: Number(li.dataset.realized),
        nominal: Number(li.dataset.nominal),
        count: li.dataset.count as string,
      })),
    };
  });
}

interface TextToken {
  position: number;
  kind: string;
  text: string;
  depth: string | undefined;
  blocks: string | undefined;
  background: string;
}

async function readText(page: Page): Promise<TextToken[]> {
  return page.$$eval("#text span.tok", (spans) =>
    spans.map((s) => {
      const e = s as HTMLElement;
      return {
        position: Number(e.dataset.position),
        kind: e.dataset.kind as string,
        text: e.textContent ?? "",
        depth: e.dataset.depth,
        blocks: e.dataset.blocks,
        background: getComputedStyle(e).backgroundColor,
      };
    }),
  );
}

/** Per column of the "generated" map: the blocks whose cell says processed. */
async function mapColumns(page: Page): Promise<Map<number, string[]>> {
  const pairs = await page.$$eval('[data-map="generated"] td[data-token]', (cells) =>
    cells.map((c) => [Number((c as HTMLElement).dataset.token), (c as HTMLElement).dataset.block as string, (c as HTMLElement).dataset.processed] as const),
  );
  const out = new Map<number, string[]>();
  for (const [token, block, processed] of pairs) {
    const list = out.get(token) ?? [];
    if (processed === "true") list.push(block);
    out.set(token, list);
  }
  return out;
}

/**
 * The coloured text against the routing trace: one span per token the run produced, every
 * token the model consumed coloured by the number of blocks that processed it (as the map's
 * column says), the legend's colour for that depth, the last sampled token uncoloured.
 */
async function checkDepthText(page: Page, generated: number): Promise<TextToken[]> {
  const promptTokens = Number(await page.getAttribute("#gen-map", "data-prompt-tokens"));
  const nLayers = await page.$eval('[data-map="generated"] table', (t) => Number((t as HTMLElement).dataset.blocks));
  const tokens = await readText(page);
  expect(tokens.length).toBe(promptTokens + generated);
  expect(tokens.map((t) => t.position)).toEqual(tokens.map((_, i) => i));
  expect(tokens.filter((t) => t.kind === "generated").length).toBe(generated);
  expect(tokens.filter((t) => t.kind === "generated").map((t) => t.text).join("").trim().length).toBeGreaterThan(0);
  const columns = await mapColumns(page);
  expect(columns.size).toBe(promptTokens + generated - 1);
  const legend = new Map(
    await page.$$eval("#depth-legend li[data-depth]", (lis) =>
      lis.map((li) => [(li as HTMLElement).dataset.depth as string, getComputedStyle(li.querySelector(".swatch") as HTMLElement).backgroundColor] as const),
    ),
  );
  const routedRows = await page.$$eval('[data-map="generated"] tr[data-block] th.routed', (ths) => ths.length);
  expect([...legend.keys()].filter((k) => k !== "none").map(Number)).toEqual(Array.from({ length: routedRows + 1 }, (_, i) => nLayers - routedRows + i));
  const depths = new Set<number>();
  for (const t of tokens) {
    const processed = columns.get(t.position);
    if (processed === undefined) {
      // Sampled last, never fed back: no depth, not coloured.
      expect(t.position, "only the last token lacks a column").toBe(tokens.length - 1);
      expect(t.depth).toBeUndefined();
      continue;
    }
    expect(t.depth, `token ${t.position}`).toBe(String(processed.length));
    expect(t.blocks, `token ${t.position}`).toBe(processed.join(","));
    expect(t.background, `token ${t.position} colour`).toBe(legend.get(String(processed.length)));
    depths.add(processed.length);
  }
  // Causal routing at a low capacity: some tokens skip a routed block, so depth varies.
  if (routedRows > 0) expect(depths.size, "distinct depths in the text").toBeGreaterThan(1);
  return tokens;
}

describe("demo page in headless Chromium", () => {
  let server: StaticServer;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    const built = spawnSync(process.execPath, [join(demoDir, "node_modules/vite/bin/vite.js"), "build", "--logLevel", "warn"], {
      cwd: demoDir,
      encoding: "utf8",
    });
    expect(built.status, `vite build failed:\n${built.stdout}\n${built.stderr}`).toBe(0);
    server = await serveStatic(join(demoDir, "dist"));
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`console.error: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
    page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ""}`));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("opens on a generation from the bundled checkpoint, its text coloured by depth as the routing trace says", async () => {
    await page.goto(server.url);
    // No click: the page generates from the default prompt by itself.
    await page.waitForSelector('body[data-state="done"][data-runs="1"]', { timeout: 150_000 });
    const backend = await page.$eval("#backend", (e) => ({ name: (e as HTMLElement).dataset.backend, text: e.textContent }));
    expect(["webgpu", "webgl", "wasm"]).toContain(backend.name);
    // On wasm the page runs the backend's speed fixes (@mixdepth/backend/wasm-fixes).
    if (backend.name === "wasm") expect(backend.text).toContain("3 wasm fixes: matmuls on XNNPACK (transposed, batched), slice/split/concat copy runs in place, sums over leading axes on XNNPACK");
    expect(await page.getAttribute("#ckpt-mod", "data-loaded")).toBe("true");
    const maxTokens = Number(await page.inputValue("#maxTokens"));
    const generated = Number(await page.getAttribute("#gen-map", "data-generated"));
    expect(generated).toBe(maxTokens);
    expect(await page.$eval(".prompt-text", (e) => e.textContent)).toBe(await page.inputValue("#prompt"));
    const tokens = await checkDepthText(page, generated);

    // The two sentences that say what the map and the timing mean.
    expect(await page.textContent('#explain [data-explain="routing"]')).toMatch(/Routing map:.*each column is a token and each row a block/);
    expect(await page.textContent('#explain [data-explain="timing"]')).toMatch(/Timing:.*ms per token.*MoD.*dense/);
    expect(await page.locator("#compare table").count()).toBe(1);
    const timing = await page.$eval("#compare", (e) => ({
      mod: JSON.parse((e as HTMLElement).dataset.modMs ?? "[]") as number[],
      dense: JSON.parse((e as HTMLElement).dataset.denseMs ?? "[]") as number[],
      flops: Number((e.querySelector("[data-flops-ratio]") as HTMLElement).dataset.flopsRatio),
    }));
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;
    console.log(`timing on load (${backend.name}): MoD ${median(timing.mod).toFixed(1)} ms/token, dense ${median(timing.dense).toFixed(1)} ms/token, MoD/dense FLOPs ${timing.flops.toFixed(3)}`);

    // Hover a generated token: the detail line names the blocks that processed it.
    const first = tokens.find((t) => t.kind === "generated" && t.depth !== undefined && t.text.trim() !== "") as TextToken;
    await page.hover(`#text span.tok[data-position="${first.position}"]`);
    const detail = await page.textContent("#token-detail");
    expect(detail).toContain(`(position ${first.position}): depth ${first.depth} of `);
    expect(detail).toContain(`processed by blocks ${(first.blocks as string).split(",").join(", ")};`);
    // Keyboard: the text is one tab stop; arrow keys move through the tokens.
    await page.focus('#text span.tok[tabindex="0"]');
    await page.keyboard.press("End");
    await page.keyboard.press("ArrowLeft");
    const focused = await page.evaluate(() => (document.activeElement as HTMLElement).dataset.position);
    expect(Number(focused)).toBe(tokens.length - 2);
    expect(await page.textContent("#token-detail")).toContain(`(position ${tokens.length - 2}): depth `);

    mkdirSync(artifacts, { recursive: true });
    await page.mouse.move(0, 0);
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await page.screenshot({ path: join(artifacts, "demo.png") });
  });

  it("regenerates from an edited prompt and draws consistent routing maps", async () => {
    await page.getByLabel("Prompt", { exact: true }).fill(SECOND_PROMPT);

    // Keyboard: every control has a label, and Tab reaches the Generate button.
    for (const name of ["Prompt", "Temperature", "Top-k", "Top-p", "Repetition penalty", "Max tokens", "Seed"]) {
      expect(await page.getByLabel(name, { exact: false }).count(), name).toBeGreaterThan(0);
    }
    await page.getByLabel("Max tokens").fill(String(MAX_TOKENS));
    await page.getByLabel("Seed").focus();
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("generate");
    await page.keyboard.press("Enter");
    await page.waitForSelector('body[data-state="done"][data-runs="2"]', { timeout: 150_000 });
    expect(await page.$eval(".prompt-text", (e) => e.textContent)).toBe(SECOND_PROMPT);
    await checkDepthText(page, MAX_TOKENS);

    const promptLen = Number(await page.getAttribute("#gen-map", "data-prompt-tokens"));
    const nLayers = await page.$eval('[data-map="generated"] table', (t) => Number((t as HTMLElement).dataset.blocks));
    expect(nLayers).toBeGreaterThan(0);

    // Prompt maps: one cell per (prompt token, block), top-k and causal.
    for (const name of ["prompt-topk", "prompt-causal"]) {
      const m = await readMap(page, name);
      expect(m.tokens, name).toBe(promptLen);
      expect(m.cells, name).toBe(promptLen * nLayers);
      expect(m.distinctPairs, name).toBe(m.cells);
    }

    // Decoded sequence: >= 32 generated tokens; the map has one column per token the model
    // consumed (the prompt, then every generated token but the last, which is never fed
    // back) and one cell per (token, block), every block drawn.
    const generated = Number(await page.getAttribute("#gen-map", "data-generated"));
    expect(generated).toBe(MAX_TOKENS);
    expect(generated).toBeGreaterThanOrEqual(32);
    const gen = await readMap(page, "generated");
    expect(gen.tokens).toBe(promptLen + generated - 1);
    expect(gen.blocks).toBe(nLayers);
    expect(gen.cells).toBe(gen.tokens * nLayers);
    expect(gen.distinctPairs).toBe(gen.cells);

    // Fractions shown == the sampler's final statistics == processed cells / tokens in the map.
    const reported = JSON.parse((await page.getAttribute("#gen-map", "data-sampler-fractions")) ?? "[]") as {
      block: number;
      realized: number;
      processed: number;
      total: number;
    }[];
    expect(reported.length).toBeGreaterThan(0);
    expect(gen.fractions.map((f) => f.block)).toEqual(reported.map((r) => r.block));
    for (const r of reported) {
      const shown = gen.fractions.find((f) => f.block === r.block);
      expect(shown?.realized, `block ${r.block}`).toBe(r.realized);
      expect(shown?.count, `block ${r.block}`).toBe(`${r.processed}/${r.total}`);
      expect(r.total, `block ${r.block} tokens`).toBe(gen.tokens);
      expect(gen.processed[String(r.block)] ?? 0, `block ${r.block} processed cells`).toBe(r.processed);
    }

    // Top-k over the prompt processes exactly k = round(capacity * S) tokens per routed block.
    const topk = await readMap(page, "prompt-topk");
    for (const f of topk.fractions) {
      const k = routedTokens(f.nominal, promptLen);
      expect(topk.processed[String(f.block)], `top-k block ${f.block}`).toBe(k);
    }

    // The map is one tab stop; arrow keys move between cells and the detail line follows.
    await page.focus('[data-map="generated"] td[tabindex="0"]');
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowDown");
    const focused = await page.evaluate(() => {
      const e = document.activeElement as HTMLElement;
      return { token: e.dataset.token, block: e.dataset.block, label: e.getAttribute("aria-label") };
    });
    expect(focused).toMatchObject({ token: "1", block: "1" });
    expect(focused.label).toMatch(/block 1 \(routed\): (processed|skipped), router score r=-?\d/);
    expect(await page.textContent('[data-map="generated"] .map-detail')).toBe(focused.label);

    expect(await page.locator("#compare table").count()).toBe(1);
    // The file picker: a lone config is refused with a message; a full pair loads.
    const input = page.locator("#ckpt-dense input[type=file]");
    // Whatever is bundled: the dense checkpoint if there is one, else the MoD one.
    const index = JSON.parse(readFileSync(join(demoDir, "public", "checkpoints", "index.json"), "utf8")) as Record<string, string>;
    const bundled = join(demoDir, "public", index.dense ?? (index.mod as string));
    await input.setInputFiles([join(bundled, "config.json")]);
    await page.waitForSelector("#ckpt-dense .ckpt-status .error");
    expect(await page.textContent("#ckpt-dense .ckpt-status")).toMatch(/one \.safetensors file and one \.json config; got config\.json/);
    await input.setInputFiles([join(bundled, "model.safetensors"), join(bundled, "config.json")]);
    await page.waitForFunction(() => document.querySelector("#ckpt-dense .ckpt-status")?.textContent?.includes("model.safetensors + config.json:"));
    expect(await page.getAttribute("#ckpt-dense", "data-loaded")).toBe("true");

    await page.screenshot({ path: join(artifacts, "demo-full.png"), fullPage: true });
    expect(server.missing).toEqual([]);
    expect(errors).toEqual([]);
  });

  it("reads the shape from the checkpoint: a llama model of another width and depth loads and generates", async () => {
    // Untrained (seeded) llama, 6 blocks with 3 routed, d=48: depths 3..6 instead of 2..4.
    const tmp = mkdtempSync(join(tmpdir(), "demo-e2e-"));
    try {
      const dir = join(tmp, "llama");
      makeCheckpoint(dir, { vocabSize: 256, dModel: 48, nHeads: 4, nLayers: 6, contextLength: 96, family: "llama", routing: { blocks: "every-other", capacity: 0.25 } }, 3, { tokenizer: { type: "byte" }, trained: false });
      await page.locator("#ckpt-mod input[type=file]").setInputFiles([join(dir, "model.safetensors"), join(dir, "config.json")]);
      await page.waitForFunction(() => document.querySelector("#ckpt-mod .ckpt-status")?.textContent?.includes("llama, 6 blocks, d=48"));
      await page.getByLabel("Max tokens").fill("20");
      await page.click("#generate");
      await page.waitForSelector('body[data-state="done"][data-runs="3"]', { timeout: 150_000 });
      expect(await page.$eval('[data-map="generated"] table', (t) => (t as HTMLElement).dataset.blocks)).toBe("6");
      await checkDepthText(page, 20);
      expect(await page.$$eval("#depth-legend li[data-depth]", (lis) => lis.map((li) => (li as HTMLElement).dataset.depth))).toEqual(["3", "4", "5", "6", "none"]);
      expect(errors).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
