"""The training loop: config from the TypeScript side's contract, a short run's metrics and
checkpoint in the TypeScript formats, resume equal to an uninterrupted run (also after SIGKILL),
and the non-finite stop."""
from __future__ import annotations

import io
from pathlib import Path
import json
import signal
import subprocess
import time

import pytest

from mixdepth_torch.train import main, parse_args, run
from mixdepth_torch.train_config import ConfigInvalid, load_config
from train_helpers import env, latest_weights, losses, max_weight_diff, metrics, tiny_config, train_cmd

# The keys of each record as apps/trainer/src/metrics.ts writes them (mixdepth report reads these).
TRAIN_KEYS = ["type", "step", "loss", "total", "aux", "lr", "gradNorm", "tokens", "flops", "msPerStep", "tokensPerSec"]
EVAL_KEYS = ["type", "step", "flops", "tokens", "topk", "causal", "routing", "seconds", "tokensPerSec", "auxLosses"]
START_KEYS = ["type", "time", "backend", "ranks", "resumedFrom", "config", "paramCount", "flopsPerStep", "forwardFlopsPerSequence"]


def test_config_defaults_and_errors_come_from_the_contract(tmp_path):
    config, model, notes = load_config(overrides=[{"training": {"steps": 5}}])
    assert config["training"]["batchSize"] == 8 and config["model"]["dModel"] == 128  # the quick preset
    assert config["training"]["warmupSteps"] == 5 and "clamped" in notes[0]
    assert model.routing.blocks == (1, 3)
    with pytest.raises(ConfigInvalid) as e:
        load_config(overrides=[{"training": {"lr": -1, "bogus": 1}, "data": {"valFraction": 1}}])
    msg = str(e.value)
    assert 'training: unknown field(s) "bogus"' in msg and "training.lr: must be > 0 (got -1)" in msg and "data.valFraction: must be < 1 (got 1)" in msg
    with pytest.raises(ConfigInvalid, match=r"training.seqLen: must be <= model.contextLength 128 \(got 256\)"):
        load_config(overrides=[{"training": {"seqLen": 256}}])
    with pytest.raises(ConfigInvalid, match=r"model.nHeads"):
        load_config(overrides=[{"model": {"nHeads": 3}}])
    with pytest.raises(ConfigInvalid, match="unknown preset"):
        load_config(preset="nope")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["--config", str(bad)]) == 2


def test_short_run_writes_the_typescript_formats(tmp_path):
    cfg = tiny_config(tmp_path)
    out = io.StringIO()
    r = run(parse_args(["--config", str(cfg)]), out=out)
    assert r["status"] == "done" and r["step"] == 8
    recs = metrics(tmp_path / "run")
    kinds = [x["type"] for x in recs]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("train") == 8 and kinds.count("eval") == 2 and kinds.count("checkpoint") == 2
    assert list(recs[0]) == START_KEYS
    # @mixdepth/flops-accounting's counts (apps/trainer/scripts/twin-accounting.mjs): 34017 weights, 9.80e6 FLOPs/step.
    assert recs[0]["paramCount"] == 34017 and recs[0]["flopsPerStep"] == 9799680
    assert [x["flops"] for x in recs if x["type"] == "train"][-1] == 8 * 9799680
    assert list(next(x for x in recs if x["type"] == "train")) == TRAIN_KEYS
    ev = [x for x in recs if x["type"] == "eval"]
    assert list(ev[0]) == EVAL_KEYS and ev[-1]["topk"]["loss"] < ev[0]["topk"]["loss"]
    assert ev[0]["routing"][0]["layer"] == 1 and 0 <= ev[0]["routing"][0]["accuracy"] <= 1 and set(ev[0]["auxLosses"]) == {"aux_bce", "predictor_bce"}
    tl = losses(tmp_path / "run")
    assert tl[8] < tl[1]
    ck = tmp_path / "run" / "checkpoints"
    assert json.loads((ck / "latest.json").read_text()) == {"checkpoint": "step-000008", "step": 8}
    st = json.loads((ck / "step-000008" / "trainer-state.json").read_text())
    assert list(st) == ["format", "step", "rngState", "routerStates", "optimizerStep", "tokensSeen", "trainingFlops", "fingerprint", "files"]
    assert st["optimizerStep"] == 8 and st["tokensSeen"] == 8 * 4 * 16
    assert sorted(p.name for p in (ck / "step-000008").iterdir()) == ["config.json", "model.safetensors", "trainer-state.json", "trainer-state.safetensors"]
    text = out.getvalue()
    assert "step 8/8  loss " in text and " tok/s  ETA " in text
    # A finished run refuses a second start in the same folder (exit 2), as the TypeScript trainer.
    assert main(["--config", str(cfg)]) == 2


def test_stop_and_resume_equal_an_uninterrupted_run(tmp_path):
    whole = tiny_config(tmp_path, "whole", gradAccum=2)
    parts = tiny_config(tmp_path, "parts", gradAccum=2)
    run(parse_args(["--config", str(whole)]), out=io.StringIO())
    r = run(parse_args(["--config", str(parts), "--stop-after", "3"]), out=io.StringIO())
    assert r["status"] == "interrupted" and r["step"] == 3
    run(parse_args(["--config", str(parts), "--resume"]), out=io.StringIO())
    assert losses(tmp_path / "parts") == losses(tmp_path / "whole")  # exactly
    assert max_weight_diff(latest_weights(tmp_path / "parts"), latest_weights(tmp_path / "whole")) == 0.0
    # --resume may extend the run but change nothing else
    assert main(["--resume", str(tmp_path / "parts"), "--set", "training.lr=0.01"]) == 2


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    steps = 150
    whole = tiny_config(tmp_path, "whole", steps=steps, checkpointEvery=10, evalEvery=0)
    killed = tiny_config(tmp_path, "killed", steps=steps, checkpointEvery=10, evalEvery=0)
    p = subprocess.Popen(train_cmd("--config", str(killed)), env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    latest = tmp_path / "killed" / "checkpoints" / "latest.json"
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None:
        if latest.exists() and json.loads(latest.read_text())["step"] >= 20:
            break
        time.sleep(0.005)
    p.send_signal(signal.SIGKILL)
    p.wait()
    at_kill = json.loads(latest.read_text())["step"]
    assert p.returncode == -signal.SIGKILL and 20 <= at_kill < steps, (p.returncode, at_kill)
    subprocess.run(train_cmd("--config", str(killed), "--resume"), env=env(), check=True, capture_output=True, timeout=120)
    run(parse_args(["--config", str(whole)]), out=io.StringIO())
    assert losses(tmp_path / "killed") == losses(tmp_path / "whole")
    assert max_weight_diff(latest_weights(tmp_path / "killed"), latest_weights(tmp_path / "whole")) == 0.0
    resumed = [r for r in metrics(tmp_path / "killed") if r["type"] == "start"]
    assert resumed[-1]["resumedFrom"] is not None and resumed[-1]["resumedFrom"] >= 20


def test_non_finite_loss_stops_without_a_checkpoint(tmp_path):
    cfg = tiny_config(tmp_path)
    assert main(["--config", str(cfg), "--fault-nan-loss-at", "6"]) == 3
    recs = metrics(tmp_path / "run")
    assert recs[-1]["type"] == "error" and recs[-1]["step"] == 6 and "the loss is nan" in recs[-1]["message"]
    assert json.loads((tmp_path / "run" / "checkpoints" / "latest.json").read_text())["step"] == 4


def test_yaml_config_and_print_config(tmp_path, capsys):
    cfg = json.loads(tiny_config(tmp_path).read_text())
    try:
        import yaml
    except ImportError:
        y = tmp_path / "c.yaml"
        y.write_text("training:\n  steps: 3\n")
        assert main(["--config", str(y), "--print-config"]) == 2
        assert "reading YAML needs PyYAML" in capsys.readouterr().err
        return
    y = tmp_path / "c.yaml"
    y.write_text(yaml.safe_dump(cfg))
    # YAML 1.2 as the TypeScript side reads it: 1e-3 is a number, "yes" a string.
    from mixdepth_torch.train_config import read_config_file
    y12 = tmp_path / "y12.yaml"
    y12.write_text("training:\n  lr: 1e-3\nnote: yes\n")
    assert read_config_file(str(y12)) == {"training": {"lr": 1e-3}, "note": "yes"}
    assert main(["--config", str(y), "--set", "training.lr=1e-3", "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["model"] == cfg["model"] and printed["training"]["lr"] == 1e-3 and printed["training"]["minLr"] == 3e-4  # the quick preset's default
    assert not (tmp_path / "run").exists()  # --print-config writes nothing


def test_run_fingerprint_equals_the_typescript_one():
    # train.ts fingerprint(): a TypeScript checkpoint resumes here (and back) only when both agree.
    from mixdepth_torch.config import resolve_model_config
    from mixdepth_torch.train import fingerprint

    f = json.loads((Path(__file__).parent / "ts-contract" / "train-ts.json").read_text())
    inp = f["fingerprint"]["input"]
    model = resolve_model_config(load_config()[0]["model"])
    assert model.to_ts() == inp["model"] == f["resolvedPresetModels"]["quick"]
    assert fingerprint(model, inp, inp["dataKey"]) == f["fingerprint"]["hash"]


def test_a_mode_run_trains_resumes_exactly_and_logs_the_experts_losses(tmp_path):
    # MoDE (docs/method.md section 6): block 1 staged (MoD router, then experts), block 0 integrated (no-op experts)
    experts = {"count": 2, "noop": 1, "capacity": 0.5, "predictor": {}, "zLoss": {"weight": 0.001}}
    whole, parts = (tiny_config(tmp_path, name) for name in ("whole", "parts"))
    for p in (whole, parts):
        cfg = json.loads(p.read_text())
        cfg["model"]["experts"] = experts
        p.write_text(json.dumps(cfg))
    run(parse_args(["--config", str(whole)]), out=io.StringIO())
    recs = metrics(tmp_path / "whole")
    assert recs[0]["config"]["model"]["experts"] == experts and recs[0]["flopsPerStep"] > 0
    ev = [x for x in recs if x["type"] == "eval"]
    assert set(ev[0]["auxLosses"]) == {"aux_bce", "predictor_bce", "experts_bce", "experts_predictor_bce", "experts_z"}
    assert ev[-1]["topk"]["loss"] < ev[0]["topk"]["loss"] and ev[0]["causal"] is not None
    tl = losses(tmp_path / "whole")
    assert tl[8] < tl[1]
    assert "blocks.1.mlp.experts.1.down.w" in latest_weights(tmp_path / "whole")
    run(parse_args(["--config", str(parts), "--stop-after", "3"]), out=io.StringIO())
    run(parse_args(["--config", str(parts), "--resume"]), out=io.StringIO())
    assert losses(tmp_path / "parts") == tl  # exactly
    assert max_weight_diff(latest_weights(tmp_path / "parts"), latest_weights(tmp_path / "whole")) == 0.0


def test_the_mode_preset_resolves_in_the_twin():
    config, model, _ = load_config(preset="mode", overrides=[{"training": {"steps": 2}}])
    assert model.experts is not None and config["model"]["experts"] is not None
