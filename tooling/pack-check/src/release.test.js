// The release dry run's verdicts: a changelog line from a development log is named with its
// phrase, a release note passes; a package off its first version is named. And the pending
// changesets themselves, checked here fast (the packaging check runs `changeset version` on
// them): no `major` bump, which would publish 1.0.0, and no dev-log phrase.
import { readFile, readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { DEV_LOG_PHRASES, FIRST_VERSION, changelogProblems, versionProblems } from "./release.js";

const changesetDir = fileURLToPath(new URL("../../../.changeset/", import.meta.url));

describe("release dry run checks", () => {
  it("names a dev-log line and its phrases, and passes release notes", () => {
    const log = "# @mixdepth/mod-block\n\n## 0.1.0\n\n- `fastMatMul` (unreleased, from the pending change) is removed: linear maps are plain `tf.matMul`.\n- `ModBlock`: route, gather, process, scatter back.\n";
    expect(changelogProblems("@mixdepth/mod-block", log)).toEqual([
      '@mixdepth/mod-block: CHANGELOG reads like a development log ("unreleased", "pending", "removed"): - `fastMatMul` (unreleased, from the pending change) is removed: linear maps are plain `tf.matMul`.',
    ]);
    expect(changelogProblems("x", "- Routers return their decisions as host arrays.\n- The model now owns decoding.\n")).toEqual(['x: CHANGELOG reads like a development log ("now"): - The model now owns decoding.']);
    expect(changelogProblems("x", "- Known words only: `knownledge` is not flagged.\n")).toEqual([]);
  });

  it("names a package that would not be published at the first version", () => {
    expect(FIRST_VERSION).toBe("0.1.0");
    expect(versionProblems({ "@mixdepth/core": "0.1.0", "@mixdepth/router": "1.0.0", "@mixdepth/train": "0.0.0" })).toEqual([
      "@mixdepth/router: the release would publish 1.0.0, not the first version 0.1.0 (a pending changeset says major, or none names the package)",
      "@mixdepth/train: the release would publish 0.0.0, not the first version 0.1.0 (a pending changeset says major, or none names the package)",
    ]);
  });
});

describe("the pending changesets", () => {
  it("bump no package by major and read as release notes", async () => {
    const files = (await readdir(changesetDir)).filter((f) => f.endsWith(".md") && f !== "README.md");
    expect(files.length).toBeGreaterThan(0);
    const problems = [];
    for (const f of files) {
      const text = await readFile(changesetDir + f, "utf8");
      const [, front = "", body = ""] = /^---\n([\s\S]*?)\n---\n([\s\S]*)$/.exec(text) ?? [];
      for (const line of front.split("\n")) if (/:\s*major\s*$/.test(line)) problems.push(`${f}: ${line.trim()} (the first release is 0.1.0: use minor)`);
      for (const re of DEV_LOG_PHRASES) {
        const hit = re.exec(body);
        if (hit) problems.push(`${f}: dev-log phrase ${JSON.stringify(hit[0])}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
