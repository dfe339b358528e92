"""The mixdepth transformer in PyTorch: the twin of @mixdepth/transformer, in one file.

Written from packages/transformer/README.md ("Architecture", "Weights", "Initialisation") and
docs/method.md (Raposo et al., 2024, Mixture-of-Depths): token embedding, (gpt2) learned
positions, nLayers pre-norm blocks, each dense or routed (MoD) with its own router, final
norm, output head tied to the embedding by default. Weight names, shapes ([in, out], x @ W)
and the seeded initialisation are the TypeScript ones, so checkpoints move both ways.

One block path serves training (top-k, method section 2), the causal forward (section 3)
and cached decoding with the sparse per-block KV cache (section 4): the router decides which
tokens a block processes, those are gathered in position order (rows of a batch that route
fewer are padded with skipped tokens, masked out of attention and gated to 0), the branch
runs on them at their ORIGINAL positions, and r * f is added back at those positions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ConfigError, Experts, ResolvedModelConfig, resolve_model_config, routed_tokens
from .rng import Mulberry32, gaussian

MASKED = -1e9  # added to masked attention logits; finite, so fully masked rows stay NaN-free
EMBEDDING_INIT_STD = 0.02
SQRT_2_OVER_PI = math.sqrt(2 / math.pi)

# ----------------------------------------------------------------------------------------------
# Routers (method sections 2, 3, 5) and their registry, like @mixdepth/router's


@dataclass
class RouterContext:
    d_model: int
    layer_index: int
    aux_loss: dict | None  # {"weight": w} or None
    predictor: dict | None  # {"hidden": p, "weight": w} or None
    options: dict
    seed: int
    capacity: float = 0.125


class RouteResult(NamedTuple):
    scores: torch.Tensor  # [B, S] r, multiplies the branch (gradient flows through it)
    positions: torch.Tensor  # [B, k] int64, ascending per row
    aux_losses: dict[str, torch.Tensor]  # weighted, e.g. "aux_bce", "predictor_bce"


class CausalRouteResult(NamedTuple):
    scores: torch.Tensor  # [B, S]
    selected: torch.Tensor  # [B, S] bool: the block processes the token
    probability: torch.Tensor  # [B, S] probability behind each decision


class Router(nn.Module):
    """A router: scores [B, S], the top-k choice (training) and the causal decision (sampling)."""

    kind: str = ""

    def route(self, x: torch.Tensor, k: int) -> RouteResult:
        raise NotImplementedError

    def route_causal(self, x: torch.Tensor, mode: str) -> CausalRouteResult:
        raise NotImplementedError

    def weights(self) -> dict[str, nn.Parameter]:
        return dict(self.named_parameters())

    def get_state(self) -> Any:  # host state that is not a weight (None: the router keeps none)
        return None

    def set_state(self, state: Any) -> None:
        raise ValueError(f"router {self.kind!r} keeps no state")

    has_state = False


def topk_positions(scores: torch.Tensor, k: int) -> torch.Tensor:
    """[B, S] -> [B, k] positions of the k largest scores per row, ties to the earlier position,
    sorted ascending (router/src/topk.ts: a strict total order, exactly k; indices sorted
    themselves, not argsorted). A stable descending sort gives equal scores in position order."""
    s = scores.shape[1]
    if not isinstance(k, int) or k < 1 or k > s:
        raise ValueError(f"k: must be an integer in [1, {s}] (got {k})")
    order = torch.sort(scores.detach(), dim=1, descending=True, stable=True).indices  # [B, S]
    return torch.sort(order[:, :k], dim=1).values  # [B, k]


def bce_with_logits(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """mean(softplus(z) - z t) over every entry (router/src/bce.ts)."""
    return torch.mean(F.softplus(z) - z * t)


def _normal_param(rng: Mulberry32, shape: tuple[int, ...], std: float, std_first: bool = False) -> nn.Parameter:
    n = int(np.prod(shape)) if shape else 1
    return nn.Parameter(torch.from_numpy(gaussian(rng, n, std, std_first).reshape(shape)))


class Linear(nn.Module):
    """x @ w (+ b), w stored [in, out] as in TypeScript (weight names `<name>.w`, `<name>.b`)."""

    def __init__(self, w: nn.Parameter, bias: bool) -> None:
        super().__init__()
        self.w = w
        self.b = nn.Parameter(torch.zeros(w.shape[1])) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x @ self.w
        return y + self.b if self.b is not None else y


class LearnedRouter(Router):
    """r = x . w (no bias); aux BCE on r; predictor MLP on stop-gradient(x) (method sections 2-3)."""

    kind = "learned"

    def __init__(self, ctx: RouterContext) -> None:
        super().__init__()
        opts = validate_learned_options(ctx.options)
        rng = Mulberry32(ctx.seed)
        d = ctx.d_model
        self.ctx = ctx
        self.w = _normal_param(rng, (d, 1), opts.get("initStd", 1 / math.sqrt(d)))  # [d, 1]
        self.aux_weight = ctx.aux_loss["weight"] if ctx.aux_loss else None
        p = ctx.predictor
        self.predictor_weight = p["weight"] if p else 0.0
        if p:
            self.predictor = nn.Module()
            self.predictor.w1 = _normal_param(rng, (d, p["hidden"]), 1 / math.sqrt(d))  # [d, p]
            self.predictor.b1 = nn.Parameter(torch.zeros(p["hidden"]))
            self.predictor.w2 = _normal_param(rng, (p["hidden"], 1), 1 / math.sqrt(p["hidden"]))  # [p, 1]
            self.predictor.b2 = nn.Parameter(torch.zeros(1))
        else:
            self.predictor = None

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        return (x @ self.w).squeeze(-1)  # [B, S]

    def predictor_logits(self, x: torch.Tensor) -> torch.Tensor:
        p = self.predictor
        if p is None:
            raise ValueError('routing.causal: "predictor" needs routing.predictor, which is disabled for this model')
        h = F.relu(x.detach() @ p.w1 + p.b1)  # [B, S, p]; stop-gradient: never bends the LM
        return (h @ p.w2 + p.b2).squeeze(-1)  # [B, S]

    def route(self, x: torch.Tensor, k: int) -> RouteResult:
        scores = self.scores(x)  # [B, S]
        pos = topk_positions(scores, k)  # [B, k]
        aux: dict[str, torch.Tensor] = {}
        if self.aux_weight is not None or self.predictor is not None:
            target = torch.zeros_like(scores).scatter(1, pos, 1.0)  # [B, S], per row (no batch offset to forget)
            if self.aux_weight is not None:
                aux["aux_bce"] = bce_with_logits(scores, target) * self.aux_weight
            if self.predictor is not None:
                aux["predictor_bce"] = bce_with_logits(self.predictor_logits(x), target) * self.predictor_weight
        return RouteResult(scores, pos, aux)

    def route_causal(self, x: torch.Tensor, mode: str) -> CausalRouteResult:
        if mode not in ("threshold", "predictor"):
            raise ValueError(f"routing.causal: unknown mode {mode!r}")
        scores = self.scores(x)
        logits = self.predictor_logits(x) if mode == "predictor" else scores
        return CausalRouteResult(scores, logits.detach() > 0, torch.sigmoid(logits.detach()))


def validate_learned_options(options: dict) -> dict:
    for key, value in options.items():
        if key != "initStd":
            raise ConfigError(f"routing.routerOptions.{key}", value, "unknown option of the learned router (known: initStd)")
    s = options.get("initStd")
    if "initStd" in options and (isinstance(s, bool) or not isinstance(s, (int, float)) or not s >= 0):
        raise ConfigError("routing.routerOptions.initStd", s, "must be a number >= 0")
    return dict(options)


def learned_router_weight_shapes(ctx: RouterContext) -> dict[str, tuple[int, ...]]:
    d = ctx.d_model
    m = {"w": (d, 1)}
    if ctx.predictor:
        p = ctx.predictor["hidden"]
        m.update({"predictor.w1": (d, p), "predictor.b1": (p,), "predictor.w2": (p, 1), "predictor.b2": (1,)})
    return m


def normal_quantile(p: float) -> float:
    """Standard normal quantile, Acklam's approximation (router/src/stochastic-router.ts)."""
    if not (0 < p < 1):
        return -math.inf if p == 0 else math.inf if p == 1 else math.nan
    a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239]
    b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1]
    c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783]
    d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416]

    def tail(q: float) -> float:
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)

    if p < 0.02425:
        return tail(math.sqrt(-2 * math.log(p)))
    if p > 1 - 0.02425:
        return -tail(math.sqrt(-2 * math.log(1 - p)))
    q = p - 0.5
    r = q * q
    return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)


class StochasticRouter(Router):
    """The paper's control (method section 5): top-k over fresh Gaussian scores, no weights.
    `scale` "one" (default): r = 1; "noise": the Gaussian scores also scale the branch. Causally a
    token is routed with probability = capacity ("one": uniform draw; "noise": Gaussian draw above
    the (1 - capacity) quantile). The stream is mulberry32(seed ^ 0x5bd1e995), as in TypeScript."""

    kind = "stochastic"
    has_state = True

    def __init__(self, ctx: RouterContext) -> None:
        super().__init__()
        self.rng = Mulberry32((ctx.seed ^ 0x5BD1E995) & 0xFFFFFFFF)
        cap = ctx.capacity
        if isinstance(cap, bool) or not isinstance(cap, (int, float)) or not (0 < cap <= 1):
            raise ValueError(f"routing.capacity: must be a number in (0, 1] (got {cap!r})")
        self.capacity = cap
        self.scale = validate_stochastic_options(ctx.options)["scale"]

    def route(self, x: torch.Tensor, k: int) -> RouteResult:
        b, s, _ = x.shape
        if not isinstance(k, int) or k < 1 or k > s:  # before drawing: a bad call does not advance the stream
            raise ValueError(f"k: must be an integer in [1, {s}] (got {k})")
        noise = torch.from_numpy(gaussian(self.rng, b * s).reshape(b, s)).to(x.device)  # [B, S]
        pos = topk_positions(noise, k)
        scores = noise if self.scale == "noise" else torch.ones(b, s, device=x.device)
        return RouteResult(scores.to(x.dtype), pos, {})

    def route_causal(self, x: torch.Tensor, mode: str) -> CausalRouteResult:
        b, s, _ = x.shape
        if self.scale == "noise":
            z = gaussian(self.rng, b * s).reshape(b, s)
            selected = z > normal_quantile(1 - self.capacity)
            scores = torch.from_numpy(z)
        else:
            selected = self.rng.uniform(b * s).reshape(b, s) < self.capacity
            scores = torch.ones(b, s)
        prob = torch.full((b, s), float(np.float32(self.capacity)))
        return CausalRouteResult(scores.to(x.device, x.dtype), torch.from_numpy(selected).to(x.device), prob.to(x.device))

    def get_state(self) -> dict:
        return {"rng": self.rng.state}

    def set_state(self, state: Any) -> None:
        rng = state.get("rng") if isinstance(state, dict) else None
        if isinstance(rng, bool) or not isinstance(rng, (int, float)):
            raise TypeError(f"stochastic router state: expected {{ rng: <uint32> }} (got {state!r})")
        if not float(rng).is_integer() or not 0 <= rng <= 0xFFFFFFFF:
            raise ValueError(f"rng state: must be an unsigned 32-bit integer (got {rng!r})")
        self.rng.state = int(rng)


def validate_stochastic_options(options: dict) -> dict:
    for key, value in options.items():
        if key != "scale":
            raise ConfigError(f"routing.routerOptions.{key}", value, "unknown option of the stochastic router (known: scale)")
    scale = options.get("scale", "one")
    if scale not in ("one", "noise"):
        raise ConfigError("routing.routerOptions.scale", options.get("scale"), 'must be "one" or "noise"')
    return {"scale": scale}


@dataclass
class _Registration:
    factory: Callable[[RouterContext], Router]
    validate_options: Callable[[dict], Any] | None = None
    weight_shapes: Callable[[RouterContext], dict[str, tuple[int, ...]]] | None = None


_ROUTERS: dict[str, _Registration] = {}


def register_router(kind: str, factory: Callable[[RouterContext], Router], *, validate_options: Callable[[dict], Any] | None = None,
                    weight_shapes: Callable[[RouterContext], dict[str, tuple[int, ...]]] | None = None, override: bool = False) -> None:
    """Registers a router kind (TS registerRouter). Built-ins go through this too; nothing is
    registered at import time (register_builtin_routers, which the model calls, adds them)."""
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"register_router: kind must be a non-empty string (got {kind!r})")
    if not callable(factory):
        raise TypeError(f'register_router("{kind}"): factory must be a function')
    if kind in _ROUTERS and not override:
        raise ValueError(f'register_router: router kind "{kind}" is already registered (pass override=True to replace it)')
    _ROUTERS[kind] = _Registration(factory, validate_options, weight_shapes)


def unregister_router(kind: str) -> bool:
    return _ROUTERS.pop(kind, None) is not None


def list_routers() -> list[str]:
    return sorted(_ROUTERS)


def register_builtin_routers() -> None:
    """Registers "learned" and "stochastic"; idempotent, leaves user overrides in place."""
    if "learned" not in _ROUTERS:
        register_router("learned", LearnedRouter, validate_options=validate_learned_options, weight_shapes=learned_router_weight_shapes)
    if "stochastic" not in _ROUTERS:
        register_router("stochastic", StochasticRouter, validate_options=validate_stochastic_options, weight_shapes=lambda c: {})


def _registration(kind: str) -> _Registration:
    if kind not in _ROUTERS:
        known = list_routers()
        raise ConfigError("routing.router", kind, f"unknown router kind; registered: {', '.join(known) if known else 'none'}")
    return _ROUTERS[kind]


def router_context(cfg: ResolvedModelConfig, index: int, seed: int = 0) -> RouterContext:
    r = cfg.routing
    return RouterContext(cfg.d_model, index, r.aux_loss, r.predictor, dict(r.router_options), seed, cfg.layers[index].capacity)


def check_router_config(cfg: ResolvedModelConfig) -> None:
    """The kind is registered and accepts routing.routerOptions (TS checkRouterConfig)."""
    if not cfg.routing.blocks:
        return
    reg = _registration(cfg.routing.router)
    if reg.validate_options is None:
        return
    try:
        reg.validate_options(cfg.routing.router_options)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - any other error is reported for the whole field
        raise ConfigError("routing.routerOptions", cfg.routing.router_options, f"rejected by the {cfg.routing.router!r} router: {e}") from e


def create_router(kind: str, ctx: RouterContext) -> Router:
    reg = _registration(kind)
    router = reg.factory(ctx)
    if router.kind != kind:
        raise ValueError(f'router factory for "{kind}" returned a router of kind "{router.kind}"')
    if reg.weight_shapes is not None:
        want = {n: tuple(s) for n, s in reg.weight_shapes(ctx).items()}
        have = {n: tuple(p.shape) for n, p in router.weights().items()}
        if want != have:
            raise ValueError(f'router "{kind}" created weights {have or "(none)"}, but its weight_shapes declare {want or "(none)"}')
    return router


# ----------------------------------------------------------------------------------------------
# Weight names and shapes as a function of the config (TS weight-shapes.ts, mod-block's blockWeightShapes)


def family_mlp_weight_shapes(family: str, d: int, h: int, prefix: str) -> list[tuple[str, tuple[int, ...]]]:
    """The family MLP's weights under `prefix` ("mlp" or "mlp.experts.<e>"), mod-block's familyMlpWeightShapes."""
    if family == "gpt2":
        return [(f"{prefix}.fc.w", (d, h)), (f"{prefix}.fc.b", (h,)), (f"{prefix}.proj.w", (h, d)), (f"{prefix}.proj.b", (d,))]
    return [(f"{prefix}.gate.w", (d, h)), (f"{prefix}.up.w", (d, h)), (f"{prefix}.down.w", (h, d))]


def moe_mlp_weight_shapes(family: str, d: int, e: Experts) -> list[tuple[str, tuple[int, ...]]]:
    """An MoE MLP's weights: the router [d, E + N], the causal predictor when enabled, then each expert's MLP."""
    out: list[tuple[str, tuple[int, ...]]] = [("mlp.router.w", (d, e.count + e.noop))]
    if e.predictor:
        q = e.predictor["hidden"]
        out += [("mlp.predictor.w1", (d, q)), ("mlp.predictor.b1", (q,)), ("mlp.predictor.w2", (q, e.count)), ("mlp.predictor.b2", (e.count,))]
    for i in range(e.count):
        out += family_mlp_weight_shapes(family, d, e.hidden, f"mlp.experts.{i}")
    return out


def block_weight_shapes(cfg: ResolvedModelConfig, index: int = 0) -> list[tuple[str, tuple[int, ...]]]:
    """Block `index`'s attention, norm and MLP weights (MoD router excluded) in creation order
    (mod-block's transformerBlockWeightShapes): an MoE block has mlp.router/predictor/experts.* for mlp.*."""
    d, h = cfg.d_model, cfg.mlp_hidden
    gpt2 = cfg.family == "gpt2"
    out: list[tuple[str, tuple[int, ...]]] = [("norm1.g", (d,))]
    if gpt2:
        out.append(("norm1.b", (d,)))
    out.append(("attn.qkv.w", (d, 3 * d)))
    if gpt2:
        out.append(("attn.qkv.b", (3 * d,)))
    out.append(("attn.out.w", (d, d)))
    if gpt2:
        out.append(("attn.out.b", (d,)))
    out.append(("norm2.g", (d,)))
    if gpt2:
        out.append(("norm2.b", (d,)))
    e = cfg.experts_at(index)
    out += moe_mlp_weight_shapes(cfg.family, d, e) if e is not None else family_mlp_weight_shapes(cfg.family, d, h, "mlp")
    return out


def top_level_weight_shapes(cfg: ResolvedModelConfig) -> list[tuple[str, tuple[int, ...]]]:
    d = cfg.d_model
    out: list[tuple[str, tuple[int, ...]]] = [("tok_emb", (cfg.vocab_size, d))]
    if cfg.family == "gpt2":
        out.append(("pos_emb", (cfg.context_length, d)))
    out.append(("final_norm.g", (d,)))
    if cfg.family == "gpt2":
        out.append(("final_norm.b", (d,)))
    if not cfg.tie_embeddings:
        out.append(("head.w", (d, cfg.vocab_size)))
    return out


def model_weight_shapes(config: Any) -> tuple[dict[str, tuple[int, ...]], list[int]]:
    """Name -> shape of every weight, in getWeights order, and the routed blocks whose router kind
    declared no shapes (their `blocks.<i>.router.*` names are then unknown). Allocates nothing."""
    cfg = resolve_model_config(config)
    top = top_level_weight_shapes(cfg)
    shapes: dict[str, tuple[int, ...]] = {n: s for n, s in top if n in ("tok_emb", "pos_emb")}
    undeclared: list[int] = []
    for i in range(cfg.n_layers):
        for n, s in block_weight_shapes(cfg, i):
            shapes[f"blocks.{i}.{n}"] = s
        if cfg.layers[i].routed:
            register_builtin_routers()
            reg = _ROUTERS.get(cfg.routing.router)
            if reg is None or reg.weight_shapes is None:
                undeclared.append(i)
            else:
                for n, s in reg.weight_shapes(router_context(cfg, i)).items():
                    shapes[f"blocks.{i}.router.{n}"] = tuple(s)
    shapes.update({n: s for n, s in top if n not in ("tok_emb", "pos_emb")})
    return shapes, undeclared


# ----------------------------------------------------------------------------------------------
# Layers


class Norm(nn.Module):
    """gpt2 LayerNorm (x - mean) / sqrt(var + eps) * g + b (biased var); llama RMSNorm x / sqrt(mean(x^2) + eps) * g."""

    def __init__(self, d: int, bias: bool, eps: float) -> None:
        super().__init__()
        self.g = nn.Parameter(torch.ones(d))
        self.b = nn.Parameter(torch.zeros(d)) if bias else None
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.b is not None:
            xc = x - x.mean(-1, keepdim=True)
            return xc * torch.rsqrt(xc.square().mean(-1, keepdim=True) + self.eps) * self.g + self.b
        return x * torch.rsqrt(x.square().mean(-1, keepdim=True) + self.eps) * self.g


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """0.5 x (1 + tanh(u)) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3), as mod-block computes it."""
    return x * torch.sigmoid((x + 0.044715 * (x * x.square())) * (2 * SQRT_2_OVER_PI))


_ROTARY: dict[tuple[float, int], tuple[np.ndarray, np.ndarray]] = {}


def rotary_table(base: float, hd: int, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [rows, hd/2] of theta_i = p * base^(-2i/hd) computed like TypeScript: inverse
    frequencies rounded to float32, one float32 product, then cos/sin of it rounded to float32."""
    cached = _ROTARY.get((base, hd))
    if cached is None or cached[0].shape[0] < rows:
        half = hd // 2
        inv = np.array([np.float32(math.pow(base, (-2 * i) / hd)) for i in range(half)], dtype=np.float32).astype(np.float64)
        p = np.arange(max(rows, 64), dtype=np.float64)[:, None]
        angle = (p * inv).astype(np.float32).astype(np.float64)  # the float32 product
        cached = (np.cos(angle).astype(np.float32), np.sin(angle).astype(np.float32))
        _ROTARY[(base, hd)] = cached
    return torch.from_numpy(cached[0]), torch.from_numpy(cached[1])


def rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Half-split (GPT-NeoX / HF rotate_half): [x1 cos - x2 sin, x2 cos + x1 sin]. x [B, H, T, hd]; cos, sin [B, 1, T, hd/2]."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


@dataclass
class KeyValues:
    """One block's cache entry: keys/values of the tokens it processed, rotary applied."""

    k: torch.Tensor  # [B, H, T, hd]
    v: torch.Tensor  # [B, H, T, hd]
    positions: torch.Tensor  # [B, T] int64, original positions
    valid: torch.Tensor | None  # [B, T] bool, False at padding slots (never attended); None: all valid


class KVCache:
    """Per-block KV cache (method section 4): a dense block stores every token, a routed block only
    those its causal decision routed, so lengths differ between blocks. Changes only when a
    whole forward call succeeds."""

    def __init__(self, n_layers: int) -> None:
        self.n_layers = n_layers
        self.entries: list[KeyValues | None] = [None] * n_layers
        self.position = 0  # original position of the next token
        self.batch: int | None = None

    def length(self, layer: int) -> int:
        e = self.entries[layer]
        return 0 if e is None else e.k.shape[2]

    def lengths(self) -> list[int]:
        return [self.length(i) for i in range(self.n_layers)]

    def positions(self, layer: int, row: int = 0) -> list[int]:
        e = self.entries[layer]
        if e is None:
            return []
        p = e.positions[row]
        return (p[e.valid[row]] if e.valid is not None else p).tolist()

    def clear(self) -> None:
        self.entries = [None] * self.n_layers
        self.position = 0
        self.batch = None


# ----------------------------------------------------------------------------------------------
# The block


class Attention(nn.Module):
    def __init__(self, cfg: ResolvedModelConfig, qkv: nn.Parameter, out: nn.Parameter) -> None:
        super().__init__()
        bias = cfg.family == "gpt2"
        self.qkv = Linear(qkv, bias)
        self.out = Linear(out, bias)


class MLP(nn.Module):
    """The family MLP (GELU d -> h -> d with biases, or SwiGLU) from the weights `<prefix>.*` of `p`."""

    def __init__(self, cfg: ResolvedModelConfig, p: dict[str, nn.Parameter], prefix: str = "mlp") -> None:
        super().__init__()
        self.gpt2 = cfg.family == "gpt2"
        if self.gpt2:
            self.fc = Linear(p[f"{prefix}.fc.w"], True)
            self.proj = Linear(p[f"{prefix}.proj.w"], True)
        else:
            self.gate = Linear(p[f"{prefix}.gate.w"], False)
            self.up = Linear(p[f"{prefix}.up.w"], False)
            self.down = Linear(p[f"{prefix}.down.w"], False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gpt2:
            return self.proj(gelu_tanh(self.fc(x)))
        g = self.gate(x)
        return self.down(g * torch.sigmoid(g) * self.up(x))  # SwiGLU: silu(x Wg) * (x Wu) @ Wd


def _full(t: torch.Tensor) -> torch.Tensor:
    """At least float32 (autocast's bf16/fp16 router logits go up; a float64 model stays float64)."""
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


class _Selection(NamedTuple):
    index: torch.Tensor  # [B, n] int64: chosen token indices ascending, then unchosen ones as padding
    valid: torch.Tensor | None  # [B, n] bool, False at padding; None when no row is padded


def _from_mask(mask: torch.Tensor) -> _Selection:
    """Rows of `mask` [B, T] as a selection padded to the longest row (mod-block's fromMask)."""
    counts = mask.sum(1)  # [B]
    n = int(counts.max()) if mask.numel() else 0
    index = torch.sort((~mask).to(torch.int8), dim=1, stable=True).indices[:, :n]  # [B, n]
    valid = torch.arange(n, device=mask.device)[None, :] < counts[:, None] if bool((counts < n).any()) else None
    return _Selection(index, valid)


class MoeMLP(nn.Module):
    """The mixture-of-experts MLP of an MoE or MoDE block (docs/method.md section 6; mod-block's moe-mlp.ts).
    p = softmax(h W_r) over E real + N no-op experts; expert choice: real expert e takes the
    k = routed_tokens(capacity, T) tokens of each sequence with the largest p_e (ties to the
    earlier position); token choice: each token's top-1 (ties to the lower index), at most k per
    real expert, those with the largest p_e; causal: token i goes to e iff (h_i W_r)_e > 0 (or the
    predictor's output e > 0). m_i = sum over the experts that took i of p_e(i) MLP_e(h_i), 0 exactly
    for a token no real expert took. No-op experts have a router column and no weights."""

    def __init__(self, cfg: ResolvedModelConfig, e: Experts, p: dict[str, nn.Parameter]) -> None:
        super().__init__()
        self.e = e
        self.router = nn.Module()
        self.router.w = p["mlp.router.w"]  # [d, E + N]
        if e.predictor:
            self.predictor = nn.Module()
            self.predictor.w1, self.predictor.b1 = p["mlp.predictor.w1"], p["mlp.predictor.b1"]  # [d, q], [q]
            self.predictor.w2, self.predictor.b2 = p["mlp.predictor.w2"], p["mlp.predictor.b2"]  # [q, E], [E]
        else:
            self.predictor = None
        self.experts = nn.ModuleList([MLP(cfg, p, f"mlp.experts.{i}") for i in range(e.count)])

    def forward(self, h: torch.Tensor, mode: str, valid: torch.Tensor | None = None,
                processed: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor], list | None]:
        """h [B, T, d] (the normed MLP input) -> (m [B, T, d], weighted aux losses (top-k only),
        per real expert per row the indices into T it processed, or None with processed=False:
        that list costs a host sync per expert). `valid` [B, T] (causal only) marks padding."""
        e = self.e
        b, t, d = h.shape
        count, cols = e.count, e.count + e.noop
        if mode == "topk" and valid is not None:
            raise ValueError("MoeMLP: expert choice (top-k) takes no padded tokens")
        token_choice = e.routing == "token-choice"
        logits = h @ self.router.w  # [B, T, E + N]
        probs = F.softmax(_full(logits), dim=-1)  # [B, T, E + N]
        pd = probs.detach()
        predicted = None
        if self.predictor is not None and not token_choice and (mode == "topk" or e.causal == "predictor"):
            q = self.predictor  # stop-gradient input: its loss reaches neither h nor W_r
            predicted = F.relu(h.detach() @ q.w1 + q.b1) @ q.w2 + q.b2  # [B, T, E]
        decide = predicted if (e.causal == "predictor" and predicted is not None) else logits
        k = routed_tokens(e.capacity, t)
        top1 = None
        if token_choice:  # each token's top-1 expert, real or no-op, ties to the lower index
            cand = torch.where(pd == pd.max(-1, keepdim=True).values, torch.arange(cols, device=h.device), cols)
            top1 = cand.min(-1).values  # [B, T]
            if valid is not None:
                top1 = torch.where(valid, top1, -1)
        member = torch.zeros(b, t, count, device=h.device, dtype=probs.dtype) if mode == "topk" and not token_choice else None  # aux BCE targets
        out: torch.Tensor | None = None
        taken: list | None = [] if processed else None
        for i, mlp in enumerate(self.experts):
            if top1 is not None and mode == "topk":
                # of the tokens that picked i, the k with the largest p_i; every row padded to k
                col = torch.where(top1 == i, pd[..., i], torch.full_like(pd[..., i], -1.0))
                index = topk_positions(col, k)  # [B, k]
                kept = top1.gather(1, index) == i
                sel = _Selection(index, None if bool(kept.all()) else kept)
            elif top1 is not None:
                sel = _from_mask(top1 == i)
            elif mode == "topk":
                sel = _Selection(topk_positions(pd[..., i], k), None)
                member[..., i].scatter_(1, sel.index, 1.0)
            else:
                mask = decide[..., i].detach() > 0
                sel = _from_mask(mask & valid if valid is not None else mask)
            n = sel.index.shape[1]
            if taken is not None:
                rows = sel.index.tolist()
                vrows = sel.valid.tolist() if sel.valid is not None else None
                taken.append([[j for c, j in enumerate(r) if vrows is None or vrows[ri][c]] for ri, r in enumerate(rows)])
            if n == 0:
                continue
            gate_all = probs[..., i : i + 1]  # [B, T, 1]
            if n == t and sel.valid is None:  # every token: no gather (one expert at full capacity is the dense MLP)
                y = mlp(h) * gate_all.to(h.dtype)
                out = y if out is None else out + y
                continue
            idx = sel.index.unsqueeze(2).expand(-1, -1, d)  # [B, n, d]
            gate = torch.gather(gate_all, 1, sel.index.unsqueeze(2))  # [B, n, 1]
            if sel.valid is not None:
                gate = gate * sel.valid.unsqueeze(2).to(gate.dtype)
            y = mlp(torch.gather(h, 1, idx)) * gate.to(h.dtype)  # [B, n, d], this expert's tokens in position order
            out = (out if out is not None else torch.zeros_like(h)).scatter_add(1, idx, y.to(h.dtype))
        aux: dict[str, torch.Tensor] = {}
        if mode == "topk" and e.z_loss:  # ST-MoE router z-loss over all E + N columns
            aux["experts_z"] = torch.mean(torch.logsumexp(_full(logits), dim=-1).square()) * e.z_loss["weight"]
        if top1 is not None and mode == "topk" and e.balance_loss:
            # Switch: E * sum_e f_e P_e over the real experts; f (counts) is a constant, P carries the gradient
            f = torch.stack([(top1 == i).sum() for i in range(count)]).to(probs.dtype) / (b * t)  # [E]
            mean_p = probs[..., :count].reshape(b * t, count).mean(0)  # [E]
            aux["experts_balance"] = torch.sum(mean_p * f) * (e.balance_loss["weight"] * count)
        if member is not None:
            if e.aux_loss:
                aux["experts_bce"] = bce_with_logits(_full(logits[..., :count]), member.to(_full(logits).dtype)) * e.aux_loss["weight"]
            if predicted is not None and e.predictor:
                aux["experts_predictor_bce"] = bce_with_logits(_full(predicted), member.to(_full(predicted).dtype)) * e.predictor["weight"]
        return (out if out is not None else torch.zeros_like(h)), aux, taken


class Block(nn.Module):
    """Pre-norm block; routed blocks own a router. Weight names are the TS ones relative to `blocks.i`."""

    def __init__(self, cfg: ResolvedModelConfig, index: int, rng: Mulberry32, seed: int) -> None:
        super().__init__()
        self.cfg, self.index = cfg, index
        layer = cfg.layers[index]
        self.routed, self.capacity = layer.routed, layer.capacity
        std, residual_std = 0.02, 0.02 / math.sqrt(2 * cfg.n_layers)
        mats: dict[str, nn.Parameter] = {}
        for name, shape in block_weight_shapes(cfg, index):  # creation order = order of the random draws
            if name.endswith((".g", ".b")):
                continue
            if name.startswith("mlp.predictor.b"):
                mats[name] = nn.Parameter(torch.zeros(shape))
            elif name == "mlp.router.w" or name.startswith("mlp.predictor.w"):  # unit-scale logits on a normed input
                mats[name] = _normal_param(rng, shape, 1 / math.sqrt(shape[0]))
            else:  # projections into the residual stream (the experts' too) get the smaller std
                mats[name] = _normal_param(rng, shape, residual_std if name == "attn.out.w" or name.endswith((".proj.w", ".down.w")) else std)
        gpt2 = cfg.family == "gpt2"
        self.norm1 = Norm(cfg.d_model, gpt2, cfg.norm_eps)
        self.attn = Attention(cfg, mats["attn.qkv.w"], mats["attn.out.w"])
        self.norm2 = Norm(cfg.d_model, gpt2, cfg.norm_eps)
        self.experts = cfg.experts_at(index)
        self.mlp = MoeMLP(cfg, self.experts, mats) if self.experts is not None else MLP(cfg, mats)
        self.router: Router | None = None
        if self.routed:
            register_builtin_routers()
            # every routed block has its own router, seeded apart (method section 8)
            self.router = create_router(cfg.routing.router, router_context(cfg, index, (seed * 1000003 + index * 7919) & 0xFFFFFFFF))

    def weights(self) -> dict[str, nn.Parameter]:
        """Block weights in TS order ("norm1.g", ..., "router.w", ...)."""
        own = dict(self.named_parameters())
        out = {n: own[n] for n, _ in block_weight_shapes(self.cfg, self.index)}
        if self.router is not None:
            out.update({f"router.{n}": p for n, p in self.router.weights().items()})
        return out

    def branch(self, x: torch.Tensor, pos: torch.Tensor, valid: torch.Tensor | None, past: KeyValues | None,
               rope: tuple[torch.Tensor, torch.Tensor] | None = None,
               experts: str = "topk", trace: bool = False) -> tuple[torch.Tensor, KeyValues, dict[str, torch.Tensor], list | None]:
        """f = a + m on the given tokens x [B, T, d] at original positions pos [B, T]; valid [B, T]
        marks padding (neither key nor result); with `past` the tokens also attend to cached keys.
        An MoE MLP routes among these tokens (`experts`: "topk" or "causal") and returns its aux
        losses and, with `trace`, per real expert the indices into T it processed (else None)."""
        if self.experts is not None and past is not None and experts == "topk":
            raise ValueError(f'block {self.index}: expert choice (top-k) looks at the whole sequence; with a KV cache use experts "causal"')
        cfg = self.cfg
        b, t, d = x.shape
        nh, hd = cfg.n_heads, cfg.head_dim
        q, k, v = self.attn.qkv(self.norm1(x)).split(d, dim=2)  # 3 x [B, T, d]
        q = q.view(b, t, nh, hd).transpose(1, 2)  # [B, H, T, hd]
        k = k.view(b, t, nh, hd).transpose(1, 2)
        v = v.view(b, t, nh, hd).transpose(1, 2)
        if cfg.family == "llama":
            cos_t, sin_t = rope if rope is not None else rotary_table(cfg.rope_base, hd, cfg.context_length)
            cos = cos_t[pos].unsqueeze(1).to(x.dtype)  # [B, 1, T, hd/2] at ORIGINAL positions
            sin = sin_t[pos].unsqueeze(1).to(x.dtype)
            q, k = rotary(q, cos, sin), rotary(k, cos, sin)
        if past is not None:
            k = torch.cat([past.k, k], dim=2)  # [B, H, Tk, hd]
            v = torch.cat([past.v, v], dim=2)
            kpos = torch.cat([past.positions, pos], dim=1)  # [B, Tk]
            if past.valid is not None or valid is not None:
                pv = past.valid if past.valid is not None else torch.ones_like(past.positions, dtype=torch.bool)
                nv = valid if valid is not None else torch.ones_like(pos, dtype=torch.bool)
                kvalid = torch.cat([pv, nv], dim=1)
            else:
                kvalid = None
        else:
            kpos, kvalid = pos, valid
        allowed = kpos[:, None, :] <= pos[:, :, None]  # [B, T, Tk]: causal by original position
        if kvalid is not None:
            allowed = allowed & kvalid[:, None, :]
        att = (q @ k.transpose(-2, -1)) * (1 / math.sqrt(hd))  # [B, H, T, Tk]
        att = att + torch.where(allowed, 0.0, MASKED).to(att.dtype).unsqueeze(1)  # additive, as in TS (no host sync)
        o = (F.softmax(att, dim=-1) @ v).transpose(1, 2).reshape(b, t, d)  # [B, T, d], heads in column order
        a = self.attn.out(o)
        if self.experts is None:
            return a + self.mlp(self.norm2(x + a)), KeyValues(k, v, kpos, kvalid), {}, None
        m, aux, processed = self.mlp(self.norm2(x + a), experts, valid, processed=trace)
        return a + m, KeyValues(k, v, kpos, kvalid), aux, processed

    def forward(self, x: torch.Tensor, mode: str = "topk", causal: str | None = None, start: int = 0, past: KeyValues | None = None,
                trace: bool = False, observe: Callable[[dict], None] | None = None,
                rope: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict | None, KeyValues | None, dict | None]:
        """x [B, S, d] at positions start..start+S-1 -> (x', weighted aux losses, trace, new kv entry,
        expert trace). Staged MoDE: the MoD router picks the tokens that enter, the experts choose among them."""
        b, s, d = x.shape
        if mode not in ("topk", "causal"):
            raise ValueError(f'routing: must be "topk" or "causal" (got {mode!r})')
        if self.router is None:
            y, kv, aux, etr = self._update(x, None, None, None, start, past, rope=rope, mode=mode, trace=trace)
            return y, aux, None, kv, etr
        causal = causal or self.cfg.routing.causal
        if mode == "topk":
            if past is not None:
                raise ValueError('Block.forward: a KV cache needs routing "causal" (top-k looks at the whole sequence)')
            k = routed_tokens(self.capacity, s)
            r = self.router.route(x, k)
            if observe is not None:
                c = self.router.route_causal(x, causal)
                observe({"layer": self.index, "input": x, "start": start, "topk": {"k": k, "positions": r.positions},
                         "causal": {"selected": c.selected, "probability": c.probability, "scores": c.scores.detach()}})
            index = None if k == s else r.positions
            y, kv, aux, etr = self._update(x, r.scores, index, None, start, None, rope=rope, mode=mode, trace=trace)
            tr = {"layer": self.index, "mode": mode, "processed": (r.positions + start).tolist(), "scores": r.scores.detach().tolist()} if trace else None
            return y, {**r.aux_losses, **aux}, tr, kv, etr
        c = self.router.route_causal(x, causal)
        if observe is not None:
            observe({"layer": self.index, "input": x, "start": start, "topk": None,
                     "causal": {"selected": c.selected, "probability": c.probability, "scores": c.scores.detach()}})
        counts = c.selected.sum(1)  # [B]
        n = int(counts.max())  # the one host sync of a causal call: the gathered length
        if n == s and bool((counts == s).all()):
            index, valid = None, None
        else:
            # per row: the chosen positions ascending, then skipped ones as padding (unique, so the scatter stays one-to-one)
            index = torch.sort((~c.selected).to(torch.int8), dim=1, stable=True).indices[:, :n]  # [B, n]
            valid = torch.arange(n, device=x.device)[None, :] < counts[:, None] if bool((counts < n).any()) else None
        y, kv, aux, etr = self._update(x, c.scores, index, valid, start, past, empty=n == 0, rope=rope, mode=mode, trace=trace)
        tr = None
        if trace:
            sel = c.selected.tolist()
            tr = {"layer": self.index, "mode": mode, "processed": [[start + i for i, v in enumerate(row) if v] for row in sel],
                  "scores": c.scores.detach().tolist(), "probability": c.probability.tolist()}
        return y, aux, tr, kv, etr

    def _update(self, x: torch.Tensor, scores: torch.Tensor | None, index: torch.Tensor | None, valid: torch.Tensor | None,
                start: int, past: KeyValues | None, empty: bool = False, rope: tuple[torch.Tensor, torch.Tensor] | None = None,
                mode: str = "topk", trace: bool = False) -> tuple[torch.Tensor, KeyValues | None, dict[str, torch.Tensor], dict | None]:
        """x + gate * f(x~) on the selected tokens; gate = r (routed) or 1 (dense), 0 at padding.
        Also returns the MoE MLP's aux losses and, with `trace`, its expert trace (original positions)."""
        b, s, d = x.shape
        if empty:  # no token chosen anywhere: nothing to compute, nothing to cache
            etr = {"layer": self.index, "mode": mode, "processed": [[[] for _ in range(b)] for _ in range(self.experts.count)]} if self.experts is not None and trace else None
            return x, past, {}, etr
        if index is None:
            pos = (torch.arange(s, device=x.device) + start).expand(b, s)  # [B, S]
            out, kv, aux, processed = self.branch(x, pos, None, past, rope, experts=mode, trace=trace)
            y = x + (out * scores.unsqueeze(2) if scores is not None else out)
        else:
            idx = index.unsqueeze(2).expand(-1, -1, d)  # [B, n, d]
            pos = index + start
            out, kv, aux, processed = self.branch(torch.gather(x, 1, idx), pos, valid, past, rope, experts=mode, trace=trace)  # [B, n, d]
            gate = torch.gather(scores, 1, index).unsqueeze(2)  # [B, n, 1]
            if valid is not None:
                gate = gate * valid.unsqueeze(2).to(gate.dtype)
            y = x.scatter_add(1, idx, (out * gate).to(x.dtype))  # autocast: the residual stream keeps its dtype
        etr = None
        if processed is not None and trace:
            prow = pos.tolist()
            etr = {"layer": self.index, "mode": mode, "processed": [[[prow[r][j] for j in row] for r, row in enumerate(rows)] for rows in processed]}
        return y, kv, aux, etr


# ----------------------------------------------------------------------------------------------
# The model


class ForwardResult(NamedTuple):
    logits: torch.Tensor  # [B, S, V] (or [B, 1, V] with logits="last")
    aux_losses: dict[str, torch.Tensor]  # weighted, summed over blocks: "aux_bce", "predictor_bce", "experts_*"
    traces: list[dict]  # with trace: one per routed block
    expert_traces: list[dict] = []  # with trace: one per block with an MoE MLP, processed per real expert per row


class LossResult(NamedTuple):
    total: torch.Tensor  # lm + aux
    lm: torch.Tensor  # mean next-token cross-entropy over all B*S tokens, nats
    aux: torch.Tensor  # sum of the weighted router losses (0 for dense models)


class Transformer(nn.Module):
    """The MoD (or dense) decoder-only transformer; `named_weights()` are the TS weights by name."""

    def __init__(self, config: Any, seed: int = 0) -> None:
        super().__init__()
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed: must be an integer (got {seed!r})")
        cfg = resolve_model_config(config)
        self.config = cfg
        self._raw = cfg.raw
        top_rng = Mulberry32(((seed & 0xFFFFFFFF) ^ 0x5EED) & 0xFFFFFFFF)  # model-level weights
        block_rng = Mulberry32(seed & 0xFFFFFFFF)  # one stream over the blocks, in layer order
        for name, shape in top_level_weight_shapes(cfg):
            if name.endswith(".g") or name.endswith(".b"):
                continue
            p = _normal_param(top_rng, shape, EMBEDDING_INIT_STD, std_first=True)
            if name == "head.w":
                self.head = nn.Module()
                self.head.w = p
            else:
                setattr(self, name, p)
        if cfg.family != "gpt2":
            self.pos_emb = None
        self.final_norm = Norm(cfg.d_model, cfg.family == "gpt2", cfg.norm_eps)
        self.blocks = nn.ModuleList([Block(cfg, i, block_rng, seed) for i in range(cfg.n_layers)])
        if cfg.family == "llama":  # the rotary table, a buffer (moves with .to(), not saved: not a weight)
            cos, sin = rotary_table(cfg.rope_base, cfg.head_dim, cfg.context_length)
            self.register_buffer("rope_cos", cos[: cfg.context_length].clone(), persistent=False)
            self.register_buffer("rope_sin", sin[: cfg.context_length].clone(), persistent=False)

    # -- weights by TS name --------------------------------------------------------------------
    def named_weights(self) -> dict[str, nn.Parameter]:
        """Every weight by its TS name, in TS getWeights order (tok_emb, pos_emb, blocks..., final_norm, head)."""
        own = dict(self.named_parameters())
        top = [n for n, _ in top_level_weight_shapes(self.config)]
        out = {n: own[n] for n in top if n in ("tok_emb", "pos_emb")}
        for i, blk in enumerate(self.blocks):
            out.update({f"blocks.{i}.{n}": p for n, p in blk.weights().items()})
        out.update({n: own[n] for n in top if n not in ("tok_emb", "pos_emb")})
        return out

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        return {n: tuple(p.shape) for n, p in self.named_weights().items()}

    @torch.no_grad()
    def set_weights(self, weights: dict[str, Any], partial: bool = False) -> None:
        """Checks every name, shape and dtype first (TS setWeights messages), then copies."""
        own = self.named_weights()
        given = {n: (torch.from_numpy(np.asarray(t)) if not isinstance(t, torch.Tensor) else t) for n, t in weights.items()}
        for name, t in given.items():
            if name not in own:
                known = list(own)
                raise ValueError(f'setWeights: unknown weight "{name}" (this model has {len(known)} weights: {", ".join(known[:8])}{", ..." if len(known) > 8 else ""})')
            if tuple(t.shape) != tuple(own[name].shape):
                raise ValueError(f'setWeights: weight "{name}" has shape [{", ".join(map(str, t.shape))}], the model expects [{", ".join(map(str, own[name].shape))}]')
            if t.dtype != torch.float32:
                raise ValueError(f'setWeights: weight "{name}" has dtype {t.dtype}, expected float32')
        if not partial:
            missing = [n for n in own if n not in given]
            if missing:
                raise ValueError(f"setWeights: missing weights {', '.join(repr(n) for n in missing[:8])}{', ...' if len(missing) > 8 else ''} (pass partial=True to set a subset)")
        for name, t in given.items():
            own[name].copy_(t)

    def get_router_states(self) -> dict[str, Any]:
        return {f"blocks.{i}": b.router.get_state() for i, b in enumerate(self.blocks) if b.router is not None and b.router.has_state}

    def set_router_states(self, states: dict[str, Any]) -> None:
        for name, state in states.items():
            parts = name.split(".")
            i = int(parts[1]) if len(parts) == 2 and parts[0] == "blocks" and parts[1].isdigit() else -1
            blk = self.blocks[i] if 0 <= i < len(self.blocks) else None
            if blk is None or blk.router is None or not blk.router.has_state:
                raise ValueError(f"setRouterStates: {name} has no router with state (routers with state: {', '.join(self.get_router_states()) or 'none'})")
            blk.router.set_state(state)

    def to_json(self) -> dict:
        """The model config as given (JSON)."""
        import json
        return json.loads(json.dumps(self._raw))

    def create_cache(self) -> KVCache:
        return KVCache(self.config.n_layers)

    # -- forward -------------------------------------------------------------------------------
    def forward(self, tokens: torch.Tensor, routing: str = "topk", causal: str | None = None, cache: KVCache | None = None,
                logits: str = "all", trace: bool = False, observe: Callable[[dict], None] | None = None) -> ForwardResult:
        """tokens [B, S] -> logits [B, S, V] ("last": [B, 1, V]), summed weighted aux losses, traces.
        Top-k: a routed block processes k = routed_tokens(capacity, S) tokens per sequence; causal:
        those its router's causal rule picks. With `cache` the tokens continue the cached sequences."""
        c = self.config
        if routing not in ("topk", "causal"):
            raise ValueError(f'routing: must be "topk" or "causal" (got {routing!r})')
        if causal is not None and causal not in ("threshold", "predictor"):
            raise ValueError(f'causal: must be "threshold" or "predictor" (got {causal!r})')
        if cache is not None:
            if routing != "causal" and (c.routing.blocks or c.experts is not None):
                raise ValueError('forward: a KV cache needs routing: "causal" (top-k routing looks at the whole sequence)')
            if cache.n_layers != c.n_layers:
                raise ValueError(f"forward: the cache has {cache.n_layers} blocks, the model {c.n_layers}; make it with model.create_cache()")
        start = cache.position if cache is not None else 0
        b, s = self._check_tokens(tokens, "tokens", start)
        if cache is not None and cache.batch is not None and cache.batch != b:
            raise ValueError(f"forward: the cache holds {cache.batch} sequences, tokens have {b} rows")
        x = self.tok_emb[tokens.long()]  # [B, S, d]
        if c.family == "gpt2":
            x = x + self.pos_emb[start:start + s]
        aux: dict[str, torch.Tensor] = {}
        traces: list[dict] = []
        expert_traces: list[dict] = []
        entries: list[KeyValues | None] = []
        for i, blk in enumerate(self.blocks):
            past = cache.entries[i] if cache is not None else None
            x, a, tr, kv, etr = blk(x, mode=routing, causal=causal, start=start, past=past, trace=trace, observe=observe,
                               rope=(self.rope_cos, self.rope_sin) if c.family == "llama" else None)
            for name, v in a.items():
                aux[name] = aux[name] + v if name in aux else v
            if tr is not None:
                traces.append(tr)
            if etr is not None:
                expert_traces.append(etr)
            entries.append(kv)
        if logits == "last" and s > 1:
            x = x[:, -1:, :]
        h = self.final_norm(x)
        out = h @ self.tok_emb.t() if c.tie_embeddings else h @ self.head.w  # [B, S, V]
        if cache is not None:  # commit only after the whole call succeeded
            cache.entries = entries
            cache.batch = b
            cache.position += s
        return ForwardResult(out, aux, traces, expert_traces)

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor, routing: str = "topk", causal: str | None = None,
             observe: Callable[[dict], None] | None = None) -> LossResult:
        """lm = mean next-token NLL over all B*S tokens; aux = sum of weighted router losses; total = lm + aux."""
        b, s = self._check_tokens(inputs, "inputs")
        if tuple(targets.shape) != (b, s):
            raise ValueError(f"targets: expected shape [{b}, {s}] like inputs, got [{', '.join(map(str, targets.shape))}]")
        out = self.forward(inputs, routing=routing, causal=causal, observe=observe)
        lm = F.cross_entropy(out.logits.reshape(b * s, -1).float(), targets.reshape(b * s).long())
        aux = sum(out.aux_losses.values(), torch.zeros((), device=lm.device))
        return LossResult(lm + aux, lm, aux)

    def _check_tokens(self, tokens: torch.Tensor, what: str, start: int = 0) -> tuple[int, int]:
        if tokens.dim() != 2:
            raise ValueError(f"{what}: expected [B, S] int, got shape [{', '.join(map(str, tokens.shape))}]")
        b, s = tokens.shape
        ctx = self.config.context_length
        if start + s > ctx:
            raise ValueError(f"{what}: {s} new tokens after the {start} cached ones exceed contextLength {ctx}" if start
                             else f"{what}: sequence length {s} exceeds contextLength {ctx}")
        if b < 1 or s < 1:
            raise ValueError(f"{what}: empty batch or sequence (shape [{b}, {s}])")
        return b, s


def _rates(tp: int, fp: int, fn: int, tn: int) -> dict[str, float]:
    n = tp + fp + fn + tn
    div = lambda a, b: a / b if b else math.nan  # noqa: E731 - NaN where undefined, as in TypeScript
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "accuracy": div(tp + tn, n), "precision": div(tp, tp + fp), "recall": div(tp, tp + fn),
            "routedFraction": div(tp + fp, n), "targetFraction": div(tp + fn, n)}


class RoutingAgreementCounter:
    """How well the causal decision agrees with top-k on the SAME block input (method section 3),
    per routed block, pooled over passes: pass `counter.observe` as forward's or loss's `observe`
    (routing "topk"), then read blocks() / total() (TS RoutingAgreementCounter, same fields)."""

    def __init__(self) -> None:
        self.parts: dict[int, list[tuple[int, int, int, int]]] = {}

    def observe(self, o: dict) -> None:
        if o["topk"] is None:
            return
        selected = o["causal"]["selected"]  # [B, S] bool
        target = torch.zeros_like(selected).scatter(1, o["topk"]["positions"], True)  # [B, S] per row
        tp = int((selected & target).sum())
        fp = int((selected & ~target).sum())
        fn = int((~selected & target).sum())
        tn = int((~selected & ~target).sum())
        self.parts.setdefault(o["layer"], []).append((tp, fp, fn, tn))

    def blocks(self) -> list[dict]:
        return [{"layer": layer, **_rates(*map(sum, zip(*parts)))} for layer, parts in sorted(self.parts.items())]

    def total(self) -> dict:
        allp = [p for parts in self.parts.values() for p in parts]
        return {"layer": -1, **_rates(*(map(sum, zip(*allp)) if allp else (0, 0, 0, 0)))}


@torch.no_grad()
def causal_routing_agreement(model: Transformer, tokens: torch.Tensor, causal: str | None = None) -> dict:
    """Teacher forcing over tokens [B, S]: one top-k forward that also takes the causal decision at
    every routed block; {"blocks": per block, "total": pooled (layer -1)}."""
    counter = RoutingAgreementCounter()
    model(tokens, routing="topk", causal=causal, observe=counter.observe)
    return {"blocks": counter.blocks(), "total": counter.total()}


def create_transformer(config: Any, seed: int = 0) -> Transformer:
    return Transformer(config, seed=seed)


def from_weights(config: Any, weights: dict[str, Any], seed: int = 0) -> Transformer:
    model = Transformer(config, seed=seed)
    model.set_weights(weights)
    return model
