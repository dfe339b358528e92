// The torch engine's launcher: engine names, the process count, and the command it builds (one
// process: python -m mixdepth_torch.train; several or several machines: torchrun through
// mixdepth_torch.launch). The twin's own tests (python/mixdepth-torch/tests/test_roundtrip.py)
// run `mixdepth train --engine torch` end to end; here only dieWithParent's check starts Python
// (a sleeping stdlib module, not the twin).
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";
import { ENGINES, parseEngine, processCount, pythonExecutable, torchLaunch, twinDir } from "./engine-torch.js";
import { run } from "./cli-test-helpers.js";

const files = { configFile: "/tmp/c.json", accountingFile: "/tmp/a.json" };

describe("engine-torch", () => {
  it("knows tfjs and torch and names them for anything else", () => {
    expect(ENGINES).toEqual(["tfjs", "torch"]);
    expect(parseEngine("torch")).toBe("torch");
    expect(() => parseEngine("jax")).toThrow('--engine: unknown engine "jax"; expected one of tfjs, torch');
  });

  it("resolves python from MIXDEPTH_PYTHON, else Debian's", () => {
    expect(pythonExecutable({ MIXDEPTH_PYTHON: "/opt/py/bin/python" })).toBe("/opt/py/bin/python");
    expect(pythonExecutable({})).toBe("/usr/bin/python3");
    expect(twinDir()).toMatch(/python\/mixdepth-torch$/);
  });

  it("counts processes from MIXDEPTH_TORCH_NPROC, training.workers, else the CUDA devices", () => {
    const valid = loadConfig({ overrides: [{ training: { workers: 3 } }] });
    const auto = loadConfig({});
    expect(processCount(valid, {}, () => 8)).toBe(3);
    expect(processCount(auto, {}, () => 4)).toBe(4);
    expect(processCount(auto, {}, () => 0)).toBe(1);
    expect(processCount(auto, { MIXDEPTH_TORCH_NPROC: "2" }, () => 4)).toBe(2);
    expect(() => processCount(auto, { MIXDEPTH_TORCH_NPROC: "two" }, () => 4)).toThrow(/MIXDEPTH_TORCH_NPROC: must be a positive integer \(got "two"\)/);
  });

  it("builds the twin's command: direct for one process, torchrun for several and for several machines", () => {
    const one = torchLaunch({ ...files, resume: false, nproc: 1, env: { PYTHONPATH: "/x" } });
    expect(one.command).toBe("/usr/bin/python3");
    expect(one.args).toEqual(["-m", "mixdepth_torch.train", "--config", "/tmp/c.json", "--accounting", "/tmp/a.json"]);
    expect(one.env.PYTHONPATH?.split(":")).toEqual([twinDir(), "/x"]);
    const local = torchLaunch({ ...files, resume: true, nproc: 4, env: {} });
    expect(local.args.slice(0, 5)).toEqual(["-m", "mixdepth_torch.launch", "--nproc_per_node", "4", "--standalone"]);
    expect(local.args.slice(5)).toEqual(["-m", "mixdepth_torch.train", "--config", "/tmp/c.json", "--accounting", "/tmp/a.json", "--resume"]);
    const multi = torchLaunch({ ...files, resume: false, nproc: 8, env: { MIXDEPTH_TORCH_NNODES: "2", MIXDEPTH_TORCH_RDZV: "10.0.0.1:29500", MIXDEPTH_PYTHON: "python" } });
    expect(multi.args.slice(0, 10)).toEqual(["-m", "mixdepth_torch.launch", "--nproc_per_node", "8", "--nnodes", "2", "--rdzv_backend", "c10d", "--rdzv_endpoint", "10.0.0.1:29500"]);
    expect(() => torchLaunch({ ...files, resume: false, nproc: 1, env: { MIXDEPTH_TORCH_NNODES: "2" } })).toThrow(/needs MIXDEPTH_TORCH_RDZV=HOST:PORT/);
    expect(torchLaunch({ ...files, resume: false, nproc: 2, env: { MIXDEPTH_TORCH_FSDP: "1" } }).args.at(-1)).toBe("--fsdp");
  });

  it("the CLI refuses an unknown engine with exit 2, naming the allowed values", async () => {
    for (const cmd of ["train", "sweep"]) {
      const r = await run([cmd, "--engine", "jax", "--steps", "1"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/unknown engine "jax"; expected one of tfjs, torch/);
    }
    expect((await run(["train", "--help"])).stdout).toMatch(/--engine <name>/);
  });
});

describe("dieWithParent", () => {
  it("keeps other launches, and the twin's python dies when its parent is killed with SIGKILL", async () => {
    const { dieWithParent } = await import("./engine-torch.js");
    const launch = { command: "/usr/bin/python3", args: ["-m", "mixdepth_torch.train", "--config", "c.json"], env: {}, nproc: 1, nnodes: 1 };
    const d = dieWithParent(launch, 42);
    expect(d.args[0]).toBe("-c");
    expect(d.args.slice(2)).toEqual(["mixdepth_torch.train", "--config", "c.json"]);
    expect(d.env.MIXDEPTH_PARENT_PID).toBe("42");
    expect(dieWithParent({ ...launch, args: ["x.py"] }).args).toEqual(["x.py"]);
    if (!existsSync("/usr/bin/python3")) return;
    // A parent (node) starts python -c DIE_WITH_PARENT timeit <sleep 60> detached, as trainTorch does, and is killed.
    const code = `const { spawn } = require("node:child_process");
const args = ${JSON.stringify(["-c", d.args[1], "timeit", "-n", "1", "-r", "1", "import time; time.sleep(60)"])};
const c = spawn("/usr/bin/python3", args, { detached: true, stdio: "ignore", env: { ...process.env, MIXDEPTH_PARENT_PID: String(process.pid) } });
setTimeout(() => console.log(c.pid), 1500); setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "inherit"] });
    const pid = await new Promise<number>((res) => parent.stdout.once("data", (b: Buffer) => res(Number(b.toString().trim()))));
    // Gone: no such process, or a zombie waiting for its new parent to reap it.
    const alive = (p: number) => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${p}/stat`, "utf8"));
      } catch {
        return false;
      }
    };
    expect(alive(pid)).toBe(true);
    parent.kill("SIGKILL");
    let gone = false;
    for (let i = 0; i < 50 && !gone; i++) {
      await new Promise((r) => setTimeout(r, 100));
      gone = !alive(pid);
    }
    if (!gone) process.kill(pid, "SIGKILL");
    expect(gone).toBe(true);
  }, 20_000);
});
