#!/usr/bin/env node
// CI's native step: the offline build (`install.js --from-pip`), then the model, sampler and kit
// suites on the tensorflow backend (MIXDEPTH_TEST_BACKEND=tensorflow, and the backend-agreement
// suites cpu vs tensorflow). Where the build cannot start (no pip or wheel store, no compiler,
// no tfjs-node package) it says why in one line and exits 0: that machine just has no native
// backend. A build or load that fails once started, or a failing suite, exits 1. Ends with the
// seconds each part took and the load average beside them (the machines are shared).
import { spawn } from "node:child_process";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const INSTALL = fileURLToPath(new URL("./install.js", import.meta.url));
export const NATIVE_SUITES = ["@mixdepth/transformer", "@mixdepth/sampler", "@mixdepth/train"];

function run(cmd, args, env) {
  return new Promise((done) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      process.stdout.write(d);
    });
    child.on("close", (code) => done({ code: code ?? 1, out }));
  });
}

const load = () => loadavg().map((x) => x.toFixed(1)).join(" ");

/** Whether the installer stopped before building (its one line is "native backend: not installed (...)"). */
export function refusedToStart(output) {
  return /^native backend: not installed \(/m.test(output);
}

async function main() {
  const t0 = Date.now();
  const loadBefore = load();
  const inst = await run(process.execPath, [INSTALL, "--from-pip"]);
  const installS = (Date.now() - t0) / 1000;
  if (inst.code !== 0) {
    if (refusedToStart(inst.out)) {
      console.log(`ci: native backend skipped: ${inst.out.trim().split("\n").at(-1).replace(/^native backend: not installed /, "")}`);
      return;
    }
    console.log("ci: native backend: the offline build failed (above); see node_modules/.cache/mixdepth/native-backend.log");
    process.exitCode = 1;
    return;
  }
  const t1 = Date.now();
  const filters = NATIVE_SUITES.flatMap((p) => ["--filter", p]);
  const tests = await run("pnpm", ["turbo", "run", "test", ...filters, "--concurrency=1"], { MIXDEPTH_TEST_BACKEND: "tensorflow", MIXDEPTH_TEST_BACKENDS: "cpu,tensorflow" });
  const testS = (Date.now() - t1) / 1000;
  console.log(`ci: native backend: offline build ${installS.toFixed(0)} s, ${NATIVE_SUITES.join(", ")} on tensorflow ${testS.toFixed(0)} s (load average ${loadBefore} before, ${load()} after)`);
  if (tests.code !== 0) process.exitCode = 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
