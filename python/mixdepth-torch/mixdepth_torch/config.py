"""The model configuration: the TypeScript `ModelConfig` JSON, resolved exactly as
@mixdepth/core's `resolveModelConfig` does (same defaults, same checks in the same order, same
messages). tests/test_config.py compares both on configs the TypeScript side resolves.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

# core's MODEL_LIMITS: upper bounds of a config's sizes, checked by resolve_model_config; the
# checkpoint reader's model bounds are these (checkpoint.CHECKPOINT_LIMITS spreads them).
MODEL_LIMITS: dict[str, int] = {
    "maxVocabSize": 1 << 20,
    "maxDModel": 16_384,
    "maxMlpHidden": 65_536,
    "maxLayers": 10_000,
    "maxContextLength": 65_536,
}
MAX_LAYERS = MODEL_LIMITS["maxLayers"]
MODEL_KEYS = ("vocabSize", "dModel", "nHeads", "nLayers", "contextLength", "family", "mlpHidden", "tieEmbeddings", "normEps", "ropeBase", "routing", "experts")
ROUTING_KEYS = ("blocks", "capacity", "router", "routerOptions", "auxLoss", "predictor", "causal", "capacityWarmup", "train", "threshold")
# Router kinds whose routing.predictor is on when the config does not set it (core's PREDICTOR_BY_DEFAULT).
PREDICTOR_BY_DEFAULT = frozenset({"learned", "stochastic"})
EXPERTS_KEYS = ("blocks", "count", "noop", "capacity", "hidden", "routing", "auxLoss", "balanceLoss", "predictor", "causal", "zLoss")


class _Undefined:
    """JavaScript's undefined (a field absent from an object), for messages equal to the TS ones."""

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED = _Undefined()


def format_value(v: Any) -> str:
    """JavaScript's String(number) / JSON.stringify(value), for messages equal to the TS ones."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return _js_number(v)
    if v is UNDEFINED:
        return "undefined"
    if v is None:
        return "null"
    try:
        return js_json(v)
    except TypeError:
        return str(v)


def _js_number(v: float) -> str:
    """JavaScript's Number.prototype.toString (ECMA-262 Number::toString): the shortest round-trip
    digits (what Python's repr finds too), laid out by JavaScript's rules (1e-7, 0.000001, 1e+21)."""
    if isinstance(v, int):
        v = float(v) if abs(v) >= 2**53 else v
        if isinstance(v, int):
            return str(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if v == 0:
        return "0"
    sign = "-" if v < 0 else ""
    r = repr(abs(v))
    mant, _, exp = r.partition("e")
    ip, _, fp = mant.partition(".")
    digits = (ip + fp).lstrip("0")
    n = len(ip.lstrip("0")) + (int(exp) if exp else 0)  # decimal point position
    if not ip.lstrip("0"):  # 0.000ddd
        n = -(len(fp) - len(fp.lstrip("0"))) + (int(exp) if exp else 0)
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    m = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{m}e{'+' if e >= 0 else '-'}{abs(e)}"


def js_json(v: Any, indent: int | None = None, _level: int = 0) -> str:
    """JSON.stringify(v, null, indent): the exact text TypeScript writes (numbers included)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return "null" if isinstance(v, float) and not math.isfinite(v) else _js_number(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    pad = "" if indent is None else "\n" + " " * (indent * (_level + 1))
    end = "" if indent is None else "\n" + " " * (indent * _level)
    sep = ":" if indent is None else ": "
    if isinstance(v, (list, tuple)):
        if not v:
            return "[]"
        return "[" + ",".join(pad + js_json(x, indent, _level + 1) for x in v) + end + "]"
    if isinstance(v, dict):
        if not v:
            return "{}"
        return "{" + ",".join(pad + json.dumps(str(k), ensure_ascii=False) + sep + js_json(x, indent, _level + 1) for k, x in v.items()) + end + "}"
    raise TypeError(f"not JSON: {v!r}")


def _js_json(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return int(v)
    if isinstance(v, dict):
        return {k: _js_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_js_json(x) for x in v]
    return v


class ConfigError(ValueError):
    """A bad config field: `field` is the dotted path, `value` the bad value (TS ConfigError)."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        super().__init__(f"{field}: {reason} (got {format_value(value)})")
        self.field = field
        self.value = value
        self.reason = reason


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _positive_int(field: str, v: Any) -> int:
    if not _is_number(v) or not math.isfinite(v) or v != math.floor(v) or v <= 0:
        raise ConfigError(field, v, "must be a positive integer")
    return int(v)


def _finite_non_negative(field: str, v: Any) -> float:
    if not _is_number(v) or not math.isfinite(v) or v < 0:
        raise ConfigError(field, v, "must be a finite number >= 0")
    return v


def js_round(x: float) -> int:
    """Math.round: halves round toward +infinity (Python's round() rounds halves to even)."""
    r = math.floor(x)
    return int(r + 1 if x - r >= 0.5 else r)


def routed_tokens(capacity: float, seq_len: int) -> int:
    """k = min(S, max(1, round(c * S))) (method section 1; routedTokens in @mixdepth/core)."""
    return min(seq_len, max(1, js_round(capacity * seq_len)))


def _resolve_blocks(blocks: Any, n_layers: int) -> tuple[int, ...]:
    if blocks == "none":
        return ()
    if blocks == "all":
        return tuple(range(n_layers))
    if blocks == "every-other":
        return tuple(i for i in range(n_layers) if i % 2 == 1)
    if isinstance(blocks, list):
        seen: list[int] = []
        for j, b in enumerate(blocks):
            if not _is_number(b) or not math.isfinite(b) or b != math.floor(b) or b < 0 or b >= n_layers:
                raise ConfigError(f"routing.blocks[{j}]", b, f"must be an integer block index in [0, {n_layers - 1}]")
            if int(b) in seen:
                raise ConfigError(f"routing.blocks[{j}]", b, "is listed twice")
            seen.append(int(b))
        return tuple(sorted(seen))
    raise ConfigError("routing.blocks", blocks, 'must be "none", "every-other", "all" or a list of block indices')


def _resolve_experts(e: Any, n_layers: int, mlp_hidden: int, d_model: int) -> "Experts | None":
    """core's resolveExperts: defaults and checks of model.experts, in the TS order."""
    if e is None:
        return None
    try:
        blocks = _resolve_blocks("all" if e.get("blocks") is None else e["blocks"], n_layers)
    except ConfigError as err:
        raise ConfigError(err.field.replace("routing.", "experts.", 1) if err.field.startswith("routing.") else err.field, err.value, err.reason) from None
    count = 4 if "count" not in e else _positive_int("experts.count", e["count"])
    noop = e.get("noop")
    noop = 0 if noop is None else noop
    if not _is_number(noop) or not math.isfinite(noop) or noop != math.floor(noop) or noop < 0:
        raise ConfigError("experts.noop", noop, "must be an integer >= 0")
    cap = e.get("capacity")
    cap = 1 / count if cap is None else cap
    if not _is_number(cap) or not (0 < cap <= 1):
        raise ConfigError("experts.capacity", cap, "must be in (0, 1]")
    hidden = mlp_hidden if "hidden" not in e else _positive_int("experts.hidden", e["hidden"])
    routing = e.get("routing")
    routing = "expert-choice" if routing is None else routing
    if routing not in ("expert-choice", "token-choice"):
        raise ConfigError("experts.routing", routing, 'must be "expert-choice" or "token-choice"')
    token_choice = routing == "token-choice"
    # checkObject let only objects, null and absent through: "truthy" is an object here
    if token_choice and isinstance(e.get("auxLoss"), dict):
        raise ConfigError("experts.auxLoss", e["auxLoss"], 'applies to routing "expert-choice" only (token choice is causal already)')
    if not token_choice and isinstance(e.get("balanceLoss"), dict):
        raise ConfigError("experts.balanceLoss", e["balanceLoss"], 'applies to routing "token-choice" only (expert choice is balanced by construction)')

    def weighted(key: str, default: float) -> dict | None:
        w = (e.get(key) or {}).get("weight")
        return {"weight": _finite_non_negative(f"experts.{key}.weight", default if w is None else w)}

    aux = None if token_choice or ("auxLoss" in e and e["auxLoss"] is None) else weighted("auxLoss", 0.01)
    balance = None if not token_choice or ("balanceLoss" in e and e["balanceLoss"] is None) else weighted("balanceLoss", 0.01)
    if token_choice and isinstance(e.get("predictor"), dict):
        raise ConfigError("experts.predictor", e["predictor"], 'applies to routing "expert-choice" only (token choice is causal already)')
    p_in = e.get("predictor")
    if p_in is None:
        pred = None
    else:
        ph = max(1, d_model // 2) if "hidden" not in p_in else _positive_int("experts.predictor.hidden", p_in["hidden"])
        pw = p_in.get("weight")
        pred = {"hidden": ph, "weight": _finite_non_negative("experts.predictor.weight", 1 if pw is None else pw)}
    causal = e.get("causal")
    causal = ("predictor" if pred else "threshold") if causal is None else causal
    if causal not in ("threshold", "predictor"):
        raise ConfigError("experts.causal", causal, 'must be "threshold" or "predictor"')
    if causal == "predictor" and not pred:
        raise ConfigError("experts.causal", causal, "needs experts.predictor (it is null)")
    z_in = e.get("zLoss")
    z = None if z_in is None else {"weight": _finite_non_negative("experts.zLoss.weight", z_in.get("weight", UNDEFINED))}
    return Experts(blocks, count, int(noop), cap, hidden, routing, aux, balance, pred, causal, z)


def _check_keys(field: str, value: dict, known: tuple[str, ...]) -> None:
    for key in value:
        if key not in known:
            path = f"{field}.{key}" if field else key
            raise ConfigError(path, value[key], f"unknown field (known: {', '.join(known)})")


def _check_object(field: str, value: Any, known: tuple[str, ...]) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise ConfigError(field, value, "must be an object")
    _check_keys(field, value, known)


@dataclass(frozen=True)
class Routing:
    blocks: tuple[int, ...]
    capacity: float
    router: str
    router_options: dict
    aux_loss: dict | None  # {"weight": w}
    predictor: dict | None  # {"hidden": p, "weight": w}
    causal: str  # "threshold" | "predictor"


@dataclass(frozen=True)
class Experts:
    """model.experts resolved (core's ResolvedExperts; docs/method.md section 6)."""

    blocks: tuple[int, ...]
    count: int  # E real expert MLPs
    noop: int  # N no-op experts: router columns without an MLP
    capacity: float  # per REAL expert: k_e = routed_tokens(capacity, T)
    hidden: int
    routing: str  # "expert-choice" | "token-choice"
    aux_loss: dict | None  # expert choice: BCE of the logits against membership
    balance_loss: dict | None  # token choice: Switch balancing loss
    predictor: dict | None  # expert choice: {"hidden", "weight"}
    causal: str  # "threshold" | "predictor"
    z_loss: dict | None

    def to_ts(self) -> dict:
        return {"blocks": list(self.blocks), "count": self.count, "noop": self.noop, "capacity": self.capacity, "hidden": self.hidden,
                "routing": self.routing, "auxLoss": self.aux_loss, "balanceLoss": self.balance_loss, "predictor": self.predictor,
                "causal": self.causal, "zLoss": self.z_loss}


@dataclass(frozen=True)
class Layer:
    index: int
    routed: bool
    capacity: float


@dataclass(frozen=True)
class ResolvedModelConfig:
    vocab_size: int
    d_model: int
    n_heads: int
    head_dim: int
    n_layers: int
    context_length: int
    family: str
    mlp_hidden: int
    mlp_kind: str
    tie_embeddings: bool
    norm_eps: float
    rope_base: float
    routing: Routing
    experts: Experts | None
    layers: tuple[Layer, ...]
    raw: dict = field(compare=False, repr=False)

    def experts_at(self, index: int) -> Experts | None:
        """The MoE MLP of block `index`, or None when that block's MLP is dense (core's expertsAt)."""
        e = self.experts
        return e if e is not None and index in e.blocks else None

    def to_ts(self) -> dict:
        """The resolved config in TypeScript's field names (what resolveModelConfig returns)."""
        r = self.routing
        return {
            "vocabSize": self.vocab_size, "dModel": self.d_model, "nHeads": self.n_heads, "headDim": self.head_dim,
            "nLayers": self.n_layers, "contextLength": self.context_length, "family": self.family,
            "mlpHidden": self.mlp_hidden, "mlpKind": self.mlp_kind, "tieEmbeddings": self.tie_embeddings,
            "normEps": self.norm_eps, "ropeBase": self.rope_base,
            "routing": {"blocks": list(r.blocks), "capacity": r.capacity, "router": r.router, "routerOptions": dict(r.router_options),
                        "auxLoss": r.aux_loss, "predictor": r.predictor, "causal": r.causal},
            "experts": self.experts.to_ts() if self.experts is not None else None,
            "layers": [{"index": l.index, "routed": l.routed, "capacity": l.capacity} for l in self.layers],
        }


def _bounded_int(field_name: str, v: Any, key: str) -> int:
    """A positive integer of at most MODEL_LIMITS[key] (core's boundedInt)."""
    n = _positive_int(field_name, v)
    if n > MODEL_LIMITS[key]:
        raise ConfigError(field_name, n, f"must be at most {MODEL_LIMITS[key]} (MODEL_LIMITS.{key})")
    return n


def resolve_model_config(config: Any) -> ResolvedModelConfig:
    """Validates a ModelConfig dict and fills every default, in the TS order; raises ConfigError."""
    if isinstance(config, ResolvedModelConfig):
        return config
    if not isinstance(config, dict):
        raise ConfigError("config", config, "must be an object")
    _check_keys("", config, MODEL_KEYS)
    routing_in = config.get("routing")
    _check_object("routing", routing_in, ROUTING_KEYS)
    _check_object("routing.auxLoss", (routing_in or {}).get("auxLoss"), ("weight",))
    _check_object("routing.predictor", (routing_in or {}).get("predictor"), ("hidden", "weight"))
    experts_in = config.get("experts")
    _check_object("experts", experts_in, EXPERTS_KEYS)
    for key, known in (("auxLoss", ("weight",)), ("balanceLoss", ("weight",)), ("predictor", ("hidden", "weight")), ("zLoss", ("weight",))):
        _check_object(f"experts.{key}", (experts_in or {}).get(key), known)
    vocab = _bounded_int("vocabSize", config.get("vocabSize"), "maxVocabSize")
    d = _bounded_int("dModel", config.get("dModel"), "maxDModel")
    heads = _positive_int("nHeads", config.get("nHeads"))
    if d % heads != 0:
        raise ConfigError("nHeads", config.get("nHeads"), f"must divide dModel={d}")
    hd = d // heads
    n_layers = _bounded_int("nLayers", config.get("nLayers"), "maxLayers")
    ctx = _bounded_int("contextLength", config.get("contextLength"), "maxContextLength")
    family = config.get("family")
    family = "llama" if family is None else family
    if family not in ("gpt2", "llama"):
        raise ConfigError("family", family, 'must be "gpt2" or "llama"')
    if family == "llama" and hd % 2 != 0:
        raise ConfigError("nHeads", config.get("nHeads"), f"gives an odd head size {hd}; rotary embeddings need an even one")
    if config.get("mlpHidden") is None and "mlpHidden" not in config:
        mlp = 4 * d if family == "gpt2" else math.ceil(8 * d / 3 / 8) * 8
    else:
        mlp = _bounded_int("mlpHidden", config.get("mlpHidden"), "maxMlpHidden")
    tie = config.get("tieEmbeddings")
    tie = True if tie is None else tie
    if not isinstance(tie, bool):
        raise ConfigError("tieEmbeddings", tie, "must be a boolean")
    eps = config.get("normEps")
    eps = 1e-5 if eps is None else eps
    if not _is_number(eps) or not (eps > 0):
        raise ConfigError("normEps", eps, "must be a number > 0")
    rope = config.get("ropeBase")
    rope = 10000 if rope is None else rope
    if not _is_number(rope) or not (rope > 1):
        raise ConfigError("ropeBase", rope, "must be a number > 1")

    r = routing_in if routing_in is not None else {"blocks": "none"}
    # core's follow-up routing options (capacity warm-up, threshold-p training) are not in this twin yet:
    # refuse rather than train something else.
    for key, off in (("capacityWarmup", None), ("train", "topk"), ("threshold", None)):
        if r.get(key) is not None and r.get(key) != off:
            raise ConfigError(f"routing.{key}", r.get(key), "is not supported by the PyTorch twin yet (it trains with the TypeScript engine)")
    blocks_in = r.get("blocks")
    blocks = _resolve_blocks("every-other" if blocks_in is None else blocks_in, n_layers)
    cap = r.get("capacity")
    cap = 0.125 if cap is None else cap
    if not _is_number(cap) or not (0 < cap <= 1):
        raise ConfigError("routing.capacity", cap, "must be in (0, 1]")
    router = r.get("router")
    router = "learned" if router is None else router
    if not isinstance(router, str) or len(router) == 0:
        raise ConfigError("routing.router", router, "must be a router kind name")
    opts = r.get("routerOptions")
    opts = {} if opts is None else opts
    if not isinstance(opts, dict):
        raise ConfigError("routing.routerOptions", opts, "must be an object")
    for key in ("__proto__", "constructor", "prototype"):
        if key in opts:
            raise ConfigError(f"routing.routerOptions.{key}", opts[key], "is not allowed as an option name")
    aux_in = r.get("auxLoss", {}) if "auxLoss" in r else None
    if "auxLoss" in r and aux_in is None:
        aux = None
    else:
        w = (aux_in or {}).get("weight")
        aux = {"weight": _finite_non_negative("routing.auxLoss.weight", 0.01 if w is None else w)}
    if ("predictor" in r and r["predictor"] is None) or ("predictor" not in r and router not in PREDICTOR_BY_DEFAULT):
        # Only the built-in kinds get a predictor by default; a custom kind asks with routing.predictor.
        pred = None
    else:
        p_in = r.get("predictor") or {}
        hidden = max(1, d // 2) if "hidden" not in p_in else _bounded_int("routing.predictor.hidden", p_in.get("hidden"), "maxMlpHidden")
        pw = p_in.get("weight")
        pred = {"hidden": hidden, "weight": _finite_non_negative("routing.predictor.weight", 1 if pw is None else pw)}
    causal = r.get("causal")
    causal = ("predictor" if pred else "threshold") if causal is None else causal
    if causal not in ("threshold", "predictor"):
        raise ConfigError("routing.causal", causal, 'must be "threshold" or "predictor"')
    if causal == "predictor" and not pred:
        raise ConfigError("routing.causal", causal, "needs routing.predictor (it is null)")
    experts = _resolve_experts(experts_in, n_layers, mlp, d)
    routed = set(blocks)
    layers = tuple(Layer(i, i in routed, cap if i in routed else 1) for i in range(n_layers))
    return ResolvedModelConfig(
        vocab_size=vocab, d_model=d, n_heads=heads, head_dim=hd, n_layers=n_layers, context_length=ctx, family=family,
        mlp_hidden=mlp, mlp_kind="gelu" if family == "gpt2" else "swiglu", tie_embeddings=tie, norm_eps=eps, rope_base=rope,
        routing=Routing(blocks, cap, router, dict(opts), aux, pred, causal), experts=experts, layers=layers, raw=json.loads(json.dumps(config)),
    )
