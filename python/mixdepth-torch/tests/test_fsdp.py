"""FSDP (--fsdp) where this torch has it (torch >= 2 with use_orig_params; Debian's 1.13 cannot
import torch.distributed.fsdp under Python 3.11): two sharded CPU processes (gloo) give the losses
and weights of one process with the whole batch within 1e-5, their checkpoints are whole and in
the same format, and a stopped sharded run resumes to the same numbers. Where FSDP is missing,
--fsdp exits 2 saying so."""
from __future__ import annotations

import io

import pytest

from mixdepth_torch.train import ConfigInvalid, fsdp_class, main, parse_args, run as train
from train_helpers import latest_weights, losses, max_weight_diff, run, tiny_config, torchrun_cmd

try:
    fsdp_class()
    HAS_FSDP = True
except ConfigInvalid as e:
    HAS_FSDP, WHY = False, str(e)

try:
    from fixtures_ts import PARITY
except ImportError:  # pragma: no cover
    PARITY = {}


@pytest.mark.skipif(not HAS_FSDP, reason="this torch has no usable FSDP (test_fsdp_flag_without_fsdp covers it)")
def test_two_sharded_processes_equal_one_process_and_resume(tmp_path):
    kw = dict(steps=6, batchSize=4, gradAccum=2, evalEvery=3, checkpointEvery=3)
    one = tiny_config(tmp_path, "one", **kw)
    two = tiny_config(tmp_path, "two", **kw)
    train(parse_args(["--config", str(one)]), out=io.StringIO())
    r = run(torchrun_cmd(2, "--config", str(two), "--fsdp", "--stop-after", "3"), timeout=300)
    assert "FSDP" in r.stdout and "interrupted" in r.stdout
    run(torchrun_cmd(2, "--config", str(two), "--fsdp", "--resume"), timeout=300)
    a, b = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert sorted(b) == list(range(1, 7))
    loss_diff = max(abs(a[s] - b[s]) for s in a)
    w1, w2 = latest_weights(tmp_path / "one"), latest_weights(tmp_path / "two")
    assert all(w1[n].shape == w2[n].shape for n in w1)  # whole weights, not shards
    weight_diff = max_weight_diff(w1, w2)
    PARITY["fsdp_2proc_vs_1proc"] = {"loss": loss_diff, "weights": weight_diff}
    print(f"FSDP 2 processes (stopped and resumed) vs 1: max |loss diff| {loss_diff:.2e}, max |weight diff| {weight_diff:.2e}")
    assert loss_diff < 1e-5 and weight_diff < 1e-5


@pytest.mark.skipif(HAS_FSDP, reason="this torch has FSDP (the sharded test covers it)")
def test_fsdp_flag_without_fsdp(tmp_path, capsys):
    assert main(["--config", str(tiny_config(tmp_path)), "--fsdp"]) == 2
    assert "--fsdp: torch" in capsys.readouterr().err and not (tmp_path / "run" / "checkpoints").exists()
