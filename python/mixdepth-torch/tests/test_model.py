"""The twin's model API beyond parity: the router registry (custom kinds, like registerRouter),
errors that name the bad input, module plumbing (.to(), state_dict names = TS names)."""
from __future__ import annotations

import math

import pytest
import torch

from mixdepth_torch.config import ConfigError
from mixdepth_torch.model import (
    LearnedRouter,
    RouteResult,
    Router,
    RouterContext,
    Transformer,
    list_routers,
    model_weight_shapes,
    register_builtin_routers,
    register_router,
    topk_positions,
    unregister_router,
)

CFG = {"vocabSize": 20, "dModel": 8, "nHeads": 2, "nLayers": 3, "contextLength": 10, "routing": {"capacity": 0.3}}


class HalfScores(LearnedRouter):
    """A custom router: the learned one with its scores halved (a kind of its own)."""

    kind = "half"

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        return super().scores(x) * 0.5


@pytest.fixture()
def half():
    register_router("half", HalfScores, weight_shapes=lambda c: {"w": (c.d_model, 1), "predictor.w1": (c.d_model, c.predictor["hidden"]),
                                                                    "predictor.b1": (c.predictor["hidden"],), "predictor.w2": (c.predictor["hidden"], 1), "predictor.b2": (1,)})
    yield
    unregister_router("half")


def test_a_custom_router_kind_runs_through_the_registry(half) -> None:  # noqa: ANN001
    model = Transformer({**CFG, "routing": {"capacity": 0.3, "router": "half", "predictor": {}}}, seed=1)
    ref = Transformer(CFG, seed=1)
    assert list(model.named_weights()) == list(ref.named_weights())
    x = torch.randint(0, 20, (2, 10))
    with torch.no_grad():
        s = model.blocks[1].router.scores(model.tok_emb[x])
        s_ref = ref.blocks[1].router.scores(ref.tok_emb[x])
    assert torch.allclose(s, 0.5 * s_ref)
    assert "half" in list_routers() and model_weight_shapes({**CFG, "routing": {"router": "half", "predictor": {}}})[1] == []


def test_registry_errors_name_the_kind() -> None:
    register_builtin_routers()
    with pytest.raises(ValueError, match='router kind "learned" is already registered'):
        register_router("learned", LearnedRouter)
    with pytest.raises(ConfigError, match=r"routing\.router: unknown router kind; registered: learned, stochastic \(got \"nope\"\)"):
        Transformer({**CFG, "routing": {"router": "nope"}})
    register_router("liar", lambda c: LearnedRouter(c), weight_shapes=lambda c: {"w": (c.d_model, 2)})
    try:
        with pytest.raises(ValueError, match='router factory for "liar" returned a router of kind "learned"'):
            Transformer({**CFG, "routing": {"router": "liar"}})
    finally:
        unregister_router("liar")
    with pytest.raises(ConfigError, match=r"routing\.routerOptions\.initstd: unknown option of the learned router"):
        Transformer({**CFG, "routing": {"routerOptions": {"initstd": 1}}})


def test_a_router_without_declared_shapes_is_loosely_checked() -> None:
    class Plain(Router):
        kind = "plain"

        def __init__(self, ctx: RouterContext) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(ctx.d_model, 1))

        def route(self, x: torch.Tensor, k: int) -> RouteResult:
            s = (x @ self.w).squeeze(-1)
            return RouteResult(s, topk_positions(s, k), {})

    register_router("plain", Plain)
    try:
        shapes, undeclared = model_weight_shapes({**CFG, "routing": {"router": "plain"}})
        assert undeclared == [1] and not any(".router." in n for n in shapes)
        m = Transformer({**CFG, "routing": {"router": "plain"}})
        assert "blocks.1.router.w" in m.named_weights()
        out = m(torch.randint(0, 20, (1, 10)))
        assert out.aux_losses == {}
    finally:
        unregister_router("plain")


def test_topk_takes_exactly_k_with_all_equal_scores() -> None:
    s = torch.zeros(2, 7)
    assert topk_positions(s, 3).tolist() == [[0, 1, 2], [0, 1, 2]]
    s = torch.tensor([[1.0, 3.0, 3.0, 2.0, 3.0]])
    assert topk_positions(s, 2).tolist() == [[1, 2]]
    with pytest.raises(ValueError, match=r"k: must be an integer in \[1, 5\] \(got 0\)"):
        topk_positions(s, 0)


def test_forward_errors_name_the_problem() -> None:
    m = Transformer(CFG, seed=0)
    with pytest.raises(ValueError, match="sequence length 11 exceeds contextLength 10"):
        m(torch.zeros(1, 11, dtype=torch.long))
    c = m.create_cache()
    with pytest.raises(ValueError, match='a KV cache needs routing: "causal"'):
        m(torch.zeros(1, 3, dtype=torch.long), cache=c)
    m(torch.zeros(1, 8, dtype=torch.long), routing="causal", cache=c)
    with pytest.raises(ValueError, match="3 new tokens after the 8 cached ones exceed contextLength 10"):
        m(torch.zeros(1, 3, dtype=torch.long), routing="causal", cache=c)
    with pytest.raises(ValueError, match="the cache holds 1 sequences, tokens have 2 rows"):
        m(torch.zeros(2, 1, dtype=torch.long), routing="causal", cache=c)
    assert c.position == 8  # failed calls changed nothing
    with pytest.raises(ValueError, match=r'setWeights: weight "tok_emb" has shape \[3, 8\], the model expects \[20, 8\]'):
        m.set_weights({"tok_emb": torch.zeros(3, 8)}, partial=True)
    with pytest.raises(ValueError, match='setWeights: unknown weight "nope"'):
        m.set_weights({"nope": torch.zeros(1)}, partial=True)
    with pytest.raises(ValueError, match="setWeights: missing weights"):
        m.set_weights({"tok_emb": torch.zeros(20, 8)})
    with pytest.raises(ValueError, match="setRouterStates: blocks.1 has no router with state"):
        m.set_router_states({"blocks.1": {"rng": 1}})


def test_module_plumbing_uses_the_typescript_names() -> None:
    m = Transformer({**CFG, "family": "gpt2", "tieEmbeddings": False}).to(torch.float64).to(torch.float32)
    assert set(m.state_dict()) == set(m.named_weights())
    assert set(dict(m.named_parameters())) == set(m.named_weights())
    m.train()
    loss = m.loss(torch.randint(0, 20, (2, 9)), torch.randint(0, 20, (2, 9)))
    assert math.isfinite(float(loss.total)) and float(loss.aux) > 0
    loss.total.backward()
    assert all(p.grad is not None for n, p in m.named_weights().items() if n != "pos_emb")


def test_stochastic_router_state_round_trips_and_continues() -> None:
    cfg = {**CFG, "routing": {"router": "stochastic", "capacity": 0.5, "blocks": "all"}}
    m = Transformer(cfg, seed=4)
    x = torch.randint(0, 20, (2, 10))
    s0 = m.get_router_states()
    with torch.no_grad():
        a = m(x, routing="causal").logits
        m.set_router_states(s0)
        b = m(x, routing="causal").logits
        c = m(x, routing="causal").logits
    assert torch.equal(a, b) and not torch.equal(b, c)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_bf16_autocast_and_float64_run_the_same_model(family: str) -> None:
    cfg = {**CFG, "family": family, "nLayers": 4, "routing": {"capacity": 0.3}}
    m = Transformer(cfg, seed=2)
    x = torch.randint(0, 20, (2, 10))
    with torch.no_grad():
        ref = m(x).logits
        with torch.autocast("cpu", dtype=torch.bfloat16):  # what train.py uses on GPU
            low = m(x).logits
            cache = m.create_cache()
            m(x[:, :6], routing="causal", cache=cache)
            step = m(x[:, 6:7], routing="causal", cache=cache).logits
        assert low.dtype == torch.bfloat16 and step.shape == (2, 1, 20)
        assert float((low.float() - ref).abs().max()) < 0.05
        hi = Transformer(cfg, seed=2).double()(x).logits
    assert hi.dtype == torch.float64 and float((hi - ref.double()).abs().max()) < 1e-5
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = m.loss(x, x)
    loss.total.backward()
    assert m.blocks[1].router.w.grad is not None


# -- MoE / MoDE MLPs (docs/method.md section 6) ------------------------------------------------

MOE = {"vocabSize": 20, "dModel": 8, "nHeads": 2, "nLayers": 2, "contextLength": 10}


def test_a_token_no_real_expert_took_passes_the_mlp_unchanged() -> None:
    m = Transformer({**MOE, "experts": {"count": 2, "noop": 2, "capacity": 0.2}}, seed=3)
    h = torch.randn(2, 10, 8)
    with torch.no_grad():
        out, aux, processed = m.blocks[0].mlp(h, "topk")
    taken = {(r, j) for rows in processed for r, row in enumerate(rows) for j in row}
    assert len(taken) < 20 and all(len(row) == 2 for rows in processed for row in rows)  # k = round(0.2 * 10) per expert
    for r in range(2):
        for j in range(10):
            assert (r, j) in taken or torch.equal(out[r, j], torch.zeros(8))  # exactly 0: x + a, bit for bit
    assert set(aux) == {"experts_bce"}


def test_one_expert_at_full_capacity_is_the_dense_block_bit_for_bit() -> None:
    for family in ("gpt2", "llama"):
        dense = Transformer({**MOE, "family": family}, seed=4)
        moe = Transformer({**MOE, "family": family, "experts": {"count": 1}}, seed=4)
        w = {n.replace("mlp.experts.0.", "mlp."): p for n, p in moe.named_weights().items() if ".mlp.router." not in n}
        dense.set_weights({n: w[n].detach().clone() for n in dense.named_weights()})
        x = torch.randint(0, 20, (2, 9))
        with torch.no_grad():
            assert torch.equal(moe(x).logits, dense(x).logits)


def test_moe_errors_and_the_predictor_never_bends_the_lm() -> None:
    m = Transformer({**MOE, "experts": {"noop": 1, "predictor": {}}}, seed=5)
    with pytest.raises(ValueError, match='a KV cache needs routing: "causal"'):
        m(torch.zeros(1, 3, dtype=torch.long), cache=m.create_cache())
    with pytest.raises(ValueError, match="takes no padded tokens"):
        m.blocks[0].mlp(torch.zeros(1, 3, 8), "topk", torch.ones(1, 3, dtype=torch.bool))
    x = torch.randint(0, 20, (2, 10))
    out = m(x)
    out.aux_losses["experts_predictor_bce"].backward(retain_graph=True)
    assert m.blocks[0].mlp.router.w.grad is None and m.tok_emb.grad is None and m.blocks[0].mlp.predictor.w1.grad.abs().sum() > 0
    m.zero_grad(set_to_none=True)
    F = torch.nn.functional
    F.cross_entropy(out.logits.reshape(20, -1), x.reshape(20)).backward()
    assert m.blocks[0].mlp.predictor.w1.grad is None and m.blocks[0].mlp.router.w.grad.abs().sum() > 0  # the gate carries the LM loss


@pytest.mark.parametrize("routing", ["expert-choice", "token-choice"])
def test_moe_in_bf16_autocast_and_float64(routing: str) -> None:
    cfg = {**MOE, "routing": {"blocks": [1], "capacity": 0.5}, "experts": {"routing": routing, "count": 3, "noop": 1, "capacity": 0.4, "zLoss": {"weight": 0.01}}}
    m = Transformer(cfg, seed=6)
    x = torch.randint(0, 20, (2, 10))
    with torch.no_grad():
        ref = m(x).logits
        hi = Transformer(cfg, seed=6).double()(x).logits
        with torch.autocast("cpu", dtype=torch.bfloat16):
            cache = m.create_cache()
            m(x[:, :6], routing="causal", cache=cache)
            step = m(x[:, 6:7], routing="causal", cache=cache).logits
    assert hi.dtype == torch.float64 and float((hi - ref.double()).abs().max()) < 1e-5 and step.shape == (2, 1, 20)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = m.loss(x, x)
    loss.total.backward()
    assert m.blocks[0].mlp.router.w.grad is not None and m.blocks[1].mlp.experts[0].gate.w.grad is not None
