"""Train (or resume) a mixdepth model in PyTorch: the TypeScript trainer's loop, top to bottom.

    python -m mixdepth_torch.train --config run.json [--set training.steps=2000] [--out runs/x] [--resume]
    torchrun --nproc-per-node G [--nnodes N --rdzv-backend c10d --rdzv-endpoint HOST:PORT] -m mixdepth_torch.train ...

The same config (apps/trainer/src/config.ts's schema and presets, via config-contract.json), data
(split, cache, batches), AdamW, warmup + cosine, clipping, gradient accumulation, evaluation
cadence, metrics.jsonl and run folder (checkpoints/step-N, latest.json, run.json) as
``mixdepth train``; a run started by either engine continues in the other. Exactness of
--resume rests on what every checkpoint saves: the weights, the AdamW moments and step, the data
sampler's mulberry32 state and the routers' states.

Data parallelism (torchrun: WORLD_SIZE > 1) is DDP, gloo on CPU, NCCL on GPU. Every rank draws
the whole batch from the same seeded stream (the batches of one process) and computes a block of
its rows; each rank's loss is weighted by its share of the rows, so DDP's gradient average is the
gradient of the whole batch: losses and weights equal those of one process to float rounding.
With --fsdp (torch >= 2) the weights, gradients and AdamW moments are sharded over the ranks
(FSDP, use_orig_params) and checkpoints are gathered whole, in the same format. On GPU the
forward pass runs under bf16 autocast (--precision auto) with float32 weights, moments and loss.
On Debian's torch 1.13 under Python 3.11 launch with ``python3 -m mixdepth_torch.launch`` (torchrun,
mended there). Exit codes as the TypeScript CLI: 0 done (also after SIGINT/SIGTERM with a
checkpoint), 1 environment, 2 input (config, data, checkpoint), 3 not finite.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import signal
import sys
import time
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from .checkpoint import CheckpointError
from .config import ResolvedModelConfig
from .data import DataError, eval_batches, load_documents, prepare_tokens, random_batch, tokenizer_json
from .metrics import MetricsLog, Progress, write_atomic
from .model import RoutingAgreementCounter, Transformer
from .optim import AdamW, clip_by_global_norm, decay_rule, learning_rate
from .rng import Mulberry32
from .config import js_json
from .train_config import ConfigInvalid, load_config, parse_set, read_config_file
from .trainer_state import latest_step, load_checkpoint, save_checkpoint

EXIT_OK, EXIT_ENV, EXIT_INPUT, EXIT_NONFINITE = 0, 1, 2, 3
DATA_RNG_SALT = 0x0BA7C4  # train.ts: new Rng(t.seed ^ 0x0ba7c4)
# What --resume may change (cli.ts RESUMABLE): training.steps, and where/how it runs.
RESUMABLE = {"training.steps", "output.dir", "backend", "plugins", "training.workers"}


class NonFiniteError(Exception):
    def __init__(self, step: int, what: str, last_checkpoint: Optional[str]) -> None:
        self.step = step
        where = f" (the last checkpoint with finite weights, {last_checkpoint}, is intact)" if last_checkpoint else " (no checkpoint was written in this run)"
        super().__init__(f"{what} at step {step}; training stopped without writing a checkpoint{where}. Try a lower training.lr or a gradClip.")


# ---- distributed ------------------------------------------------------------------------------


class Dist:
    """This process's place in the job: rank, world size, device; no-ops with one process."""

    def __init__(self, device: str) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
        if device == "cuda" and not torch.cuda.is_available():
            raise ConfigInvalid("--device cuda: this torch sees no CUDA device")
        self.device = torch.device(f"cuda:{self.local_rank}" if cuda else "cpu")
        if cuda:
            torch.cuda.set_device(self.device)
        self.backend = "nccl" if cuda else "gloo"
        if self.world > 1:
            dist.init_process_group(backend=self.backend)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def rows(self, batch_size: int) -> Tuple[int, int]:
        """This rank's block of rows [a, b) of a batch (the first ranks take one more, like splitRows)."""
        base, extra = divmod(batch_size, self.world)
        a = self.rank * base + min(self.rank, extra)
        return a, a + base + (1 if self.rank < extra else 0)

    def sum(self, values: List[float]) -> List[float]:
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def any(self, flag: bool) -> bool:
        return self.sum([1.0 if flag else 0.0])[0] > 0

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` (a small picklable value) on every rank."""
        if self.world == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


class _Loss(nn.Module):
    """The model's training loss as a forward pass, so DDP can wrap it."""

    def __init__(self, model: Transformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r = self.model.loss(x, y, routing="topk")
        return r.total, r.lm, r.aux


def fsdp_class():
    """torch's FullyShardedDataParallel with use_orig_params (torch >= 2), or ConfigInvalid saying why not."""
    try:
        import inspect

        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    except Exception as e:  # noqa: BLE001 (Debian's 1.13 fails inside its own import under Python 3.11)
        raise ConfigInvalid(f"--fsdp: torch {torch.__version__} has no usable FullyShardedDataParallel ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); train without --fsdp (DDP)") from None
    if "use_orig_params" not in inspect.signature(FSDP.__init__).parameters:
        raise ConfigInvalid(f"--fsdp: needs FullyShardedDataParallel's use_orig_params (torch >= 2.0; this is {torch.__version__}); train without --fsdp (DDP)")
    return FSDP


def wrap_ddp(model: Transformer, d: Dist, fsdp: bool = False) -> nn.Module:
    """The model's loss as a module: as is for one process, in DDP, or sharded by FSDP (--fsdp).
    Under FSDP (one unit, use_orig_params) every weight, gradient and AdamW moment outside
    ``full_params`` is this rank's flat shard (size 0 where it holds none)."""
    m = _Loss(model)
    if fsdp:
        return fsdp_class()(m, use_orig_params=True, device_id=d.device)
    if d.world == 1:
        return m
    from torch.nn.parallel import DistributedDataParallel as DDP

    # Some weights get no gradient in some steps (e.g. a router's predictor on a dense path).
    return DDP(m, device_ids=[d.device.index] if d.device.type == "cuda" else None, broadcast_buffers=False, find_unused_parameters=True)


def full_params(net: nn.Module, writeback: bool = False):
    """Under FSDP: every rank holds the whole weights inside (a collective: all ranks enter it); else nothing."""
    if type(net).__name__ != "FullyShardedDataParallel":
        return contextlib.nullcontext()
    return fsdp_class().summon_full_params(net, writeback=writeback)


def sharded(net: nn.Module) -> bool:
    return type(net).__name__ == "FullyShardedDataParallel"


@torch.no_grad()
def gather_full(net: nn.Module, model: Transformer, shards: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Whole tensors from per-rank shards laid out like the weights' (AdamW moments under FSDP):
    written into the weight shards, gathered with the weights, and the weights put back."""
    params = model.named_weights()
    saved = {n: p.detach().clone() for n, p in params.items()}
    for n, p in params.items():
        p.copy_(shards[n])
    with full_params(net):
        out = {n: p.detach().clone() for n, p in model.named_weights().items()}
    for n, p in params.items():
        p.copy_(saved[n])
    return out


@torch.no_grad()
def scatter_full(net: nn.Module, model: Transformer, full: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The inverse of gather_full: this rank's shards of whole tensors (the weights are left holding them)."""
    with full_params(net, writeback=True):
        model.set_weights(full)
    return {n: p.detach().clone() for n, p in model.named_weights().items()}


def autocast(d: Dist, precision: str):
    """bf16 autocast on GPU (weights, moments and loss stay float32); nothing on CPU or with fp32."""
    use = precision == "bf16" or (precision == "auto" and d.device.type == "cuda")
    if not use:
        return contextlib.nullcontext()
    if d.device.type != "cuda":
        raise ConfigInvalid("--precision bf16: bf16 autocast is for CUDA devices here (CPU runs in float32)")
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16)


# ---- run description ---------------------------------------------------------------------------


def fingerprint(model: ResolvedModelConfig, t: Dict[str, Any], data_key: str) -> str:
    """train.ts fingerprint(): what a resume must agree with (both engines compute the same hash)."""
    fixed = {"model": model.to_ts(), "batchSize": t["batchSize"], "seqLen": t["seqLen"], "gradAccum": t["gradAccum"], "seed": t["seed"], "dataKey": data_key}
    return hashlib.sha256(js_json(fixed).encode("utf-8")).hexdigest()[:32]


def model_description(m: ResolvedModelConfig) -> str:
    r = m.routing
    if r.blocks:
        cap = f"{round(r.capacity * 100, 2):g}"
        routing = f"MoD {cap}% capacity on blocks [{', '.join(map(str, r.blocks))}], {r.router} router, causal: {r.causal}"
    else:
        routing = "dense"
    return f"{m.family} d={m.d_model} L={m.n_layers} heads={m.n_heads} ctx={m.context_length} vocab={m.vocab_size}; {routing}"


def _differences(a: Any, b: Any, path: str = "") -> List[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [p for k in sorted(set(a) | set(b)) for p in _differences(a.get(k), b.get(k), f"{path}.{k}" if path else k)]
    return [] if js_json(a) == js_json(b) else [path]


# ---- evaluation (apps/trainer/src/eval.ts) -------------------------------------------------------


@torch.no_grad()
def evaluate(model: Transformer, batches: Sequence[Tuple[np.ndarray, np.ndarray]], device: torch.device, bytes_per_token: float = 1.0) -> Dict[str, Any]:
    """Validation loss and bits per byte, top-k and causal routing, and the routing agreement per block."""
    t0 = time.perf_counter()
    was_training = model.training
    model.eval()
    routed = len(model.config.routing.blocks) > 0
    agreement = RoutingAgreementCounter()
    topk = causal = 0.0
    for x, y in batches:
        xt, yt = torch.from_numpy(x).long().to(device), torch.from_numpy(y).long().to(device)
        a = float(model.loss(xt, yt, routing="topk", observe=agreement.observe if routed else None).lm)
        b = float(model.loss(xt, yt, routing="causal").lm) if routed else a
        topk += a
        causal += b
    model.train(was_training)
    n = len(batches)
    seconds = time.perf_counter() - t0
    tokens = n * batches[0][0].size
    bpb = lambda nats: nats / math.log(2) / bytes_per_token  # noqa: E731
    return {
        "tokens": tokens,
        "topk": {"loss": topk / n, "bpb": bpb(topk / n)},
        "causal": {"loss": causal / n, "bpb": bpb(causal / n)} if routed else None,
        # eval.ts LayerRouting: the fields of each routed block's agreement the TypeScript record keeps.
        "routing": [{"layer": a["layer"], "nominalFraction": a["targetFraction"], "causalFraction": a["routedFraction"], "accuracy": a["accuracy"], "precision": a["precision"], "recall": a["recall"]} for a in agreement.blocks()],
        "seconds": seconds,
        "tokensPerSec": tokens / seconds,
    }


@torch.no_grad()
def aux_losses_by_name(model: Transformer, batch: Tuple[np.ndarray, np.ndarray], device: torch.device) -> Dict[str, float]:
    out = model(torch.from_numpy(batch[0]).long().to(device), routing="topk")
    return {k: float(v) for k, v in out.aux_losses.items()}


# ---- one training step ----------------------------------------------------------------------


def train_step(net: nn.Module, params: Dict[str, torch.Tensor], opt: AdamW, d: "Dist", batches: Sequence[Tuple[np.ndarray, np.ndarray]], lr: float, grad_clip: float,
               precision: str = "auto", step: int = 1, last_checkpoint: Optional[str] = None, nan_loss: bool = False) -> Tuple[float, float, float]:
    """One optimizer step over the micro-batches ``batches`` (each the whole batch, [B, S] inputs and
    targets; this rank computes its rows): gradients of the total loss summed over the micro-batches
    and divided once (grad-accum.ts), DDP's average over ranks, global-norm clipping, AdamW.
    Returns the whole batch's (lm loss, aux loss, pre-clip gradient norm); raises NonFiniteError
    (numbered ``step``) on a non-finite loss, norm or weight. The loop, the bench and tests call it."""
    batch_size = batches[0][0].shape[0]
    a, b = d.rows(batch_size)
    share = (b - a) * d.world / batch_size  # DDP averages over ranks: weight each by its rows
    # Row-weighted loss sums of this rank, kept on the device: one readback and one all-reduce a step.
    lm_acc = aux_acc = None
    for p in params.values():
        p.grad = None
    model: Transformer = getattr(net, "module", net).model
    stateful = d.world > 1 and bool(model.get_router_states())
    for micro, (x, y) in enumerate(batches):
        if stateful:
            # Router state (the stochastic router's stream) is rank 0's, as in @mixdepth/train's
            # data parallelism: every rank starts each micro-batch from it (so its block draws the
            # same numbers), and only rank 0's advance is kept and checkpointed.
            states = d.broadcast(model.get_router_states())
            if not d.main:
                model.set_router_states(states)
        xt = torch.from_numpy(x[a:b]).long().to(d.device)
        yt = torch.from_numpy(y[a:b]).long().to(d.device)
        sync = d.world == 1 or micro == len(batches) - 1
        with (contextlib.nullcontext() if sync else net.no_sync()):
            with autocast(d, precision):
                total, lm, aux = net(xt, yt)
            (total.float() * share).backward()
        lm_w, aux_w = lm.detach().double() * (b - a), aux.detach().double() * (b - a)
        lm_acc, aux_acc = (lm_w, aux_w) if lm_acc is None else (lm_acc + lm_w, aux_acc + aux_w)
    lm_tot, aux_tot = d.sum([float(lm_acc), float(aux_acc)])
    lm_sum, aux_sum = lm_tot / batch_size, aux_tot / batch_size
    loss = float("nan") if nan_loss else lm_sum / len(batches)
    aux_mean = aux_sum / len(batches)
    grads = {n: (p.grad if p.grad is not None else torch.zeros_like(p)) for n, p in params.items()}
    if len(batches) > 1:
        for g in grads.values():
            g.div_(len(batches))
    if not math.isfinite(loss) or not math.isfinite(aux_mean):
        raise NonFiniteError(step, f"the auxiliary loss is {aux_mean}" if math.isfinite(loss) else f"the loss is {loss}", last_checkpoint)
    # Before the step (docs/method.md section 8); under FSDP each rank holds a shard of every gradient.
    norm = clip_by_global_norm(list(grads.values()), grad_clip, reduce=(lambda sq: d.sum([sq])[0]) if sharded(net) else None)
    if not math.isfinite(norm):
        raise NonFiniteError(step, f"the gradient norm is {norm}", last_checkpoint)
    opt.apply(grads, lr)
    bad = _first_non_finite(params)
    if d.any(bad is not None) if sharded(net) else bad:
        raise NonFiniteError(step, f'weight "{bad or "(a shard on another rank)"}" is not finite after the update', last_checkpoint)
    return loss, aux_mean, norm


# ---- the loop --------------------------------------------------------------------------------


def _first_non_finite(arrays: Dict[str, torch.Tensor]) -> Optional[str]:
    for name, a in arrays.items():
        if not bool(torch.isfinite(a).all()):
            return name
    return None


def _resolve_config(args: argparse.Namespace) -> Tuple[Dict[str, Any], ResolvedModelConfig, List[str]]:
    overrides: List[Any] = [parse_set(s) for s in args.set or []]
    flags: Dict[str, Any] = {}
    if args.steps is not None:
        flags.setdefault("training", {})["steps"] = args.steps
    if args.data is not None:
        flags["data"] = {"source": args.data}
    if args.out is not None:
        flags["output"] = {"dir": args.out}
    overrides.append(flags)
    resume_dir = args.resume if isinstance(args.resume, str) else None
    if resume_dir:
        # The run's own config is the base; flags still apply, and only training.steps may change.
        base = read_config_file(os.path.join(resume_dir, "run.json"))
        layers = [base, *([read_config_file(args.config)] if args.config else []), *overrides, {"output": {"dir": resume_dir}}]
        config, model, notes = load_config(args.preset, None, layers)
        changed = [f for f in _differences({**base, "output": {"dir": resume_dir}}, config) if f not in RESUMABLE and not f.startswith("plugins")]
        if changed:
            raise ConfigInvalid(f"--resume {resume_dir}: only training.steps may change when resuming; changed: {', '.join(changed)}")
        return config, model, notes
    return load_config(args.preset, args.config, overrides)


def run(args: argparse.Namespace, out=None) -> Dict[str, Any]:
    config, mcfg, notes = _resolve_config(args)
    resume = args.resume is not None and args.resume is not False
    t = config["training"]
    d = Dist(args.device)
    progress = Progress(out if d.main else open(os.devnull, "w"), max(1, round(t["steps"] / 20)))
    log = progress.log
    try:
        for n in notes:
            log(n)
        run_dir = os.path.abspath(config["output"]["dir"])
        if resume:
            done = latest_step(run_dir)
            if done is not None and t["steps"] < done:
                raise ConfigInvalid(f"training.steps: must be >= {done}, the steps {run_dir} has already done (got {t['steps']})")
        t0 = time.perf_counter()
        if not d.main:
            d.barrier()  # rank 0 tokenizes and caches first; the others read its cache
        docs = load_documents(config["data"]["source"])
        data = prepare_tokens(docs, config["data"]["valFraction"], config["data"]["splitSeed"], t["seqLen"] + 1, os.path.abspath(config["data"]["cacheDir"]))
        if d.main:
            d.barrier()
        log(f"data: {config['data']['source']} ({data.train_docs} train / {data.val_docs} validation documents, {data.train.size} / {data.val.size} tokens; "
            f"{'cached' if data.from_cache else 'tokenized'} in {data.cache_path}, {round((time.perf_counter() - t0) * 1000)} ms)")
        eval_set = eval_batches(data.val, t["batchSize"], t["seqLen"], t["evalBatches"])
        if d.main:
            os.makedirs(run_dir, exist_ok=True)
        if not resume and os.path.exists(os.path.join(run_dir, "checkpoints", "latest.json")):
            raise CheckpointError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
        d.barrier()
        metrics = MetricsLog(os.path.join(run_dir, "metrics.jsonl"))
        if not resume and d.main and os.path.exists(metrics.path):
            os.remove(metrics.path)

        torch.manual_seed(t["seed"])
        model = Transformer(config["model"], seed=t["seed"]).to(d.device)
        shapes = model.weight_shapes()  # whole shapes (under FSDP the parameters become shards)
        net = wrap_ddp(model, d, fsdp=args.fsdp)
        params = model.named_weights()
        opt = AdamW(params, t["beta1"], t["beta2"], t["eps"], t["weightDecay"], decay_rule(t["decayEmbeddings"], t["decayNormsAndBiases"]), shapes=shapes)
        rng = Mulberry32((t["seed"] ^ DATA_RNG_SALT) & 0xFFFFFFFF)
        fp = fingerprint(mcfg, t, data.key)
        acc = _accounting(args.accounting, config, params)
        per_step = acc["flopsPerStep"]
        step = 0
        last_checkpoint: Optional[str] = None
        if resume:
            ck = load_checkpoint(run_dir, shapes, fp)
            bad = _first_non_finite({**{n: torch.from_numpy(a) for n, a in ck.weights.items()}, **{f"m.{n}": torch.from_numpy(a) for n, a in ck.m.items()}, **{f"v.{n}": torch.from_numpy(a) for n, a in ck.v.items()}})
            if bad:
                raise CheckpointError(f'checkpoint: {ck.dir} holds non-finite values in "{bad}"; it cannot be resumed (delete it and point checkpoints/latest.json at an earlier step folder)')
            full = lambda arrays: {n: torch.from_numpy(a.copy()).to(d.device) for n, a in arrays.items()}  # noqa: E731
            if sharded(net):
                m_shards, v_shards = scatter_full(net, model, full(ck.m)), scatter_full(net, model, full(ck.v))
                scatter_full(net, model, full(ck.weights))
                opt.set_state(ck.state["optimizerStep"], m_shards, v_shards)
            else:
                model.set_weights(full(ck.weights))
                opt.set_state(ck.state["optimizerStep"], full(ck.m), full(ck.v))
            rng.state = int(ck.state["rngState"])
            model.set_router_states(ck.state.get("routerStates") or {})
            step = ck.step
            last_checkpoint = ck.dir
            if d.main:
                metrics.truncate_after(step)
            log(f"resumed from {ck.dir} at step {step}")
        backend_line = f"torch {torch.__version__} {d.device.type} ({d.backend if d.world > 1 else 'one process'}, {d.world} rank{'s' if d.world > 1 else ''}{', FSDP' if args.fsdp else ', DDP' if d.world > 1 else ''}"
        backend_line += f", precision {'bf16 autocast' if d.device.type == 'cuda' and args.precision != 'fp32' else 'fp32'})"
        if d.main:
            write_atomic(os.path.join(run_dir, "run.json"), (json.dumps(config, indent=2) + "\n").encode("utf-8"))
            metrics.write({"type": "start", "time": _now(), "backend": backend_line, "ranks": d.world, "resumedFrom": step if resume else None, "config": config,
                           "paramCount": acc["paramCount"], "flopsPerStep": per_step, "forwardFlopsPerSequence": acc["forwardFlopsPerSequence"]})
        log(f"model: {model_description(mcfg)}; {acc['paramCount']} parameters; " + (f"{per_step:.3e} training FLOPs/step" if per_step is not None else "training FLOPs unknown (no node to run @mixdepth/flops-accounting; pass --accounting)"))
        log(f"run: {run_dir}")
        log(f"engine: {backend_line}")

        def checkpoint(s: int) -> None:
            nonlocal last_checkpoint
            bad = _first_non_finite({**params, **{f"m.{n}": x for n, x in opt.m.items()}, **{f"v.{n}": x for n, x in opt.v.items()}})
            if d.any(bad is not None) if sharded(net) else bad:
                raise NonFiniteError(s, f'"{bad or "(a shard on another rank)"}" holds a non-finite value', last_checkpoint)
            # Under FSDP every rank takes part in gathering the whole moments and weights; rank 0 writes.
            m = gather_full(net, model, opt.m) if sharded(net) else opt.m
            v = gather_full(net, model, opt.v) if sharded(net) else opt.v
            whole = whole_model()
            if d.main:
                state = {"step": s, "rngState": rng.state, "routerStates": model.get_router_states(), "optimizerStep": opt.step,
                         "tokensSeen": s * t["batchSize"] * t["seqLen"] * t["gradAccum"], "trainingFlops": s * per_step if per_step is not None else None, "fingerprint": fp}
                extra = {"tokenizer": tokenizer_json(), "trained": True, "description": model_description(mcfg), "step": s}
                last_checkpoint = save_checkpoint(run_dir, s, whole, {n: x.detach().cpu().numpy() for n, x in m.items()}, {n: x.detach().cpu().numpy() for n, x in v.items()}, state, extra)
                metrics.write({"type": "checkpoint", "step": s, "dir": last_checkpoint})
            d.barrier()

        shadow: List[Transformer] = []

        def whole_model() -> Transformer:
            """The model with whole weights: itself, or under FSDP a copy on rank 0 (the gathered
            weights are copied out: FSDP frees its gathered storage when the context ends)."""
            if not sharded(net):
                return model
            with full_params(net):
                w = {n: p.detach().cpu().clone() for n, p in model.named_weights().items()}
            if not d.main:
                return model
            if not shadow:
                shadow.append(Transformer(config["model"], seed=t["seed"]))
            shadow[0].set_weights(w)
            shadow[0].set_router_states(model.get_router_states())
            return shadow[0]

        def run_eval(s: int) -> Dict[str, Any]:
            with full_params(net):
                r = evaluate(model, eval_set, d.device)
                aux_named = aux_losses_by_name(model, eval_set[0], d.device)
            if d.main:
                metrics.write({"type": "eval", "step": s, "flops": s * per_step if per_step is not None else None, **r, "auxLosses": aux_named})
            causal = f", causal {r['causal']['loss']:.4f} ({r['causal']['bpb']:.3f} bpb)" if r["causal"] else ""
            accs = (", causal-vs-topk accuracy " + "/".join(f"{x['accuracy']:.3f}" for x in r["routing"])) if r["routing"] else ""
            log(f"eval @ step {s}: val loss top-k {r['topk']['loss']:.4f} ({r['topk']['bpb']:.3f} bpb){causal}{accs}")
            return r

        stop = {"requested": False}

        def on_signal(signum, _frame):
            if stop["requested"] and signum == signal.SIGTERM:
                return  # torchrun's SIGTERM after our SIGINT: already stopping
            if stop["requested"]:
                sys.stderr.write("\nsecond signal: exiting now (the last checkpoint is intact)\n")
                os._exit(130)
            stop["requested"] = True
            sys.stderr.write("\nstopping after the current step and writing a checkpoint (again to quit now)\n")

        old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        start_step = step
        train_start = time.perf_counter()
        final_eval = None
        interrupted = False
        ms_total = 0.0
        try:
            while step < t["steps"]:
                st0 = time.perf_counter()
                lr = learning_rate(t["lr"], t["minLr"], t["warmupSteps"], t["steps"], step)
                # Every rank draws the whole batch from the same stream: the batches of one process.
                batches = [random_batch(data.train, t["batchSize"], t["seqLen"], rng) for _ in range(t["gradAccum"])]
                loss, aux_mean, norm = train_step(net, params, opt, d, batches, lr, t["gradClip"], args.precision, step + 1, last_checkpoint, nan_loss=args.fault_nan_loss_at == step + 1)
                step += 1
                ms = (time.perf_counter() - st0) * 1000
                ms_total += ms
                tokens = step * t["batchSize"] * t["seqLen"] * t["gradAccum"]
                elapsed = time.perf_counter() - train_start
                tps = (step - start_step) * t["batchSize"] * t["seqLen"] * t["gradAccum"] / max(elapsed, 1e-9)
                if d.main:
                    metrics.write({"type": "train", "step": step, "loss": loss, "total": loss + aux_mean, "aux": aux_mean, "lr": lr, "gradNorm": norm, "tokens": tokens,
                                   "flops": step * per_step if per_step is not None else None, "msPerStep": ms, "tokensPerSec": tps})
                progress.update(step, t["steps"], loss, tps, elapsed, start_step)
                last = step == t["steps"]
                if last or (t["evalEvery"] > 0 and step % t["evalEvery"] == 0):
                    if d.main or sharded(net):  # FSDP: every rank takes part in the evaluation's forward passes
                        r = run_eval(step)
                        if last:
                            final_eval = r
                    d.barrier()
                if args.stop_after == step:
                    stop["requested"] = True
                if d.any(stop["requested"]) and not last:
                    log(f"interrupted: stopping after step {step}")
                    checkpoint(step)
                    interrupted = True
                    break
                if last or (t["checkpointEvery"] > 0 and step % t["checkpointEvery"] == 0):
                    checkpoint(step)
        except NonFiniteError as e:
            if d.main:
                metrics.write({"type": "error", "step": e.step, "message": str(e)})
            raise
        finally:
            for s, h in old.items():
                signal.signal(s, h)
        progress.done()
        if not interrupted and step == t["steps"] and start_step == t["steps"]:
            log(f"the run already finished at step {step}")
        if d.main:
            metrics.write({"type": "end", "step": step, "status": "interrupted" if interrupted else "done", "time": _now()})
        ms_per_step = ms_total / (step - start_step) if step > start_step else float("nan")
        if d.main:
            log(f"interrupted at step {step}; resume with: python -m mixdepth_torch.train --resume {run_dir}" if interrupted else f"done: {step} steps, {ms_per_step:.0f} ms/step")
            if last_checkpoint:
                log(f"checkpoint: {last_checkpoint}")
        return {"status": "interrupted" if interrupted else "done", "step": step, "checkpointDir": last_checkpoint, "finalEval": final_eval, "msPerStep": ms_per_step, "model": model}
    finally:
        progress.done()
        d.close()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


ACCOUNTING_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "apps", "trainer", "scripts", "twin-accounting.mjs")


def _accounting(path: Optional[str], config: Dict[str, Any], params: Dict[str, torch.Tensor]) -> Dict[str, Any]:
    """Parameter and FLOPs counts, @mixdepth/flops-accounting's (the one place that counts them): from
    --accounting (the launcher writes it), else from the monorepo's apps/trainer/scripts/twin-accounting.mjs
    run with node; without either, the parameter count is the weights' and the FLOPs are null."""
    if path:
        with open(path, encoding="utf-8") as fh:
            a = json.load(fh)
    else:
        a = None
        if os.path.isfile(ACCOUNTING_SCRIPT):
            import subprocess

            t = config["training"]
            try:
                r = subprocess.run([os.environ.get("MIXDEPTH_NODE", "node"), ACCOUNTING_SCRIPT], input=json.dumps({"model": config["model"], "training": t}), capture_output=True, text=True, timeout=60)
                if r.returncode == 0:
                    a = json.loads(r.stdout)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                a = None
        if a is None:
            return {"paramCount": int(sum(p.numel() for p in params.values())), "flopsPerStep": None, "forwardFlopsPerSequence": None}
    for k in ("paramCount", "flopsPerStep", "forwardFlopsPerSequence"):
        if not isinstance(a.get(k), (int, float)):
            raise ConfigInvalid(f"--accounting: {path or ACCOUNTING_SCRIPT}: {k} must be a number (got {json.dumps(a.get(k))})")
    return a


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m mixdepth_torch.train", description="Train a mixdepth model with PyTorch (the twin of `mixdepth train`; run under torchrun for DDP).")
    p.add_argument("-c", "--config", help="JSON or YAML config file, the same as `mixdepth train --config` (merged over the preset)")
    p.add_argument("-p", "--preset", help="preset from the TypeScript side's config.ts (default: quick)")
    p.add_argument("--set", action="append", metavar="PATH=VALUE", help="override any config field, e.g. --set training.lr=1e-3 (repeatable)")
    p.add_argument("--steps", type=int, help="training.steps")
    p.add_argument("--data", help='data.source: "brown" or a UTF-8 text file or folder')
    p.add_argument("-o", "--out", help="output.dir: the run folder")
    p.add_argument("--resume", nargs="?", const=True, default=None, metavar="RUN_DIR", help="continue the run (default: --out) where its last checkpoint stopped; only training.steps may change")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto: CUDA when available (default)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto", help="auto: bf16 autocast on CUDA, fp32 on CPU (default)")
    p.add_argument("--fsdp", action="store_true", help="shard weights, gradients and AdamW moments over the ranks (FullyShardedDataParallel; torch >= 2); checkpoints stay whole, in the same format")
    p.add_argument("--accounting", help="JSON {paramCount, flopsPerStep, forwardFlopsPerSequence} from @mixdepth/flops-accounting (the launcher writes it)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config (JSON) and exit")
    p.add_argument("--stop-after", type=int, help=argparse.SUPPRESS)  # tests: stop (with a checkpoint) after this step
    p.add_argument("--fault-nan-loss-at", type=int, help=argparse.SUPPRESS)  # tests: report a NaN loss at this step
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        if args.print_config:
            config, _, _ = _resolve_config(args)
            sys.stdout.write(json.dumps(config, indent=2) + "\n")
            return EXIT_OK
        run(args)
        return EXIT_OK
    except (ConfigInvalid, DataError, CheckpointError) as e:
        sys.stderr.write(f"{e}\n")
        return EXIT_INPUT
    except NonFiniteError as e:
        sys.stderr.write(f"{e}\n")
        return EXIT_NONFINITE
    except OSError as e:
        sys.stderr.write(f"{e}\n")
        return EXIT_ENV


if __name__ == "__main__":
    sys.exit(main())
