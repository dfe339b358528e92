// Runs the twin's pytest suite with a Python that has torch: $MIXDEPTH_PYTHON, else
// /usr/bin/python3 (Debian's python3-torch, what CI installs), else python3 on PATH. Fails
// loudly when none has torch (a skipped suite would look green), and when pytest collects
// no test (exit 5). Extra arguments go to pytest.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const candidates = [];
if (process.env.MIXDEPTH_PYTHON) candidates.push(["MIXDEPTH_PYTHON", process.env.MIXDEPTH_PYTHON]);
if (existsSync("/usr/bin/python3")) candidates.push(["/usr/bin/python3", "/usr/bin/python3"]);
candidates.push(["python3 on PATH", "python3"]);

const tried = [];
let python = null;
for (const [label, exe] of candidates) {
  const probe = spawnSync(exe, ["-c", "import torch, numpy, pytest; print(torch.__version__)"], { encoding: "utf8" });
  if (probe.status === 0) {
    python = exe;
    console.log(`mixdepth-torch: ${exe} (${label}), torch ${probe.stdout.trim()}`);
    break;
  }
  tried.push(`${label} (${exe}): ${(probe.error?.message ?? probe.stderr.trim().split("\n").pop()) || `exit ${probe.status}`}`);
  if (label === "MIXDEPTH_PYTHON") break; // an explicit choice is not silently replaced
}
if (!python) {
  console.error("mixdepth-torch: no Python with torch, numpy and pytest found; the twin's tests cannot run.");
  for (const t of tried) console.error(`  tried ${t}`);
  console.error("Install Debian's python3-torch python3-numpy python3-pytest, or set MIXDEPTH_PYTHON to a Python that has them.");
  process.exit(1);
}
const run = spawnSync(python, ["-m", "pytest", "-q", ...process.argv.slice(2)], { cwd: root, stdio: "inherit", env: { ...process.env, MIXDEPTH_PYTHON: python } });
if (run.status === 5) {
  console.error("mixdepth-torch: pytest collected no tests (exit 5); that is a failure here.");
  process.exit(1);
}
process.exit(run.status ?? 1);
