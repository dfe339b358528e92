"""The safetensors format for F32 and I32 tensors, byte for byte as packages/transformer/src/safetensors.ts
writes and checks it (the `safetensors` package is not a dependency: it is not installable everywhere
this runs, and the format is small).

Layout: [u64 little-endian N][N bytes of UTF-8 JSON header][data]. The header maps each name to
{dtype, shape, data_offsets: [begin, end]} (relative to the data section) and may hold
"__metadata__": {str: str}. Written: "__metadata__" first, then tensors sorted by name, data
contiguous in that order, the header padded with spaces so the data starts at a multiple of 8.
Read: the header is bounded (100 MB, like the reference), every offset checked (inside the
file, size = shape x dtype, no overlap, no gap, no trailing bytes) before any data is touched.
"""
from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass

import numpy as np

DTYPES = {"F32": np.dtype("<f4"), "I32": np.dtype("<i4")}
OTHER_DTYPES = {"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "U32", "I64", "U64", "F64"}
MAX_HEADER_BYTES = 100_000_000


class SafetensorsError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(f"safetensors: {message}")


@dataclass
class Entry:
    name: str
    dtype: str
    shape: list[int]
    begin: int
    end: int


@dataclass
class Header:
    entries: list[Entry]  # sorted by name
    metadata: dict[str, str]
    data_start: int  # 8 + header length


def _js(v: object) -> str:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def _check_shape(name: str, shape: object) -> list[int]:
    if not isinstance(shape, list) or any(isinstance(n, bool) or not isinstance(n, (int, float)) or n != math.floor(n) or n < 0 for n in shape):
        raise SafetensorsError(f'tensor "{name}": shape must be a list of integers >= 0 (got {_js(shape)})')
    return [int(n) for n in shape]


def encode_safetensors(tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> bytes:
    """Tensors (float32 -> F32, int32 -> I32) and string metadata -> safetensors bytes, as the TS encoder."""
    header: dict[str, object] = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(v, str):
                raise SafetensorsError(f'metadata "{k}" must be a string (got {_js(v)})')
        header["__metadata__"] = dict(metadata)
    names = sorted(tensors)
    offset = 0
    blobs = []
    for name in names:
        if name == "__metadata__":
            raise SafetensorsError('"__metadata__" is reserved and cannot be a tensor name')
        a = np.asarray(tensors[name])
        if a.dtype == np.float32:
            dtype = "F32"
        elif a.dtype == np.int32:
            dtype = "I32"
        else:
            raise SafetensorsError(f'tensor "{name}": unsupported dtype {a.dtype} (F32 or I32)')
        data = np.ascontiguousarray(a, dtype=DTYPES[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": [int(n) for n in a.shape], "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    js = _js(header).encode("utf-8")
    padded = math.ceil((8 + len(js)) / 8) * 8 - 8
    return struct.pack("<Q", padded) + js + b" " * (padded - len(js)) + b"".join(blobs)


def header_length(first8: bytes, file_length: int) -> int:
    """N from the first 8 bytes, checked against the file size and the header limit."""
    if file_length < 8 or len(first8) < 8:
        raise SafetensorsError(f"truncated file: {file_length} bytes, the 8-byte header length is missing")
    (n,) = struct.unpack("<Q", first8[:8])
    if n > file_length - 8:
        raise SafetensorsError(f"truncated file: header length {n} exceeds the {file_length - 8} bytes after the length field")
    if n > MAX_HEADER_BYTES:
        raise SafetensorsError(f"header length {n} exceeds the {MAX_HEADER_BYTES}-byte limit")
    return n


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def parse_header(header_bytes: bytes, file_length: int) -> Header:
    """Parses and validates the header (no tensor data needed): TS parseSafetensorsHeader."""
    n = header_length(header_bytes, file_length)
    if len(header_bytes) < 8 + n:
        raise SafetensorsError(f"header: {len(header_bytes)} bytes given, {8 + n} needed")
    try:
        header = json.loads(header_bytes[8:8 + n].decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError) as e:
        raise SafetensorsError(f"header is not valid UTF-8 JSON ({e})") from None
    if not isinstance(header, dict):
        raise SafetensorsError("header must be a JSON object")
    data_start = 8 + n
    data_len = file_length - data_start
    metadata: dict[str, str] = {}
    entries: list[Entry] = []
    for name, raw in header.items():
        if name == "__metadata__":
            if not isinstance(raw, dict):
                raise SafetensorsError("__metadata__ must be an object of strings")
            for k, v in raw.items():
                if not isinstance(v, str):
                    raise SafetensorsError(f'__metadata__."{k}" must be a string (got {_js(v)})')
                metadata[k] = v
            continue
        if not isinstance(raw, dict):
            raise SafetensorsError(f'tensor "{name}": entry must be an object')
        dtype = raw.get("dtype")
        if not isinstance(dtype, str) or dtype not in DTYPES:
            why = "is not supported here (F32 or I32)" if isinstance(dtype, str) and dtype in OTHER_DTYPES else "is unknown"
            raise SafetensorsError(f'tensor "{name}": dtype {_js(dtype)} {why}')
        shape = _check_shape(name, raw.get("shape"))
        offs = raw.get("data_offsets")
        if not isinstance(offs, list) or len(offs) != 2 or any(isinstance(o, bool) or not isinstance(o, (int, float)) or o != math.floor(o) or o < 0 for o in offs):
            raise SafetensorsError(f'tensor "{name}": data_offsets must be [begin, end] integers (got {_js(offs)})')
        begin, end = int(offs[0]), int(offs[1])
        if end < begin or end > data_len:
            raise SafetensorsError(f'tensor "{name}": data_offsets [{begin}, {end}] out of range (data section has {data_len} bytes; truncated file?)')
        want = int(np.prod(shape, dtype=np.int64)) * 4 if shape else 4
        if end - begin != want:
            raise SafetensorsError(f'tensor "{name}": {end - begin} bytes but shape [{", ".join(map(str, shape))}] of {dtype} needs {want}')
        entries.append(Entry(name, dtype, shape, begin, end))
    expect = 0
    for e in sorted(entries, key=lambda e: (e.begin, e.end)):
        if e.begin < expect:
            raise SafetensorsError(f'tensor "{e.name}": data_offsets [{e.begin}, {e.end}] overlap the previous tensor (ends at {expect})')
        if e.begin > expect:
            raise SafetensorsError(f'tensor "{e.name}": gap in the data section before offset {e.begin} (previous tensor ends at {expect})')
        expect = e.end
    if expect != data_len:
        raise SafetensorsError(f"{data_len - expect} trailing bytes after the last tensor")
    entries.sort(key=lambda e: e.name)
    return Header(entries, metadata, data_start)


def decode_safetensors(data: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Bytes -> ({name: array (a copy)}, metadata), after parse_header's checks."""
    h = parse_header(data, len(data))
    out: dict[str, np.ndarray] = {}
    for e in h.entries:
        a = np.frombuffer(data, dtype=DTYPES[e.dtype], count=(e.end - e.begin) // 4, offset=h.data_start + e.begin)
        out[e.name] = a.reshape(e.shape).astype(DTYPES[e.dtype].newbyteorder("="), copy=True)
    return out, h.metadata
