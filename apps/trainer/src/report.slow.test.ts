// report.html in real Chromium (playwright-core, the Debian chromium the demo's e2e test uses):
// a tiny training run's report opens from file:// with every request outside the file refused,
// draws every chart and the depth view, and logs no error. With MIXDEPTH_REPORT_RUN=<run dir>
// and MIXDEPTH_REPORT_PNG=<file> it checks that run's report instead and saves a full-page
// screenshot (how docs/report.png is made).
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { run, tinySetup } from "./cli-test-helpers.js";

// playwright-core is resolved through the demo app, which already depends on it: adding it to
// the trainer would change the lockfile, which cannot be re-resolved offline here. So its
// types are not visible either: the few calls used are typed here, page code runs as strings.
interface Route {
  request(): { url(): string };
  continue(): Promise<void>;
  abort(): Promise<void>;
}
interface Page {
  on(event: "console", f: (m: { type(): string; text(): string }) => void): void;
  on(event: "pageerror", f: (e: Error) => void): void;
  route(pattern: string, f: (r: Route) => Promise<void>): Promise<void>;
  goto(url: string): Promise<unknown>;
  evaluate<T>(expression: string): Promise<T>;
  screenshot(o: { path: string; fullPage: boolean }): Promise<unknown>;
}
interface Browser {
  newPage(o: { viewport: { width: number; height: number } }): Promise<Page>;
  close(): Promise<void>;
}
const demo = fileURLToPath(new URL("../../demo/package.json", import.meta.url));
const { chromium } = createRequire(demo)("playwright-core") as { chromium: { launch(o: { executablePath: string; args: string[] }): Promise<Browser> } };

describe("report.html in Chromium", () => {
  it("renders every chart and the depth view offline, without errors", async () => {
    let runDir = process.env.MIXDEPTH_REPORT_RUN;
    if (!runDir) {
      const { dir, tiny } = tinySetup();
      runDir = join(dir, "run");
      const r = await run(["train", ...tiny, "--out", runDir]);
      expect(r.code, r.stderr).toBe(0);
    } else {
      const r = await run(["report", runDir]);
      expect(r.code, r.stderr).toBe(0);
    }
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1340, height: 900 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") errors.push(m.text());
      });
      page.on("pageerror", (e) => errors.push(e.message));
      await page.route("**/*", (route) => {
        requests.push(route.request().url());
        return route.request().url().startsWith("file:") ? route.continue() : route.abort();
      });
      const url = pathToFileURL(join(runDir, "report.html")).href;
      await page.goto(url);
      expect(requests).toEqual([url]); // nothing but the page itself
      const charts = await page.evaluate<[number, number][]>(`[...document.querySelectorAll("svg")].map((s) => [s.getBoundingClientRect().width, s.getBoundingClientRect().height])`);
      expect(charts).toHaveLength(9);
      for (const [w, h] of charts) expect(w! > 600 && h! > 300).toBe(true);
      const paths = await page.evaluate<number>(`[...document.querySelectorAll("svg path")].filter((p) => p.getBoundingClientRect().width > 0).length`);
      expect(paths).toBeGreaterThanOrEqual(9);
      const spans = await page.evaluate<number>(`document.querySelectorAll(".depth span").length`);
      expect(spans).toBeGreaterThan(0);
      expect(errors).toEqual([]);
      const png = process.env.MIXDEPTH_REPORT_PNG;
      if (png) await page.screenshot({ path: png, fullPage: true });
    } finally {
      await browser.close();
    }
  }, 120_000);
});
