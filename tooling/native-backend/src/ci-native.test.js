// CI's native step on a machine whose wheel store cannot provide TensorFlow: one line, exit 0,
// nothing built and no suite run; and what counts as "could not start" versus a failed build.
import { execFile } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { refusedToStart } from "./ci-native.js";

const SCRIPT = fileURLToPath(new URL("./ci-native.js", import.meta.url));
let dir;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("pnpm test:native", () => {
  it("an unreachable wheel store: one line saying so, exit 0", async () => {
    dir = await mkdtemp(join(tmpdir(), "ci-native-"));
    const python = join(dir, "python3");
    await writeFile(python, `#!/bin/sh\necho "ERROR: Could not find a version that satisfies the requirement tensorflow-cpu==2.21.0 (from versions: none)" >&2\necho "ERROR: No matching distribution found for tensorflow-cpu==2.21.0" >&2\nexit 1\n`);
    await chmod(python, 0o755);
    const { stdout } = await promisify(execFile)(process.execPath, [SCRIPT], { env: { ...process.env, MIXDEPTH_PYTHON: python, MIXDEPTH_NATIVE_CACHE: join(dir, "cache") } });
    const last = stdout.trim().split("\n").at(-1);
    // Here the workspace has tfjs-node-gpu and the build tools; elsewhere the reason is their absence.
    expect(last).toMatch(/^ci: native backend skipped: \((pip could not provide tensorflow-cpu==2\.21\.0: ERROR: No matching distribution found for tensorflow-cpu==2\.21\.0|no @tensorflow\/tfjs-node|cannot build the binding here)/);
    expect(stdout).not.toMatch(/on tensorflow \d+ s/);
  }, 60_000);

  it("tells a refusal to start from a build that failed", () => {
    expect(refusedToStart("native backend: not installed (--from-pip needs python3 with pip on PATH)\n")).toBe(true);
    expect(refusedToStart("native backend: building ...\nnative backend: @tensorflow/tfjs-node-gpu not built: gyp ERR! x\n")).toBe(false);
  });
});
