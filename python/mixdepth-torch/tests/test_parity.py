"""Parity of the twin against fixtures the TypeScript implementation wrote (scripts/write-fixtures.mjs):
seeded initialisation, top-k logits and aux losses, routing traces (exact ties included), causal
routing (threshold and predictor), cached decoding step logits and cache lengths, the loss and its
gradient w.r.t. every weight, over several batch and sequence shapes, both families, dense and
MoD, learned and stochastic routers (both readings). Tolerance 1e-4 (max abs difference)."""
from __future__ import annotations


import numpy as np
import pytest
import torch

from fixtures_ts import FIXTURES, load_case, record
from mixdepth_torch.model import Transformer, causal_routing_agreement

TOL = 1e-4
CASES = [f"{f}-{v}" for f in ("gpt2", "llama") for v in ("dense", "mod", "mod-threshold", "stochastic-one", "stochastic-noise", "ties")]
CASES += ["gpt2-untied", "llama-rope", "llama-negseed", "gpt2-bigseed"]
MOE_CASES = ["gpt2-mode-integrated", "llama-mode-integrated", "llama-mode-staged", "gpt2-mode-staged", "llama-moe-token-choice",
             "gpt2-moe-token-choice", "gpt2-moe-ties", "llama-moe-ties-token-choice"]
CASES += MOE_CASES
UNROUTED = {"gpt2-mode-integrated", "llama-mode-integrated", "gpt2-moe-token-choice", "gpt2-moe-ties", "llama-moe-ties-token-choice"}  # experts, no MoD router


def test_the_fixture_folder_holds_exactly_these_cases() -> None:
    written = {p.stem for p in FIXTURES.glob("*.json")} - {"config-cases", "adamw_step", "parity-report"}
    written = {w for w in written if not w.startswith("ck-")}
    assert written == set(CASES)


def maxdiff(a: torch.Tensor | np.ndarray, b: np.ndarray) -> float:
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a
    assert a.shape == b.shape, f"shape {a.shape} vs {b.shape}"
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0


def model_of(case: str) -> tuple[Transformer, dict, dict]:
    t, meta = load_case(case)
    model = Transformer(meta["config"], seed=meta["seed"])
    weights = {k[2:]: v for k, v in t.items() if k.startswith("w.")}
    assert list(model.named_weights()) == meta["weightNames"]  # names and their order
    init = max(maxdiff(p, t[f"init.{n}"]) for n, p in model.named_weights().items())
    record(case, "init", init)
    assert init < 1e-6, "the seeded initialisation differs from TypeScript's"
    model.set_weights({n: torch.from_numpy(w) for n, w in weights.items()})
    return model, t, meta


@pytest.mark.parametrize("case", CASES)
def test_forward_topk_and_causal(case: str) -> None:
    model, t, meta = model_of(case)
    with torch.no_grad():
        for call in [c for c in meta["calls"] if c["kind"] == "forward"]:
            model.set_router_states(call["routerStates"])
            routing, _, causal = call["mode"].partition(":")
            tokens = torch.from_numpy(t[f"tokens.{call['shape']}"])
            out = model(tokens, routing=routing, causal=causal or None, trace=True)
            d = maxdiff(out.logits, t[f"logits.{call['mode']}.{call['shape']}"])
            record(case, f"logits.{routing}", d)
            assert d < TOL, f"{call['mode']} shape {tokens.shape}: logits differ by {d}"
            assert sorted(out.aux_losses) == sorted(call["aux"])
            for k, v in call["aux"].items():
                record(case, "aux", abs(float(out.aux_losses[k]) - v))
                assert abs(float(out.aux_losses[k]) - v) < TOL
            assert [(tr["layer"], tr["processed"]) for tr in out.traces] == [(tr["layer"], tr["processed"]) for tr in call["traces"]]
            assert [(tr["layer"], tr["processed"]) for tr in out.expert_traces] == [(tr["layer"], tr["processed"]) for tr in call["experts"]]


@pytest.mark.parametrize("case", CASES)
def test_loss_and_gradients_of_every_weight(case: str) -> None:
    model, t, meta = model_of(case)
    for call in [c for c in meta["calls"] if c["kind"] == "loss"]:
        i = call["shape"]
        model.set_router_states(call["routerStates"])
        model.zero_grad(set_to_none=True)
        loss = model.loss(torch.from_numpy(t[f"loss.inputs.{i}"]), torch.from_numpy(t[f"loss.targets.{i}"]))
        loss.total.backward()
        for k in ("total", "lm", "aux"):
            d = abs(float(getattr(loss, k)) - call[k])
            record(case, "loss", d)
            assert d < TOL, f"{k}: {float(getattr(loss, k))} vs {call[k]}"
        names = list(model.named_weights())
        assert {k[len(f"grad.{i}."):] for k in t if k.startswith(f"grad.{i}.")} == set(names)
        for n, p in model.named_weights().items():
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            d = maxdiff(g, t[f"grad.{i}.{n}"])
            record(case, "grad", d)
            assert d < TOL, f"gradient of {n} differs by {d}"
        # the gradient is not vacuous: some weight has a gradient well above the tolerance
        assert max(float(p.grad.abs().max()) for p in model.parameters() if p.grad is not None) > 100 * TOL


@pytest.mark.parametrize("case", CASES)
def test_cached_decoding_step_logits(case: str) -> None:
    model, t, meta = model_of(case)
    assert len(meta["decode"]) == 2
    for j0, dec in enumerate(meta["decode"]):
        tokens = torch.from_numpy(t[f"decode.{j0}.tokens"])
        model.set_router_states(dec["routerStates"])
        cache = model.create_cache()
        with torch.no_grad():
            for j in range(dec["steps"] + 1):
                chunk = tokens[:, : dec["prompt"]] if j == 0 else tokens[:, dec["prompt"] + j - 1 : dec["prompt"] + j]
                logits = model(chunk, routing="causal", cache=cache, logits="last").logits
                d = maxdiff(logits, t[f"decode.{j0}.logits.{j}"])
                record(case, "decode", d)
                assert d < TOL, f"decode {j0} step {j}: logits differ by {d}"
                assert cache.lengths() == dec["lengths"][j], "per-block cache lengths (the sparse KV cache) differ"
        assert cache.position == dec["prompt"] + dec["steps"]
    assert model.get_router_states() == meta["routerStatesAfter"]


def test_ties_are_exact_and_broken_toward_the_earlier_position() -> None:
    # the ties cases must really contain tied scores in a routed block, or they test nothing
    for case in ("gpt2-ties", "llama-ties"):
        model, t, meta = model_of(case)
        seen = 0
        with torch.no_grad():
            for call in [c for c in meta["calls"] if c["kind"] == "forward" and c["mode"] == "topk"]:
                out = model(torch.from_numpy(t[f"tokens.{call['shape']}"]), trace=True)
                for tr in out.traces:
                    if tr["layer"] != 0:
                        continue
                    for row, processed in zip(tr["scores"], tr["processed"]):
                        kth = sorted(row, reverse=True)[len(processed) - 1]
                        tied = [i for i, s in enumerate(row) if s == kth]
                        if len(tied) > 1 and any(i not in processed for i in tied):
                            seen += 1
                            chosen_tied = [i for i in processed if row[i] == kth]
                            assert chosen_tied == tied[: len(chosen_tied)]
        assert seen > 0, f"{case}: no tie across the top-k boundary"


@pytest.mark.parametrize("case", ["gpt2-moe-ties", "llama-moe-ties-token-choice"])
def test_expert_ties_are_exact_and_broken_toward_the_earlier_position_and_lower_expert(case: str) -> None:
    # block 0's expert router is zero: every p is exactly 1 / (E + N), so every choice is a tie
    model, t, meta = model_of(case)
    e = model.config.experts
    assert not model.blocks[0].mlp.router.w.detach().any()
    with torch.no_grad():
        for call in [c for c in meta["calls"] if c["kind"] == "forward" and c["mode"] == "topk"]:
            b, s = t[f"tokens.{call['shape']}"].shape
            k = min(s, max(1, int(e.capacity * s + 0.5)))
            block0 = [tr for tr in model(torch.from_numpy(t[f"tokens.{call['shape']}"]), trace=True).expert_traces if tr["layer"] == 0][0]
            if e.routing == "expert-choice":  # every expert takes the first k positions
                assert block0["processed"] == [[list(range(k))] * b] * e.count
            else:  # every token's top-1 is expert 0 (lower index); it keeps the first k
                assert block0["processed"] == [[list(range(k))] * b] + [[[]] * b] * (e.count - 1)


@pytest.mark.parametrize("case", [c for c in CASES if not c.endswith("dense") and c not in UNROUTED])
def test_causal_agreement_counts_equal_typescript(case: str) -> None:
    model, t, meta = model_of(case)
    want = meta["agreement"]
    model.set_router_states(want["routerStates"])
    got = causal_routing_agreement(model, torch.from_numpy(t["tokens.3"]))
    for g, w in zip(got["blocks"] + [got["total"]], want["blocks"] + [want["total"]]):
        assert {k: g[k] for k in ("layer", "tp", "fp", "fn", "tn")} == {k: w[k] for k in ("layer", "tp", "fp", "fn", "tn")}
        for k in ("accuracy", "precision", "recall", "routedFraction", "targetFraction"):
            assert (g[k] != g[k] and w[k] is None) or g[k] == pytest.approx(w[k], abs=1e-12)
    assert len(got["blocks"]) == len(model.config.routing.blocks)
