"""Small runs for the training tests: a tiny config on a generated text file, run in-process or as
a subprocess (python -m mixdepth_torch.train, or torchrun through mixdepth_torch.launch)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import warnings
import sys
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

from mixdepth_torch.safetensors_io import decode_safetensors

PKG = Path(__file__).resolve().parent.parent
ROOT = PKG.parent.parent


def text_file(d: Path) -> Path:
    p = d / "text.txt"
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "and", "runs", "away", "\u00e9t\u00e9"]
    rng = np.random.default_rng(0)
    p.write_text(" ".join(words[i] for i in rng.integers(0, len(words), 3000)) + "\n", encoding="utf-8")
    return p


def tiny_config(d: Path, out: str = "run", **training: Any) -> Path:
    """A 2-block llama MoD model (one routed block) at d=32; 8 steps unless told."""
    cfg = {
        "model": {"vocabSize": 256, "dModel": 32, "nHeads": 2, "nLayers": 2, "contextLength": 32, "family": "llama", "routing": {"blocks": "every-other", "capacity": 0.25}},
        "training": {"steps": 8, "batchSize": 4, "seqLen": 16, "warmupSteps": 2, "evalEvery": 4, "evalBatches": 2, "checkpointEvery": 4, "workers": 1, **training},
        "data": {"source": str(text_file(d)), "cacheDir": str(d / "cache")},
        "output": {"dir": str(d / out)},
    }
    p = d / f"{out}.json"
    p.write_text(json.dumps(cfg))
    return p


def env() -> Dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(PKG) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e.setdefault("OMP_NUM_THREADS", "1")
    return e


def train_cmd(*args: str) -> List[str]:
    return [sys.executable, "-m", "mixdepth_torch.train", *args]


def torchrun_cmd(nproc: int, *args: str) -> List[str]:
    with socket.socket() as s:  # a free port on localhost
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [sys.executable, "-m", "mixdepth_torch.launch", "--nproc_per_node", str(nproc), "--nnodes", "1", "--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{port}",
            "-m", "mixdepth_torch.train", *args]


def run(cmd: List[str], timeout: float = 120) -> subprocess.CompletedProcess:
    try:
        r = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        if "mixdepth_torch.launch" not in cmd:
            raise
        # KNOWN BUG, not fixed yet: a 2-process gloo run on CPU has hung once after an evaluation
        # (1 of about 6 CI runs, 2026-12-02). It is retried once on a fresh port, loudly, so the hang
        # stays visible in the test output instead of failing the suite; a second hang fails.
        out = (e.stdout or b"")[-1500:] if isinstance(e.stdout, bytes) else str(e.stdout or "")[-1500:]
        warnings.warn(f"torchrun run hung for {timeout:.0f} s (known intermittent DDP hang); retrying once. Output tail: {out!r}")
        port_at = cmd.index("--rdzv_endpoint") + 1
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            cmd = [*cmd[:port_at], f"127.0.0.1:{s.getsockname()[1]}", *cmd[port_at + 1:]]
        if "--resume" not in cmd:  # a fresh run starts again from an empty run folder
            out_dir = json.loads(Path(cmd[cmd.index("--config") + 1]).read_text()).get("output", {}).get("dir")
            if out_dir:
                shutil.rmtree(out_dir, ignore_errors=True)
        r = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def metrics(run_dir: Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def losses(run_dir: Path) -> Dict[int, float]:
    return {r["step"]: r["loss"] for r in metrics(run_dir) if r["type"] == "train"}


def latest_weights(run_dir: Path) -> Dict[str, np.ndarray]:
    name = json.loads((run_dir / "checkpoints" / "latest.json").read_text())["checkpoint"]
    w, _ = decode_safetensors((run_dir / "checkpoints" / name / "model.safetensors").read_bytes())
    return w


def max_weight_diff(a: Dict[str, np.ndarray], b: Dict[str, np.ndarray]) -> float:
    assert a.keys() == b.keys()
    return max(float(np.max(np.abs(a[n] - b[n]))) for n in a)
