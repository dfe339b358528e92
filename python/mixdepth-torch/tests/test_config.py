"""The Python config parser against @mixdepth/core's resolveModelConfig: the TypeScript side resolved
these configs (scripts/write-fixtures.mjs -> config-cases.json); defaults, validation order and
messages must be the same."""
from __future__ import annotations

import json

import pytest

from fixtures_ts import FIXTURES
from mixdepth_torch.config import ConfigError, resolve_model_config, routed_tokens

CASES = json.loads((FIXTURES / "config-cases.json").read_text())


def test_there_are_valid_and_invalid_cases() -> None:
    assert sum("resolved" in c for c in CASES) >= 15 and sum("error" in c for c in CASES) >= 30
    moe = [c for c in CASES if isinstance(c["config"], dict) and c["config"].get("experts") is not None]
    assert sum("resolved" in c for c in moe) >= 10 and sum(c.get("field", "").startswith("experts") for c in moe) >= 30


@pytest.mark.parametrize("i", range(len(CASES)))
def test_resolves_like_typescript(i: int) -> None:
    case = CASES[i]
    if "resolved" in case:
        assert resolve_model_config(case["config"]).to_ts() == case["resolved"]
    else:
        with pytest.raises(ConfigError) as e:
            resolve_model_config(case["config"])
        assert str(e.value) == case["error"]
        assert e.value.field == case["field"]


def test_routed_tokens_rounds_halves_up_like_math_round() -> None:
    assert routed_tokens(0.125, 20) == 3  # 2.5 -> 3 (Python's round would give 2)
    assert routed_tokens(0.5, 5) == 3  # 2.5 -> 3
    assert routed_tokens(0.01, 10) == 1 and routed_tokens(1, 7) == 7


def test_to_json_is_the_config_as_given() -> None:
    from mixdepth_torch.model import Transformer

    raw = {"vocabSize": 8, "dModel": 8, "nHeads": 2, "nLayers": 2, "contextLength": 4, "routing": {"capacity": 0.5}}
    assert Transformer(raw).to_json() == raw
