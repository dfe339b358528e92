// Runs every `ts` block of the README against the source: each `expr; // => value` line must
// give value (JSON), each `expr; // throws message` line must throw that message.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as api from "./index.js";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

type Check = { expr: string; kind: "=>" | "throws"; expected: string; actual?: unknown; threw?: unknown };

function run(block: string): Check[] {
  const checks: Check[] = [];
  const body = block
    .replace(/^import [^;]+ from "@mixdepth\/flops-accounting";$/gm, "")
    .split("\n")
    .map((line) => {
      const m = /^(.*);\s*\/\/ (=>|throws) (.*)$/.exec(line);
      if (!m) return line;
      const i = checks.push({ expr: m[1]!, kind: m[2] as Check["kind"], expected: m[3]! }) - 1;
      return m[2] === "=>"
        ? `__checks[${i}].actual = (${m[1]});`
        : `try { ${m[1]}; } catch (e) { __checks[${i}].threw = e; }`;
    })
    .join("\n");
  // The README's code, run as written (its one import replaced by the source's exports).
  new Function("__api", "__checks", `const { ${Object.keys(api).join(", ")} } = __api;\n${body}`)(api, checks);
  return checks;
}

describe("README code blocks", () => {
  it("has runnable blocks", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
  });

  it.each(blocks.map((b, i) => [i, b] as const))("block %i runs and every stated value holds", (_i, block) => {
    const checks = run(block);
    expect(checks.length).toBeGreaterThan(0);
    for (const c of checks) {
      if (c.kind === "=>") expect(c.actual, c.expr).toEqual(JSON.parse(c.expected));
      else {
        expect(c.threw, c.expr).toBeInstanceOf(api.ConfigError);
        expect((c.threw as Error).message, c.expr).toBe(c.expected);
      }
    }
  });
});
