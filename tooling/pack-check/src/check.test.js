// Proves the packaging check can fail: a fixture whose `exports` points at a file that is
// not shipped is rejected by publint and by the import step; a correct one passes both.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installAndImport, lintPackage, packPackage } from "./check.js";

const fixture = (name) => fileURLToPath(new URL(`../test-fixtures/${name}`, import.meta.url));
let out;
beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), "pack-check-test-"));
});
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

describe("packaging check", () => {
  it("passes a package whose exports resolve", async () => {
    expect(await lintPackage(fixture("good-pkg"))).toEqual([]);
    const tgz = await packPackage(fixture("good-pkg"), out);
    const res = await installAndImport({
      tarballs: [tgz],
      names: ["@fixture/good-pkg"],
      consumerTs: null,
    });
    expect(res.importOutput).toContain("@fixture/good-pkg: 1 exports (answer)");
  });

  it("fails a package whose exports point at a missing file", async () => {
    const problems = await lintPackage(fixture("broken-exports-pkg"));
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join("\n")).toMatch(/missing\.js/);
    const tgz = await packPackage(fixture("broken-exports-pkg"), out);
    await expect(
      installAndImport({ tarballs: [tgz], names: ["@fixture/broken-exports-pkg"], consumerTs: null }),
    ).rejects.toThrow(/Cannot find module|ERR_MODULE_NOT_FOUND/);
  });
});
