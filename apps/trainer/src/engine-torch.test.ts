// The torch engine's launcher: engine names, the process count, and the command it builds (one
// process: python -m mixdepth_torch.train; several or several machines: torchrun through
// mixdepth_torch.launch). The twin's own tests (python/mixdepth-torch/tests/test_roundtrip.py)
// run `mixdepth train --engine torch` end to end; here nothing starts Python.
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
