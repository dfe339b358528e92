"""The twin's safetensors reader/writer: TypeScript-written files decode exactly (the fixture
files are encodeSafetensors output), encoding them again gives the same bytes, and malformed
files are refused with the TypeScript messages. Where the `safetensors` package is installed,
both implementations read each other's files."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from fixtures_ts import FIXTURES
from mixdepth_torch.safetensors_io import SafetensorsError, decode_safetensors, encode_safetensors, parse_header


def test_typescript_files_round_trip_byte_for_byte() -> None:
    files = sorted(FIXTURES.glob("*.safetensors")) + sorted(FIXTURES.glob("ck-*/model.safetensors"))
    assert len(files) >= 10
    for f in files:
        data = f.read_bytes()
        tensors, meta = decode_safetensors(data)
        assert {a.dtype for a in tensors.values()} <= {np.dtype("float32"), np.dtype("int32")}
        assert encode_safetensors(tensors, meta) == data, f.name


def test_layout_is_aligned_and_sorted() -> None:
    data = encode_safetensors({"b": np.arange(3, dtype=np.int32), "a": np.ones((2, 2), np.float32), "e": np.zeros((0, 4), np.float32)}, {"format": "pt"})
    n = struct.unpack("<Q", data[:8])[0]
    assert (8 + n) % 8 == 0
    assert data[8:8 + n].rstrip(b" ").decode() == (
        '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},'
        '"b":{"dtype":"I32","shape":[3],"data_offsets":[16,28]},"e":{"dtype":"F32","shape":[0,4],"data_offsets":[28,28]}}')
    t, _ = decode_safetensors(data)
    assert t["b"].tolist() == [0, 1, 2] and t["e"].shape == (0, 4)


@pytest.mark.parametrize("header, message", [
    (b"[]", "header must be a JSON object"),
    (b'{"x": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}}', 'tensor "x": dtype "F16" is not supported here (F32 or I32)'),
    (b'{"x": {"dtype": "Q8", "shape": [1], "data_offsets": [0, 4]}}', 'tensor "x": dtype "Q8" is unknown'),
    (b'{"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}', 'tensor "x": shape must be a list of integers >= 0 (got [-1])'),
    (b'{"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}', 'tensor "x": 4 bytes but shape [2] of F32 needs 8'),
    (b'{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 8]}}', 'tensor "x": data_offsets [0, 8] out of range'),
    (b'{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "y": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}', None),
    (b'{"__metadata__": {"a": 1}}', '__metadata__."a" must be a string (got 1)'),
    (b'{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, NaN]}}', "header is not valid UTF-8 JSON"),
])
def test_malformed_headers_are_refused(header: bytes, message: str | None) -> None:
    data = struct.pack("<Q", len(header)) + header + b"\0\0\0\0"
    if message is None:  # a zero-size tensor at the start is not an overlap
        parse_header(data, len(data))
        return
    with pytest.raises(SafetensorsError) as e:
        parse_header(data, len(data))
    assert message in str(e.value)


def test_the_safetensors_package_reads_ours_and_we_read_its() -> None:
    st = pytest.importorskip("safetensors.numpy")
    a = {"w": np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32), "i": np.arange(4, dtype=np.int32)}
    got = st.load(encode_safetensors(a, {"format": "pt"}))
    assert all(np.array_equal(got[k], a[k]) for k in a)
    back, _ = decode_safetensors(st.save(a, metadata={"format": "pt"}))
    assert all(np.array_equal(back[k], a[k]) for k in a)
