"""One training step end to end against TypeScript (fixture adamw_step, scripts/write-fixtures.mjs):
the twin's own gradients of the llama MoD total loss, then one step of optim.AdamW (twin-train's),
give the TypeScript trainer's AdamW weights and moments (same decay groups) within 1e-4."""
from __future__ import annotations

import torch

from fixtures_ts import load_case, record
from mixdepth_torch.model import Transformer
from mixdepth_torch.optim import AdamW, decay_rule

TOL = 1e-4


def test_one_adamw_step_equals_typescript() -> None:
    t, meta = load_case("adamw_step")
    hp = meta["hyper"]
    model = Transformer(meta["config"], seed=meta["seed"])
    model.set_weights({n: torch.from_numpy(t[f"before.{n}"]) for n in meta["names"]})
    b, s = meta["shape"]
    loss = model.loss(torch.tensor(meta["inputs"]).view(b, s), torch.tensor(meta["targets"]).view(b, s))
    loss.total.backward()
    params = model.named_weights()
    assert list(params) == meta["names"]
    grads = {n: p.grad for n, p in params.items()}
    for n, g in grads.items():
        d = float((g - torch.from_numpy(t[f"grad.{n}"])).abs().max())
        record("adamw_step", "grad", d)
        assert d < TOL, n
    opt = AdamW(params, hp["beta1"], hp["beta2"], hp["eps"], hp["weightDecay"], decay_rule(hp["decayEmbeddings"], hp["decayNormsAndBiases"]))
    assert sorted(opt.decayed) == sorted(meta["decayed"])
    opt.apply(grads, hp["lr"])
    assert opt.step == meta["step"] == 1
    moved = 0.0
    for n, p in params.items():
        d = float((p.detach() - torch.from_numpy(t[f"after.{n}"])).abs().max())
        record("adamw_step", "weights after", d)
        assert d < TOL, n
        for which, state in (("m", opt.m), ("v", opt.v)):
            dm = float((state[n] - torch.from_numpy(t[f"{which}.{n}"])).abs().max())
            record("adamw_step", which, dm)
            assert dm < TOL, f"{which}.{n}"
        moved = max(moved, float((torch.from_numpy(t[f"after.{n}"]) - torch.from_numpy(t[f"before.{n}"])).abs().max()))
    assert moved > 100 * TOL  # the step really moved the weights
