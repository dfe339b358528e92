"""AdamW, schedule, decay rule and clipping against numbers the TypeScript side computed
(tests/ts-contract/train-ts.json, written by apps/trainer/src/twin-contract.ts)."""
import json
import math
from pathlib import Path

import numpy as np
import torch

from mixdepth_torch.optim import AdamW, clip_by_global_norm, decay_rule, learning_rate

F = json.loads((Path(__file__).parent / "ts-contract" / "train-ts.json").read_text())


def test_schedule_matches_ts():
    for s in F["schedules"]:
        got = [learning_rate(s["lr"], s["minLr"], s["warmupSteps"], s["steps"], i) for i in range(len(s["values"]))]
        # The same float64 arithmetic; V8's Math.cos and libm's cos may differ in the last bit.
        assert all(math.isclose(g, w, rel_tol=1e-14, abs_tol=0) for g, w in zip(got, s["values"]))


def test_decay_rule_matches_ts():
    names = [("tok_emb", [256, 8]), ("pos_emb", [16, 8]), ("blocks.0.attn.wq", [8, 8]), ("blocks.0.ln1.g", [8]), ("blocks.0.attn.bq", [8]), ("lm_head", [8, 256])]
    for d in F["decay"]:
        rule = decay_rule(d["decayEmbeddings"], d["decayNormsAndBiases"])
        assert [n for n, s in names if rule(n, s)] == d["decayed"]
    assert F["decay"][0]["decayed"] != F["decay"][1]["decayed"]  # the two cases differ


def test_adamw_three_steps_match_ts():
    a = F["adamw"]
    params = {n: torch.tensor(a["init"][n], dtype=torch.float32).reshape(s) for n, s in a["shapes"].items()}
    opt = AdamW(params, a["beta1"], a["beta2"], a["eps"], a["weightDecay"], decay_rule(False, False))
    assert opt.decayed == a["decayed"]
    for g, lr in zip(a["grads"], a["lrs"]):
        opt.apply({n: torch.tensor(v, dtype=torch.float32).reshape(a["shapes"][n]) for n, v in g.items()}, lr)
    assert opt.step == a["step"] == 3
    worst = 0.0
    for n in a["shapes"]:
        for got, want in ((params[n], a["after"][n]), (opt.m[n], a["m"][n]), (opt.v[n], a["v"][n])):
            worst = max(worst, float(np.max(np.abs(got.reshape(-1).numpy() - np.asarray(want, dtype=np.float32)))))
        moved = float(np.max(np.abs(params[n].reshape(-1).numpy() - np.asarray(a["init"][n], dtype=np.float32))))
        assert moved > 1e-4  # the steps did something
    assert worst < 1e-6, worst


def test_adamw_state_round_trip_and_errors():
    p = {"w": torch.ones(2, 2)}
    opt = AdamW(p, 0.9, 0.95, 1e-8, 0.1, decay_rule(False, False))
    opt.apply({"w": torch.full((2, 2), 0.5)}, 1e-2)
    step, m, v = opt.get_state()
    q = {"w": p["w"].clone()}
    opt2 = AdamW(q, 0.9, 0.95, 1e-8, 0.1, decay_rule(False, False))
    opt2.set_state(step, m, v)
    opt.apply({"w": torch.full((2, 2), -0.25)}, 1e-2)
    opt2.apply({"w": torch.full((2, 2), -0.25)}, 1e-2)
    assert torch.equal(p["w"], q["w"])
    try:
        opt2.set_state(1, {}, v)
        raise AssertionError("expected an error")
    except ValueError as e:
        assert 'missing m for "w"' in str(e)


def test_clip_matches_ts():
    for c in F["clip"]:
        grads = [torch.tensor(c["grads"][n], dtype=torch.float32) for n in ("a", "b")]
        norm = clip_by_global_norm(grads, c["maxNorm"])
        assert math.isclose(norm, c["norm"], rel_tol=1e-6)
        for g, n in zip(grads, ("a", "b")):
            assert np.max(np.abs(g.numpy() - np.asarray(c["clipped"][n], dtype=np.float32))) < 1e-6
    assert F["clip"][1]["norm"] > 0.5  # the 0.5 case really clips
