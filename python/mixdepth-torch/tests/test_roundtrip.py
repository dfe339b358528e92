"""Both engines on one run folder, through the built TypeScript CLI (node apps/trainer/dist/cli.js):
`mixdepth eval` of a twin-trained checkpoint reports the twin's validation loss within 1e-4,
`mixdepth report` renders a twin run, a twin run resumes in `mixdepth train --resume`, a TypeScript checkpoint with its trainer state continues
training in the twin (the same batches: its losses follow the TypeScript run's within 1e-4), and
`mixdepth train --engine torch` launches the twin into a run folder."""
from __future__ import annotations

import io
import json
import shutil
import subprocess

import pytest
import torch

from mixdepth_torch.checkpoint import load_model
from mixdepth_torch.data import eval_batches, load_documents, prepare_tokens
from mixdepth_torch.train import evaluate, parse_args, run as train
from train_helpers import ROOT, env, losses, metrics, tiny_config

CLI = ROOT / "apps" / "trainer" / "dist" / "cli.js"


def node(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    if not CLI.exists():
        pytest.fail(f"{CLI} is missing: build the trainer first (pnpm turbo run build --filter @mixdepth/trainer)")
    r = subprocess.run(["node", str(CLI), *args], env=env(), capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert r.returncode == 0, f"mixdepth {' '.join(args)} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def test_ts_eval_and_report_read_a_twin_run(tmp_path):
    cfg = tiny_config(tmp_path)
    train(parse_args(["--config", str(cfg)]), out=io.StringIO())
    run_dir = tmp_path / "run"
    # The twin's own evaluation of its checkpoint on the batches `mixdepth eval` will use.
    conf = json.loads(cfg.read_text())
    data = prepare_tokens(load_documents(conf["data"]["source"]), 0.05, 1234, 17, conf["data"]["cacheDir"])
    model = load_model(run_dir / "checkpoints" / "step-000008")
    twin = evaluate(model, eval_batches(data.val, 4, 16, 3), torch.device("cpu"))
    r = json.loads(node("eval", str(run_dir), "--json", "--batches", "3", "--batch-size", "4", "--seq-len", "16", "--backend", "cpu").stdout.split("\n", 1)[1])
    diff = abs(r["topk"]["loss"] - twin["topk"]["loss"])
    print(f"mixdepth eval vs twin: top-k loss {r['topk']['loss']:.6f} vs {twin['topk']['loss']:.6f} (diff {diff:.2e}), causal diff {abs(r['causal']['loss'] - twin['causal']['loss']):.2e}")
    assert r["step"] == 8 and diff < 1e-4 and abs(r["causal"]["loss"] - twin["causal"]["loss"]) < 1e-4
    assert r["routing"][0]["accuracy"] == pytest.approx(twin["routing"][0]["accuracy"], abs=1e-9)
    out = node("report", str(run_dir)).stdout
    html = (run_dir / "report.html").read_text()
    assert "report.html" in out and (run_dir / "metrics.csv").exists() and "loss vs training FLOPs" in html


def test_a_twin_run_continues_in_mixdepth_train_resume(tmp_path):
    whole = tiny_config(tmp_path, "whole")
    half = tiny_config(tmp_path, "half")
    train(parse_args(["--config", str(whole)]), out=io.StringIO())
    train(parse_args(["--config", str(half), "--stop-after", "4"]), out=io.StringIO())
    node("train", "--resume", str(tmp_path / "half"), "--backend", "cpu")
    a, b = losses(tmp_path / "whole"), losses(tmp_path / "half")
    assert sorted(b) == list(range(1, 9))
    worst = max(abs(a[s] - b[s]) for s in range(5, 9))
    print(f"twin run resumed by mixdepth train: steps 5-8 loss max |diff| vs the twin run {worst:.2e}")
    assert worst < 1e-4


def test_a_ts_checkpoint_continues_training_in_the_twin(tmp_path):
    cfg = tiny_config(tmp_path, "ts", steps=6, checkpointEvery=3, evalEvery=3)
    node("train", "--config", str(cfg), "--backend", "cpu")
    ts_dir = tmp_path / "ts"
    ts_losses = losses(ts_dir)
    # The same run stopped at step 3: its checkpoint (weights, moments, data RNG) resumed by the twin.
    twin_dir = tmp_path / "twin"
    shutil.copytree(ts_dir, twin_dir)
    shutil.rmtree(twin_dir / "checkpoints" / "step-000006")
    (twin_dir / "checkpoints" / "latest.json").write_text(json.dumps({"checkpoint": "step-000003", "step": 3}) + "\n")
    conf = json.loads(cfg.read_text())
    conf["output"]["dir"] = str(twin_dir)
    (tmp_path / "twin.json").write_text(json.dumps(conf))
    train(parse_args(["--config", str(tmp_path / "twin.json"), "--resume"]), out=io.StringIO())
    tw = losses(twin_dir)
    assert [r for r in metrics(twin_dir) if r["type"] == "start"][-1]["resumedFrom"] == 3
    worst = max(abs(tw[s] - ts_losses[s]) for s in (4, 5, 6))
    print(f"TS checkpoint resumed in the twin: steps 4-6 loss max |diff| vs the TS run {worst:.2e}")
    assert worst < 1e-4
    assert tw[1] == ts_losses[1]  # steps before the resume are the TS run's records, kept


def test_mixdepth_train_engine_torch_launches_the_twin(tmp_path):
    cfg = tiny_config(tmp_path, "cli", steps=4, checkpointEvery=2, evalEvery=2)
    r = node("train", "--engine", "torch", "--config", str(cfg))
    run_dir = tmp_path / "cli"
    assert "done: 4 steps" in r.stdout and (run_dir / "report.html").exists()
    start = metrics(run_dir)[0]
    # The launcher's accounting (flops-accounting, engine-torch.ts) for this model at B=4, S=16.
    assert start["backend"].startswith("torch ") and start["flopsPerStep"] == 9799680 and start["paramCount"] == 34017
    assert json.loads((run_dir / "checkpoints" / "latest.json").read_text())["step"] == 4
    bad = subprocess.run(["node", str(CLI), "train", "--engine", "jax", "--config", str(cfg)], env=env(), capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "expected one of tfjs, torch" in bad.stderr
