"""Data parallelism: a two-process torchrun on CPU (gloo, localhost, a free port) trains the same
model as one process with the whole batch: the same losses and weights within 1e-5. batchSize 5
over 2 ranks (3 + 2 rows: the loss weighting by rows is exercised) and gradAccum 2 (no_sync)."""
from __future__ import annotations

import io
import json
import os

import pytest

from mixdepth_torch.train import parse_args, run as train
from train_helpers import latest_weights, losses, max_weight_diff, run, tiny_config, torchrun_cmd

try:  # the parity summary of tests/conftest.py prints this figure at the end
    from fixtures_ts import PARITY
except ImportError:  # pragma: no cover
    PARITY = {}


def test_two_process_torchrun_equals_one_process(tmp_path):
    kw = dict(steps=6, batchSize=5, gradAccum=2, evalEvery=3, checkpointEvery=3)
    one = tiny_config(tmp_path, "one", **kw)
    two = tiny_config(tmp_path, "two", **kw)
    train(parse_args(["--config", str(one)]), out=io.StringIO())
    r = run(torchrun_cmd(2, "--config", str(two)), timeout=180)
    assert "gloo, 2 ranks" in r.stdout
    a, b = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert sorted(a) == sorted(b) == list(range(1, 7))
    loss_diff = max(abs(a[s] - b[s]) for s in a)
    weight_diff = max_weight_diff(latest_weights(tmp_path / "one"), latest_weights(tmp_path / "two"))
    PARITY["ddp_2proc_vs_1proc"] = {"loss": loss_diff, "weights": weight_diff}
    print(f"DDP 2 processes vs 1: max |loss diff| {loss_diff:.2e}, max |weight diff| {weight_diff:.2e}")
    assert loss_diff < 1e-5 and weight_diff < 1e-5
    assert a[6] < a[1]  # it trained


def test_two_process_torchrun_equals_one_process_with_mode(tmp_path):
    # MoDE (staged on block 1, integrated on block 0), expert choice: the selection is per sequence
    # and every experts loss a mean over tokens, so 2 ranks equal one process (token choice's
    # balancing loss, a product of batch means, would not be: it is per rank as in @mixdepth/train)
    kw = dict(steps=4, batchSize=5, evalEvery=0, checkpointEvery=4)
    cfgs = {}
    for name in ("one", "two"):
        p = tiny_config(tmp_path, name, **kw)
        c = json.loads(p.read_text())
        c["model"]["experts"] = {"count": 2, "noop": 1, "capacity": 0.5, "predictor": {}, "zLoss": {"weight": 0.01}}
        p.write_text(json.dumps(c))
        cfgs[name] = p
    train(parse_args(["--config", str(cfgs["one"])]), out=io.StringIO())
    run(torchrun_cmd(2, "--config", str(cfgs["two"])), timeout=180)
    a, b = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert sorted(a) == sorted(b) == list(range(1, 5))
    loss_diff = max(abs(a[s] - b[s]) for s in a)
    weight_diff = max_weight_diff(latest_weights(tmp_path / "one"), latest_weights(tmp_path / "two"))
    PARITY["ddp_2proc_vs_1proc_mode"] = {"loss": loss_diff, "weights": weight_diff}
    assert loss_diff < 1e-5 and weight_diff < 1e-5


@pytest.mark.skipif(os.environ.get("MIXDEPTH_SLOW") != "1", reason="slow (three torchrun launches): pnpm test:slow runs it (MIXDEPTH_SLOW=1)")
def test_stochastic_router_under_torchrun_resumes_exactly(tmp_path):
    # Router state is rank 0's (as in @mixdepth/train's data parallelism): a two-process run
    # stopped and resumed equals the same two-process run uninterrupted.
    stochastic = {"routing": {"blocks": "every-other", "capacity": 0.25, "router": "stochastic", "auxLoss": None, "predictor": None}}
    kw = dict(steps=4, batchSize=3, evalEvery=0, checkpointEvery=2)
    cfgs = {}
    for name in ("whole", "parts"):
        p = tiny_config(tmp_path, name, **kw)
        c = json.loads(p.read_text())
        c["model"].update(stochastic)
        p.write_text(json.dumps(c))
        cfgs[name] = p
    run(torchrun_cmd(2, "--config", str(cfgs["whole"])), timeout=180)
    run(torchrun_cmd(2, "--config", str(cfgs["parts"]), "--stop-after", "2"), timeout=180)
    run(torchrun_cmd(2, "--config", str(cfgs["parts"]), "--resume"), timeout=180)
    assert losses(tmp_path / "parts") == losses(tmp_path / "whole")
    assert max_weight_diff(latest_weights(tmp_path / "parts"), latest_weights(tmp_path / "whole")) == 0.0
