"""Step time of the twin's training step (train.train_step: forward, backward, clipping, AdamW),
dense and MoD at one shape, for ``pnpm bench`` (apps/trainer/scripts/bench.js prints it next to
mixdepth's). Not a test: it prints measured numbers, one JSON line.

    python -m mixdepth_torch.bench --model '{"vocabSize":256,"dModel":256,...}' --batch 8 --micro 2 \
        --capacity 0.125 [--steps 3] [--threads 1] [--device auto]

Median of ``--steps`` steps after one warmup; on CUDA each step is synchronized before it is
timed, and the forward pass runs under bf16 autocast (as the trainer does).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from .optim import AdamW, decay_rule
from .train import Dist, train_step, wrap_ddp
from .model import Transformer


def step_ms(model_cfg: dict, batch: int, micro: int, steps: int, d: Dist, precision: str) -> dict:
    model = Transformer(model_cfg, seed=0).to(d.device)
    params = model.named_weights()
    opt = AdamW(params, 0.9, 0.95, 1e-8, 0.1, decay_rule(False, False))
    net = wrap_ddp(model, d)
    s, v = model.config.context_length, model.config.vocab_size
    data = (np.arange(batch * (s + 1)) * 7919 + 13) % v
    rows = data.reshape(batch, s + 1).astype(np.int32)
    per = batch // micro
    batches = [(rows[i * per:(i + 1) * per, :-1], rows[i * per:(i + 1) * per, 1:]) for i in range(micro)]
    times, losses = [], []
    for i in range(steps + 1):
        if d.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss, _, _ = train_step(net, params, opt, d, batches, 1e-3, 1.0, precision)
        if d.device.type == "cuda":
            torch.cuda.synchronize()
        if i:
            times.append((time.perf_counter() - t0) * 1000)
        losses.append(loss)
    return {"ms": statistics.median(times), "losses": losses}


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m mixdepth_torch.bench")
    p.add_argument("--model", required=True, help="ModelConfig JSON (dense; MoD adds routing every other block)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--micro", type=int, default=1, help="micro-batches per step (gradient accumulation)")
    p.add_argument("--capacity", type=float, default=0.125)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    d = Dist(a.device)
    dense = json.loads(a.model)
    out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(d.device) if d.device.type == "cuda" else "cpu", "threads": torch.get_num_threads(), "steps": a.steps}
    for name, cfg in (("dense", dense), ("mod", {**dense, "routing": {"blocks": "every-other", "capacity": a.capacity}})):
        r = step_ms(cfg, a.batch, a.micro, a.steps, d, a.precision)
        out[f"{name}_step_ms"] = round(r["ms"], 2)
        out[f"{name}_losses"] = [round(x, 4) for x in r["losses"]]
    print(json.dumps(out))
    d.close()


if __name__ == "__main__":
    main()
