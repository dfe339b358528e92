"""Checkpoints both ways: TypeScript-written folders (saveModel, scripts/write-fixtures.mjs) load in the
twin with equal logits and re-save byte-identically; twin-written folders load through the TypeScript
loader (scripts/ts-load.mjs, node on PATH) with equal logits; bad folders are refused by both readers
with the same messages."""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from fixtures_ts import FIXTURES, PKG, record
from mixdepth_torch.checkpoint import CheckpointError, checkpoint_files, load_model, read_checkpoint, save_model
from mixdepth_torch.model import Transformer
from mixdepth_torch.safetensors_io import decode_safetensors, encode_safetensors

TOL = 1e-4
TS_CHECKPOINTS = ["gpt2-mod", "llama-stochastic-noise", "gpt2-untied", "llama-mode-staged"]


def ts_load(requests: list[dict]) -> list[dict]:
    """The TypeScript loader's answer per request (logits or the error message)."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "requests.json"
        spec.write_text(json.dumps(requests))
        run = subprocess.run(["node", str(PKG / "scripts" / "ts-load.mjs"), str(spec)], cwd=PKG, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.mark.parametrize("name", TS_CHECKPOINTS)
def test_a_typescript_checkpoint_gives_the_typescript_logits(name: str) -> None:
    ref = json.loads((FIXTURES / f"ck-{name}.logits.json").read_text())
    model = load_model(FIXTURES / f"ck-{name}")
    assert model.get_router_states() == ref["routerStates"]  # the stochastic stream continues where TS left it
    with torch.no_grad():
        logits = model(torch.tensor(ref["tokens"]).view(*ref["shape"]), routing=ref["routing"]).logits
    d = float(np.max(np.abs(logits.numpy().reshape(-1) - np.array(ref["logits"], dtype=np.float32))))
    record(f"ck-{name}", "ts->twin logits", d)
    assert d < TOL
    ck = read_checkpoint(FIXTURES / f"ck-{name}")
    assert ck.json["tokenizer"]["type"] == "byte" and ck.json["step"] == 3


@pytest.mark.parametrize("name", TS_CHECKPOINTS)
def test_the_twin_rewrites_a_typescript_checkpoint_byte_for_byte(name: str, tmp_path: Path) -> None:
    src = FIXTURES / f"ck-{name}"
    ck = read_checkpoint(src)
    extra = {k: v for k, v in ck.json.items() if k not in ("format", "model", "routerStates")}
    save_model(tmp_path / "ck", load_model(src), extra)
    for f in ("config.json", "model.safetensors"):
        assert (tmp_path / "ck" / f).read_bytes() == (src / f).read_bytes(), f
    assert sorted(os.listdir(tmp_path)) == ["ck"]  # no temp folder left behind


def test_a_twin_checkpoint_loads_in_typescript_with_equal_logits(tmp_path: Path) -> None:
    configs = {
        "llama-mod": {"vocabSize": 50, "dModel": 24, "nHeads": 3, "nLayers": 4, "contextLength": 20, "routing": {"capacity": 0.3}},
        "gpt2-stochastic": {"vocabSize": 30, "dModel": 16, "nHeads": 4, "nLayers": 3, "contextLength": 12, "family": "gpt2",
                            "routing": {"blocks": "all", "capacity": 0.5, "router": "stochastic"}},
        "llama-dense-untied": {"vocabSize": 20, "dModel": 8, "nHeads": 2, "nLayers": 2, "contextLength": 8, "tieEmbeddings": False},
        "llama-mode-staged": {"vocabSize": 30, "dModel": 16, "nHeads": 2, "nLayers": 3, "contextLength": 12, "routing": {"capacity": 0.5},
                              "experts": {"count": 3, "noop": 1, "predictor": {"hidden": 4}}},
        "gpt2-moe-token-choice": {"vocabSize": 30, "dModel": 16, "nHeads": 2, "nLayers": 2, "contextLength": 12, "family": "gpt2",
                                  "experts": {"blocks": [1], "routing": "token-choice", "count": 2, "noop": 1, "hidden": 20}},
    }
    torch.manual_seed(0)
    requests, expected = [], []
    tokenizer = {"type": "byte", "vocabSize": 256, "encoding": "utf-8", "idToByte": list(range(256))}
    for name, cfg in configs.items():
        model = Transformer(cfg, seed=11)
        with torch.no_grad():  # weights away from their init, so the load cannot pass by re-initialising
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.3)
        save_model(tmp_path / name, model, {"tokenizer": tokenizer, "step": 7})
        tokens = torch.randint(0, cfg["vocabSize"], (2, cfg["contextLength"] - 3))
        for routing in ("topk", "causal"):
            states = model.get_router_states()
            with torch.no_grad():
                expected.append((name, routing, model(tokens, routing=routing).logits.numpy().reshape(-1), states))
            model.set_router_states(states)  # TS starts from the saved stream; so does the next call here
            requests.append({"dir": str(tmp_path / name), "tokens": tokens.reshape(-1).tolist(), "shape": list(tokens.shape), "routing": routing})
    for (name, routing, want, states), got in zip(expected, ts_load(requests)):
        assert got["ok"], got
        assert got["routerStates"] == states and got["tokenizer"] == tokenizer
        d = float(np.max(np.abs(np.array(got["logits"], dtype=np.float32) - want)))
        record(f"twin-ck-{name}", f"twin->ts logits {routing}", d)
        assert d < TOL, f"{name} {routing}: {d}"


# -- refusals ---------------------------------------------------------------------------------


def _bad_folders(root: Path) -> dict[str, Path]:
    """Folders each broken in one way, built from a good twin checkpoint."""
    model = Transformer({"vocabSize": 12, "dModel": 8, "nHeads": 2, "nLayers": 2, "contextLength": 6, "family": "gpt2",
                         "routing": {"blocks": [1], "capacity": 0.5, "router": "stochastic"}}, seed=3)
    config, weights = checkpoint_files(model, {"step": 1})
    tensors, meta = decode_safetensors(weights)
    cfg = json.loads(config)
    out: dict[str, Path] = {}

    def folder(name: str, cfg_text: bytes | None = config, st: bytes | None = weights) -> Path:
        d = root / name
        d.mkdir()
        if cfg_text is not None:
            (d / "config.json").write_bytes(cfg_text)
        if st is not None:
            (d / "model.safetensors").write_bytes(st)
        out[name] = d
        return d

    def with_cfg(**changes: object) -> bytes:
        c = json.loads(config)
        for k, v in changes.items():
            c[k] = v
        return json.dumps(c).encode()

    folder("good")
    folder("no-config", cfg_text=None)
    folder("no-weights", st=None)
    d = folder("weights-folder", st=None)
    (d / "model.safetensors").mkdir()
    d = folder("weights-fifo", st=None)
    os.mkfifo(d / "model.safetensors")
    d = folder("weights-device", st=None)
    os.symlink("/dev/null", d / "model.safetensors")
    folder("vocab-too-large", cfg_text=with_cfg(model={**cfg["model"], "vocabSize": 2_000_000}))
    folder("layers-too-many", cfg_text=with_cfg(model={**cfg["model"], "nLayers": 10_001}))
    folder("bad-model-field", cfg_text=with_cfg(model={**cfg["model"], "nHeads": 3}))
    folder("unknown-model-field", cfg_text=with_cfg(model={**cfg["model"], "heads": 3}))
    folder("no-model", cfg_text=b'{"format": "mixdepth-checkpoint/1"}')
    folder("not-json", cfg_text=b'{"model": ')
    folder("router-states-not-object", cfg_text=with_cfg(routerStates=[1]))
    folder("router-states-wrong-block", cfg_text=with_cfg(routerStates={"blocks.0": {"rng": 1}}))
    folder("router-states-bad-value", cfg_text=with_cfg(routerStates={"blocks.1": {"rng": -1}}))
    folder("extra-tensor", st=encode_safetensors({**tensors, "blocks.0.extra": np.zeros(2, np.float32)}, meta))
    folder("missing-tensor", st=encode_safetensors({k: v for k, v in tensors.items() if k != "blocks.1.mlp.fc.w"}, meta))
    folder("wrong-shape", st=encode_safetensors({**tensors, "tok_emb": np.zeros((12, 9), np.float32)}, meta))
    folder("int-weight", st=encode_safetensors({**tensors, "final_norm.g": np.zeros(8, np.int32)}, meta))
    folder("truncated", st=weights[:-4])
    folder("short", st=weights[:5])
    folder("header-too-long", st=struct.pack("<Q", 10**9) + weights[8:])
    n = struct.unpack("<Q", weights[:8])[0]
    header = json.loads(weights[8 : 8 + n])
    first = sorted(k for k in header if k != "__metadata__")[1]
    header[first]["data_offsets"] = [header[first]["data_offsets"][0] + 4, header[first]["data_offsets"][1] + 4]
    hj = json.dumps(header).encode()
    hj += b" " * (-(len(hj)) % 8)
    folder("overlap", st=struct.pack("<Q", len(hj)) + hj + weights[8 + n :])
    return out


def test_bad_folders_are_refused_by_both_readers_with_the_same_message(tmp_path: Path) -> None:
    folders = _bad_folders(tmp_path)
    ts = dict(zip(folders, ts_load([{"dir": str(d)} for d in folders.values()])))
    assert ts["good"]["ok"]
    load_model(folders["good"])
    for name, d in folders.items():
        if name == "good":
            continue
        assert not ts[name]["ok"], f"TypeScript accepted {name}"
        with pytest.raises(CheckpointError) as e:
            load_model(d)
        if name == "not-json":  # the JSON parsers word their errors differently
            assert str(e.value).startswith(f"{d}/config.json: not valid JSON (truncated?): ") and ts[name]["error"].startswith(f"{d}/config.json: not valid JSON (truncated?): ")
        else:
            assert str(e.value) == ts[name]["error"], name


def test_limits_can_be_raised_and_lowered(tmp_path: Path) -> None:
    folders = _bad_folders(tmp_path)
    # The model bounds are core's MODEL_LIMITS: any config that resolves (and so trains) reads back.
    with pytest.raises(CheckpointError, match=r"model\.nLayers = 10001 exceeds the checkpoint limit 10000 \(limits\.maxLayers\)"):
        read_checkpoint(folders["layers-too-many"])
    with pytest.raises(CheckpointError, match=r"model\.nLayers = 2 exceeds the checkpoint limit 1 \(limits\.maxLayers\)"):
        read_checkpoint(folders["good"], limits={"maxLayers": 1})
    with pytest.raises(CheckpointError, match="limits.maxWeightsBytes"):
        read_checkpoint(folders["good"], limits={"maxWeightsBytes": 100})
    with pytest.raises(CheckpointError, match="limits.maxConfigBytes"):
        read_checkpoint(folders["good"], limits={"maxConfigBytes": 10})
    with pytest.raises(CheckpointError, match="limits.maxVocabSize"):
        read_checkpoint(folders["good"], limits={"maxVocabSize": 11})


def test_save_model_replaces_a_checkpoint_and_refuses_another_folder(tmp_path: Path) -> None:
    a = Transformer({"vocabSize": 10, "dModel": 8, "nHeads": 2, "nLayers": 1, "contextLength": 4}, seed=1)
    b = Transformer({"vocabSize": 10, "dModel": 8, "nHeads": 2, "nLayers": 1, "contextLength": 4}, seed=2)
    save_model(tmp_path / "ck", a)
    save_model(tmp_path / "ck", b)
    assert torch.equal(load_model(tmp_path / "ck").tok_emb, b.tok_emb)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep me")
    with pytest.raises(CheckpointError, match="exists and is not a checkpoint folder; refusing to replace it"):
        save_model(tmp_path / "other", a)
    assert (tmp_path / "other" / "notes.txt").read_text() == "keep me"
    assert sorted(os.listdir(tmp_path)) == ["ck", "other"]
    shutil.rmtree(tmp_path / "other")
