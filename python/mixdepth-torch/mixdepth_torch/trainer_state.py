"""Resumable checkpoints in the TypeScript trainer's run-folder layout (apps/trainer/src/checkpoint.ts).

A run folder holds checkpoints/step-NNNNNN/ folders and checkpoints/latest.json naming the newest
complete one. Each checkpoint folder has model.safetensors and config.json (what
``mixdepth sample``/``eval`` and the demo read: checkpoint.py's files), trainer-state.safetensors
(AdamW moments ``m.<name>``, ``v.<name>``, F32) and trainer-state.json (step, the data RNG state,
router states, optimizer step, tokens, FLOPs, the run fingerprint, sizes and sha256 of both
safetensors files). Saving writes a temp folder (every file fsynced), renames it into place, then
atomically rewrites latest.json: a crash (SIGKILL included) at any point leaves latest.json naming
the previous complete checkpoint. The newest two are kept. Both engines read each other's.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np

from .checkpoint import CHECKPOINT_FORMAT, CheckpointError, checkpoint_files, read_checkpoint
from .metrics import fsync_dir, write_atomic, write_durable
from .safetensors_io import decode_safetensors, encode_safetensors

MAX_JSON_BYTES = 1 << 20
_STEP_DIR = re.compile(r"step-\d+")


def step_dir_name(step: int) -> str:
    return f"step-{step:06d}"


def _sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _json_bytes(v: Any) -> bytes:
    return (json.dumps(v, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def save_checkpoint(run_dir: str, step: int, model: Any, m: Mapping[str, np.ndarray], v: Mapping[str, np.ndarray], state: Dict[str, Any], config_extra: Dict[str, Any]) -> str:
    """Writes run_dir/checkpoints/step-NNNNNN and points latest.json at it; returns the folder."""
    root = os.path.join(run_dir, "checkpoints")
    os.makedirs(root, exist_ok=True)
    name = step_dir_name(step)
    final = os.path.join(root, name)
    tmp = os.path.join(root, f".{name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    cfg_bytes, model_bytes = checkpoint_files(model, extra=config_extra, metadata={"format": "pt", "producer": "mixdepth-torch", "step": str(step)})
    tensors = {**{f"m.{n}": np.ascontiguousarray(a, dtype=np.float32) for n, a in m.items()}, **{f"v.{n}": np.ascontiguousarray(a, dtype=np.float32) for n, a in v.items()}}
    opt_bytes = encode_safetensors(tensors, {"step": str(step)})
    full_state = {
        "format": CHECKPOINT_FORMAT,
        **state,
        "files": {
            "model.safetensors": {"bytes": len(model_bytes), "sha256": _sha256(model_bytes)},
            "trainer-state.safetensors": {"bytes": len(opt_bytes), "sha256": _sha256(opt_bytes)},
        },
    }
    try:
        write_durable(os.path.join(tmp, "model.safetensors"), model_bytes)
        write_durable(os.path.join(tmp, "trainer-state.safetensors"), opt_bytes)
        write_durable(os.path.join(tmp, "config.json"), cfg_bytes)
        write_durable(os.path.join(tmp, "trainer-state.json"), _json_bytes(full_state))  # last: it vouches for the others
        fsync_dir(tmp)
        shutil.rmtree(final, ignore_errors=True)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(root)
    write_atomic(os.path.join(root, "latest.json"), (json.dumps({"checkpoint": name, "step": step}, separators=(",", ":")) + "\n").encode("utf-8"))
    older = sorted((f for f in os.listdir(root) if _STEP_DIR.fullmatch(f) and f != name), reverse=True)
    keep = {name, *older[:1]}
    for f in os.listdir(root):
        if (_STEP_DIR.fullmatch(f) and f not in keep) or (f.startswith(".step-") and ".tmp-" in f):
            shutil.rmtree(os.path.join(root, f), ignore_errors=True)
    return final


def _read_limited(path: str, max_bytes: int) -> bytes:
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint: {path} is missing")
    size = os.stat(path).st_size
    if size > max_bytes:
        raise CheckpointError(f"checkpoint: {path} has {size} bytes, more than the {max_bytes} allowed")
    with open(path, "rb") as fh:
        return fh.read()


def read_json(path: str) -> Any:
    b = _read_limited(path, MAX_JSON_BYTES)
    try:
        return json.loads(b.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"checkpoint: {path} is not valid JSON (truncated?): {e}") from None


def resolve_checkpoint_dir(path: str) -> str:
    """A checkpoint folder itself, or a run folder's checkpoints/latest.json target (checkpoint.ts)."""
    p = os.path.abspath(path)
    if not os.path.exists(p):
        raise CheckpointError(f"checkpoint: {path} does not exist")
    if os.path.exists(os.path.join(p, "model.safetensors")):
        return p
    latest = os.path.join(p, "checkpoints", "latest.json")
    if not os.path.exists(latest):
        raise CheckpointError(f"checkpoint: {path} has neither model.safetensors nor checkpoints/latest.json (not a run or checkpoint folder)")
    name = read_json(latest).get("checkpoint")
    if not isinstance(name, str) or not _STEP_DIR.fullmatch(name):
        raise CheckpointError(f'checkpoint: {latest}: "checkpoint" must name a step-NNNNNN folder (got {json.dumps(name)})')
    root = os.path.join(p, "checkpoints")
    d = os.path.join(root, name)
    if not os.path.exists(d):
        raise CheckpointError(f"checkpoint: {latest} names {name}, which is missing")
    if os.path.dirname(os.path.realpath(d)) != os.path.realpath(root):
        raise CheckpointError(f"checkpoint: {latest} names {name}, which resolves outside {root}; refusing to read it")
    return d


def latest_step(run_dir: str) -> Optional[int]:
    try:
        return int(read_json(os.path.join(resolve_checkpoint_dir(run_dir), "trainer-state.json"))["step"])
    except (CheckpointError, KeyError, TypeError, ValueError):
        return None


def _verify(b: bytes, path: str, expect: Optional[Dict[str, Any]]) -> None:
    if not expect:
        return
    if len(b) != expect["bytes"]:
        raise CheckpointError(f"checkpoint: {path} has {len(b)} bytes, trainer-state.json recorded {expect['bytes']} (truncated or replaced)")
    if _sha256(b) != expect["sha256"]:
        raise CheckpointError(f"checkpoint: {path} does not match the sha256 in trainer-state.json (corrupted or replaced)")


@dataclass
class Resumed:
    dir: str
    step: int
    weights: Dict[str, np.ndarray]
    m: Dict[str, np.ndarray]
    v: Dict[str, np.ndarray]
    state: Dict[str, Any]


def load_checkpoint(path: str, expected_shapes: Mapping[str, Tuple[int, ...]], fingerprint: str) -> Resumed:
    """Everything needed to resume; each mismatch is a CheckpointError naming it (checkpoint.ts loadCheckpoint)."""
    d = resolve_checkpoint_dir(path)
    state = read_json(os.path.join(d, "trainer-state.json"))
    if state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint: {d}: unknown format {json.dumps(state.get('format'))}")
    if state.get("fingerprint") != fingerprint:
        raise CheckpointError(f"checkpoint: {d} was written by a run with a different model/training/data config; resume needs the same config")
    files = state.get("files") or {}
    # The library's safe reader (limits, header against config.json), plus the recorded size and hash.
    ck = read_checkpoint(d, verify=lambda b, p: _verify(b, p, files.get("model.safetensors")))
    opt_path = os.path.join(d, "trainer-state.safetensors")
    model_bytes = (files.get("model.safetensors") or {}).get("bytes", 0)
    ob = _read_limited(opt_path, 2 * model_bytes + (1 << 20))
    _verify(ob, opt_path, files.get("trainer-state.safetensors"))
    try:
        opt, _meta = decode_safetensors(ob)
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"checkpoint: {opt_path}: {e}") from None
    weights: Dict[str, np.ndarray] = {}
    m: Dict[str, np.ndarray] = {}
    v: Dict[str, np.ndarray] = {}
    for name, shape in expected_shapes.items():
        for what, src, key, dst in (("weight", ck.weights, name, weights), ("optimizer moment m of", opt, f"m.{name}", m), ("optimizer moment v of", opt, f"v.{name}", v)):
            t = src.get(key)
            if t is None:
                raise CheckpointError(f'checkpoint: {d}: {what} "{name}" is missing')
            if t.dtype != np.float32 or tuple(t.shape) != tuple(shape):
                raise CheckpointError(f'checkpoint: {d}: {what} "{name}" is {t.dtype} {list(t.shape)}, the model expects F32 {list(shape)}')
            dst[name] = t
    extra = [n for n in ck.weights if n not in expected_shapes]
    if extra:
        raise CheckpointError(f"checkpoint: {d}: unexpected weights {', '.join(extra[:5])}")
    rest = {k: x for k, x in state.items() if k not in ("format", "files")}
    return Resumed(d, int(state["step"]), weights, m, v, rest)
