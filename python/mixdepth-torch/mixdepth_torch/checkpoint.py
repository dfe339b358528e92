"""mixdepth's checkpoint folder, read and written exactly as packages/transformer/src/node.ts and
model-io.ts do (format in packages/transformer/README.md, "Checkpoint folder"):

    config.json         {...free fields (tokenizer, step, description...), "format": "mixdepth-checkpoint/1",
                         "model": ModelConfig, "routerStates"?}, JSON.stringify(_, null, 2) + "\\n"
    model.safetensors   every weight by its TS name, F32, names sorted, metadata {"format": "pt"}

A checkpoint is untrusted input; the reader allocates nothing that the files do not hold:
1. each file is opened non-blocking and must be a regular file (symlinks followed; a device,
   FIFO, socket or folder is refused) within CHECKPOINT_LIMITS (weights 2 GiB, config 1 MiB);
2. the model config's sizes are checked against the limits before it is resolved;
3. the safetensors header alone is read and checked against model_weight_shapes(config):
   every name, no other tensor, F32, exact shape;
4. only then the data is read and the model built.
save_model writes a temp folder, fsyncs it and renames it into place (a crash leaves the old
folder or the new one). A twin-written folder is byte-identical to what TypeScript would write
for the same weights (tests/test_checkpoint.py).
"""
from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from .config import MODEL_LIMITS, ConfigError, ResolvedModelConfig, js_json, resolve_model_config
from .model import Transformer, model_weight_shapes
from .safetensors_io import Header, SafetensorsError, decode_safetensors, encode_safetensors, header_length, parse_header

CHECKPOINT_FORMAT = "mixdepth-checkpoint/1"
CHECKPOINT_LIMITS: dict[str, int] = {
    "maxWeightsBytes": 2 * 1024**3,
    "maxConfigBytes": 1024**2,
    **MODEL_LIMITS,  # a checkpoint of any config that resolves (and so trains) is read back
}


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, too large, or not matching its config."""


def checkpoint_limits(limits: dict[str, int] | None = None) -> dict[str, int]:
    unknown = set(limits or {}) - set(CHECKPOINT_LIMITS)
    if unknown:
        raise ValueError(f"limits: unknown keys {sorted(unknown)} (known: {', '.join(CHECKPOINT_LIMITS)})")
    return {**CHECKPOINT_LIMITS, **(limits or {})}


@dataclass
class ParsedCheckpoint:
    json: dict  # config.json as parsed (tokenizer, step, description... included)
    model: dict  # the model config as stored
    resolved: ResolvedModelConfig
    weights: dict[str, np.ndarray]  # every weight by name, float32, shapes checked
    metadata: dict[str, str]


# -- files ------------------------------------------------------------------------------------


class _OpenFile:
    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.size = fd, size

    def close(self) -> None:
        os.close(self.fd)


def _open_regular(path: str, max_bytes: int, limit_name: str) -> _OpenFile:
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat below then refuses it.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        import errno

        code = errno.errorcode.get(e.errno, str(e))
        raise CheckpointError(f"{path} is missing" if e.errno == errno.ENOENT else f"{path} cannot be opened ({code})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            m = st.st_mode
            kind = ("a folder" if stat.S_ISDIR(m) else "a FIFO" if stat.S_ISFIFO(m) else "a device" if stat.S_ISCHR(m) or stat.S_ISBLK(m)
                    else "a socket" if stat.S_ISSOCK(m) else "not a regular file")
            raise CheckpointError(f"{path} is {kind}; a checkpoint file must be a regular file")
        if st.st_size > max_bytes:
            raise CheckpointError(f"{path} has {st.st_size} bytes, more than the limit {max_bytes} (limits.{limit_name})")
        return _OpenFile(fd, st.st_size)
    except BaseException:
        os.close(fd)
        raise


def _read_exactly(f: _OpenFile, path: str, position: int, length: int) -> bytes:
    out = bytearray()
    while len(out) < length:
        chunk = os.pread(f.fd, length - len(out), position + len(out))
        if not chunk:
            raise CheckpointError(f"{path}: file ended after {position + len(out)} bytes while reading (changed while reading?)")
        out += chunk
    return bytes(out)


def read_regular_file(path: str, max_bytes: int, limit_name: str = "maxBytes") -> bytes:
    """The whole of `path` if it is a regular file of at most max_bytes (TS readRegularFile)."""
    f = _open_regular(path, max_bytes, limit_name)
    try:
        return _read_exactly(f, path, 0, f.size)
    finally:
        f.close()


# -- config -----------------------------------------------------------------------------------


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")  # JSON.parse refuses NaN and Infinity


def checkpoint_model_config(obj: Any, limits: dict[str, int] | None = None, where: str = "config.json") -> tuple[dict, ResolvedModelConfig]:
    """The model config in a config.json object (`model`, else `config`, else the object itself
    when it has vocabSize); sizes checked against the limits before it is resolved."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{where}: expected a JSON object")
    model = obj["model"] if isinstance(obj.get("model"), dict) else obj["config"] if isinstance(obj.get("config"), dict) else obj if "vocabSize" in obj else None
    if model is None:
        raise CheckpointError(f'{where}: no model config (expected a "model" object or top-level "vocabSize")')
    lim = checkpoint_limits(limits)
    routing = model.get("routing") if isinstance(model.get("routing"), dict) else {}
    predictor = routing.get("predictor") if isinstance(routing.get("predictor"), dict) else {}
    bounds = [("vocabSize", model.get("vocabSize"), "maxVocabSize"), ("dModel", model.get("dModel"), "maxDModel"),
              ("mlpHidden", model.get("mlpHidden"), "maxMlpHidden"), ("nLayers", model.get("nLayers"), "maxLayers"),
              ("contextLength", model.get("contextLength"), "maxContextLength"), ("routing.predictor.hidden", predictor.get("hidden"), "maxMlpHidden")]
    for field, value, key in bounds:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > lim[key]:
            raise CheckpointError(f"{where}: model.{field} = {js_json(value)} exceeds the checkpoint limit {lim[key]} (limits.{key}); refusing to allocate it")
    try:
        return model, resolve_model_config(model)
    except ConfigError as e:
        raise CheckpointError(f"{where}: {e}") from None


def parse_checkpoint_config(text: str | dict, limits: dict[str, int] | None = None, where: str = "config.json") -> tuple[dict, dict, ResolvedModelConfig]:
    """config.json text (or parsed JSON) -> (json, model config, resolved), limits applied."""
    obj: Any = text
    if isinstance(text, str):
        mx = checkpoint_limits(limits)["maxConfigBytes"]
        if len(text) > mx:
            raise CheckpointError(f"{where}: {len(text)} characters exceed the {mx}-byte config limit (limits.maxConfigBytes)")
        try:
            obj = json.loads(text, parse_constant=_no_constants)
        except ValueError as e:
            raise CheckpointError(f"{where}: not valid JSON (truncated?): {e}") from None
    model, resolved = checkpoint_model_config(obj, limits, where)
    states = obj.get("routerStates", None) if "routerStates" in obj else ...
    if states is not ... and not isinstance(states, dict):
        raise CheckpointError(f"{where}: routerStates must be an object by block name (got {js_json(states)[:80]})")
    return obj, model, resolved


def check_weights_header(header: Header, config: Any, where: str = "model.safetensors") -> None:
    """Every expected name present as F32 with exactly the expected shape, no other tensors."""
    shapes, undeclared = model_weight_shapes(config)
    loose = [f"blocks.{i}.router." for i in undeclared]
    seen: set[str] = set()
    fmt = lambda s: f"[{', '.join(map(str, s))}]"  # noqa: E731
    for e in header.entries:
        want = shapes.get(e.name)
        if want is None and not any(e.name.startswith(p) for p in loose):
            raise CheckpointError(f'{where}: tensor "{e.name}" is not a weight of this model (config.json\'s model has {len(shapes)} weights: {", ".join(list(shapes)[:6])}, ...)')
        if e.dtype != "F32":
            raise CheckpointError(f'{where}: weight "{e.name}" is {e.dtype}, weights must be F32')
        if want is not None and tuple(want) != tuple(e.shape):
            raise CheckpointError(f'{where}: weight "{e.name}" is {fmt(e.shape)}, config.json\'s model expects {fmt(want)}')
        seen.add(e.name)
    missing = [n for n in shapes if n not in seen]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise CheckpointError(f'{where}: weight "{missing[0]}" {fmt(shapes[missing[0]])} is missing{more}')


def parse_checkpoint(config: str | dict, weights_bytes: bytes, limits: dict[str, int] | None = None) -> ParsedCheckpoint:
    """The whole check on bytes in memory (TS parseCheckpoint)."""
    obj, model, resolved = parse_checkpoint_config(config, limits)
    mx = checkpoint_limits(limits)["maxWeightsBytes"]
    if len(weights_bytes) > mx:
        raise CheckpointError(f"model.safetensors: {len(weights_bytes)} bytes exceed the {mx}-byte limit (limits.maxWeightsBytes)")
    try:
        header = parse_header(weights_bytes, len(weights_bytes))
    except SafetensorsError as e:
        raise CheckpointError(f"model.safetensors: {e}") from None
    check_weights_header(header, resolved)
    tensors, metadata = decode_safetensors(weights_bytes)
    return ParsedCheckpoint(obj, model, resolved, tensors, metadata)


def read_checkpoint(folder: str | os.PathLike, limits: dict[str, int] | None = None, verify: Callable[[bytes, str], None] | None = None) -> ParsedCheckpoint:
    """Reads and checks a checkpoint folder without building a model (TS readCheckpoint)."""
    config_path = os.path.join(os.fspath(folder), "config.json")
    weights_path = os.path.join(os.fspath(folder), "model.safetensors")
    lim = checkpoint_limits(limits)
    f = _open_regular(config_path, lim["maxConfigBytes"], "maxConfigBytes")
    try:
        raw = _read_exactly(f, config_path, 0, f.size)
    finally:
        f.close()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CheckpointError(f"{config_path} is not valid UTF-8") from None
    obj, model, resolved = parse_checkpoint_config(text, limits, config_path)
    f = _open_regular(weights_path, lim["maxWeightsBytes"], "maxWeightsBytes")
    try:
        try:
            n = header_length(_read_exactly(f, weights_path, 0, min(8, f.size)), f.size)
            header = parse_header(_read_exactly(f, weights_path, 0, 8 + n), f.size)
        except SafetensorsError as e:
            raise CheckpointError(f"{weights_path}: {e}") from None
        check_weights_header(header, resolved, weights_path)
        data = _read_exactly(f, weights_path, 0, f.size)  # the header matched: the size is what the model needs
    finally:
        f.close()
    if verify is not None:
        verify(data, weights_path)
    tensors, metadata = decode_safetensors(data)
    return ParsedCheckpoint(obj, model, resolved, tensors, metadata)


def checkpoint_to_model(ck: ParsedCheckpoint) -> Transformer:
    """The Transformer of a parsed checkpoint, router states (config.json routerStates) restored."""
    model = Transformer(ck.model)
    model.set_weights({n: torch.from_numpy(a) for n, a in ck.weights.items()})
    states = ck.json.get("routerStates")
    if states is not None:
        try:
            model.set_router_states(states)
        except (ValueError, TypeError) as e:
            raise CheckpointError(f"config.json: routerStates: {e}") from None
    return model


def load_model(folder: str | os.PathLike, limits: dict[str, int] | None = None, verify: Callable[[bytes, str], None] | None = None) -> Transformer:
    """Loads a checkpoint folder into a new Transformer after every check (TS loadModel)."""
    return checkpoint_to_model(read_checkpoint(folder, limits, verify))


# -- writing ----------------------------------------------------------------------------------


def checkpoint_files(model: Transformer, extra: dict | None = None, metadata: dict[str, str] | None = None) -> tuple[bytes, bytes]:
    """(config.json bytes, model.safetensors bytes) exactly as TS checkpointFiles writes them."""
    tensors = {n: p.detach().to("cpu", torch.float32).contiguous().numpy() for n, p in model.named_weights().items()}
    weights = encode_safetensors(tensors, {"format": "pt", **(metadata or {})})
    obj = dict(extra or {})
    obj["format"] = CHECKPOINT_FORMAT  # a key given in extra keeps its place, as in a JS object spread
    obj["model"] = model.to_json()
    states = model.get_router_states()
    if states:
        obj["routerStates"] = states
    return (js_json(obj, 2) + "\n").encode("utf-8"), weights


def _write_durable(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_model(folder: str | os.PathLike, model: Transformer, extra: dict | None = None) -> None:
    """Writes `model` as a checkpoint folder, crash-safe like TS saveModel: a temp folder beside it
    is written and fsynced, an old folder moved aside, the temp folder renamed into place. An
    existing folder must be a checkpoint folder (it has model.safetensors) or empty."""
    config, weights = checkpoint_files(model, extra)
    folder = os.fspath(folder)
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    name = os.path.basename(os.path.abspath(folder))
    tmp = os.path.join(parent, f".{name}.tmp-{os.getpid()}")
    old = os.path.join(parent, f".{name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        os.mkdir(tmp)
        _write_durable(os.path.join(tmp, "model.safetensors"), weights)
        _write_durable(os.path.join(tmp, "config.json"), config)
        _fsync_dir(tmp)
        if os.path.exists(folder):
            if not os.path.exists(os.path.join(folder, "model.safetensors")):
                try:
                    os.rename(tmp, folder)  # succeeds only when folder is an empty folder
                except OSError:
                    raise CheckpointError(f"{folder} exists and is not a checkpoint folder; refusing to replace it") from None
                _fsync_dir(parent)
                return
            os.rename(folder, old)  # a folder cannot be renamed over a non-empty one
        os.rename(tmp, folder)
        _fsync_dir(parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


__all__ = [
    "CHECKPOINT_FORMAT", "CHECKPOINT_LIMITS", "CheckpointError", "ParsedCheckpoint", "check_weights_header", "checkpoint_files",
    "checkpoint_limits", "checkpoint_model_config", "checkpoint_to_model", "load_model", "parse_checkpoint", "parse_checkpoint_config",
    "read_checkpoint", "read_regular_file", "save_model",
]
