// End-to-end: build the page, serve dist/ from 127.0.0.1, open it in Debian's headless
// Chromium (playwright-core), load the bundled checkpoint, generate, and check the routing
// maps against what @mixdepth/sampler reported. Any console error or page error fails the test.
// A screenshot is saved to test-artifacts/demo.png.
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveStatic, type StaticServer } from "./static-server.js";

const demoDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const artifacts = join(demoDir, "test-artifacts");
const MAX_TOKENS = 40;

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

  it("loads the bundled checkpoint, generates, and draws consistent routing maps", async () => {
    await page.goto(server.url);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
    const backend = await page.$eval("#backend", (e) => ({ name: (e as HTMLElement).dataset.backend, text: e.textContent }));
    expect(["webgpu", "webgl", "wasm"]).toContain(backend.name);
    expect(await page.getAttribute("#ckpt-mod", "data-loaded")).toBe("true");

    // Keyboard: every control has a label, and Tab reaches the Generate button.
    for (const name of ["Prompt", "Temperature", "Top-k", "Top-p", "Repetition penalty", "Max tokens", "Seed"]) {
      expect(await page.getByLabel(name, { exact: false }).count(), name).toBeGreaterThan(0);
    }
    await page.getByLabel("Max tokens").fill(String(MAX_TOKENS));
    await page.getByLabel("Seed").focus();
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("generate");
    await page.keyboard.press("Enter");
    await page.waitForSelector('body[data-state="done"]', { timeout: 150_000 });

    const promptLen = await page.$eval(".prompt-text", (e) => new TextEncoder().encode(e.textContent ?? "").length);
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
      const k = Math.min(promptLen, Math.max(1, Math.round(f.nominal * promptLen)));
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
    const bundled = join(demoDir, "public", "checkpoints", "dense");
    await input.setInputFiles([join(bundled, "config.json")]);
    await page.waitForSelector("#ckpt-dense .ckpt-status .error");
    expect(await page.textContent("#ckpt-dense .ckpt-status")).toMatch(/one \.safetensors file and one \.json config; got config\.json/);
    await input.setInputFiles([join(bundled, "model.safetensors"), join(bundled, "config.json")]);
    await page.waitForFunction(() => document.querySelector("#ckpt-dense .ckpt-status")?.textContent?.includes("model.safetensors + config.json:"));
    expect(await page.getAttribute("#ckpt-dense", "data-loaded")).toBe("true");

    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, "demo.png"), fullPage: true });
    expect(server.missing).toEqual([]);
    expect(errors).toEqual([]);
  });
});
