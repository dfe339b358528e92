// Proves the packaging check can fail: a fixture whose `exports` points at a file that is
// not shipped is rejected by publint and by the import step; an ESM-only fixture is rejected
// by attw and by the require step; a tarball without LICENSE is reported; a .d.ts that uses a type it does not
// export is reported; incomplete metadata is named field by field. A correct dual
// (ESM + CJS) fixture passes every step.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  attwTarball,
  installAndImport,
  licenseProblems,
  lintPackage,
  metadataProblems,
  packPackage,
  publicTypeProblems,
} from "./check.js";

const run = promisify(execFile);
const fixture = (name) => fileURLToPath(new URL(`../test-fixtures/${name}`, import.meta.url));
let out;
beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), "pack-check-test-"));
});
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

describe("packaging check", () => {
  it("passes a dual package whose exports resolve, with its LICENSE", async () => {
    expect(await lintPackage(fixture("good-pkg"))).toEqual([]);
    const tgz = await packPackage(fixture("good-pkg"), out);
    const license = await readFile(join(fixture("good-pkg"), "LICENSE"), "utf8");
    expect(await licenseProblems(tgz, "@fixture/good-pkg", license)).toEqual([]);
    expect(await licenseProblems(tgz, "@fixture/good-pkg", "another text\n")).toEqual([
      "@fixture/good-pkg: the tarball's LICENSE differs from the repository's LICENSE",
    ]);
    expect(await attwTarball(tgz)).toMatch(/No problems found/);
    const res = await installAndImport({
      tarballs: [tgz],
      names: ["@fixture/good-pkg"],
      consumerTs: null,
    });
    expect(res.importOutput).toContain("@fixture/good-pkg: 1 exports (answer)");
    expect(res.requireOutput).toContain("the same exports as import");
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

  it("fails an ESM-only package: attw and require()", async () => {
    const tgz = await packPackage(fixture("esm-only-pkg"), out);
    await expect(attwTarball(tgz)).rejects.toThrow(/attw found problems/);
    await expect(
      installAndImport({ tarballs: [tgz], names: ["@fixture/esm-only-pkg"], consumerTs: null }),
    ).rejects.toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED|No "exports" main defined/);
  });

  it("fails a tarball without a LICENSE", async () => {
    // pnpm pack inside this workspace adds the root LICENSE, so build the tarball by hand.
    const tgz = join(out, "no-license.tgz");
    await run("tar", ["-czf", tgz, "-C", fixture("esm-only-pkg"), "--transform", "s,^\\.,package,", "./package.json"]);
    expect(await licenseProblems(tgz, "@fixture/x", "MIT\n")).toEqual(["@fixture/x: the tarball has no LICENSE file"]);
  });

  it("reports types the public API uses but does not export", async () => {
    expect(await publicTypeProblems(fixture("unexported-type-pkg"), "@fixture/t")).toEqual([
      "@fixture/t: type Hidden is used by the public API but not exported",
      "@fixture/t: type CausalRouting (from @mixdepth/core) is used by the public API but not re-exported",
    ]);
  });

  it("names each missing or inconsistent metadata field", () => {
    const root = "/repo";
    const rootPkg = { license: "MIT", author: "a", repository: { url: "git+https://x/y.git" }, bugs: { url: "https://x/y/issues" } };
    const good = {
      name: "@m/p",
      license: "MIT",
      author: "a",
      repository: { url: "git+https://x/y.git", directory: "packages/p" },
      homepage: "https://x/y/tree/main/packages/p#readme",
      bugs: { url: "https://x/y/issues" },
      keywords: ["k"],
    };
    expect(metadataProblems(good, root, rootPkg, "/repo/packages/p")).toEqual([]);
    const bad = { ...good, license: "ISC", repository: { url: "git+https://x/y.git" }, keywords: [] };
    expect(metadataProblems(bad, root, rootPkg, "/repo/packages/p")).toEqual([
      '@m/p: license: expected "MIT" (got "ISC")',
      '@m/p: repository.directory: expected "packages/p" (got undefined)',
      "@m/p: keywords: missing or empty",
    ]);
  });
});
