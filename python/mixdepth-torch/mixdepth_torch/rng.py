"""Seeded host-side randomness identical to @mixdepth/core's rng.ts (mulberry32, Box-Muller).

mulberry32's state after n draws is seed + n * 0x6d2b79f5 (mod 2^32), so n draws are one
vectorised hash of a counter: the same numbers as the TypeScript loop, bit for bit.
"""
from __future__ import annotations

import math

import numpy as np

_C = 0x6D2B79F5
_M = 0xFFFFFFFF


def _hash(a: np.ndarray) -> np.ndarray:
    """mulberry32's output function on states a (uint64 holding uint32) -> uniforms in [0, 1)."""
    t = a
    t = ((t ^ (t >> np.uint64(15))) * (t | np.uint64(1))) & np.uint64(_M)  # Math.imul(t ^ t >>> 15, t | 1)
    t = t ^ ((t + (((t ^ (t >> np.uint64(7))) * (t | np.uint64(61))) & np.uint64(_M))) & np.uint64(_M))
    return ((t ^ (t >> np.uint64(14))) & np.uint64(_M)).astype(np.float64) / 4294967296.0


class Mulberry32:
    """mulberry32 with its 32-bit state exposed (TS `Mulberry32`): `state` saves/restores the stream."""

    def __init__(self, seed: int) -> None:
        self._a = int(seed) & _M

    @property
    def state(self) -> int:
        return self._a

    @state.setter
    def state(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > _M:
            raise ValueError(f"rng state: must be an unsigned 32-bit integer (got {value!r})")
        self._a = value

    def uniform(self, n: int) -> np.ndarray:
        """The next n draws as float64 [n], advancing the stream."""
        states = (np.uint64(self._a) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(_C)) & np.uint64(_M)
        self._a = (self._a + n * _C) & _M
        return _hash(states)

    def next(self) -> float:
        return float(self.uniform(1)[0])


def gaussian(rng: Mulberry32, n: int, std: float = 1.0, std_first: bool = False) -> np.ndarray:
    """Box-Muller normals as float32 [n] (TS `gaussian`: r * cos(2 pi v) * std).

    `std_first` is the transformer's top-level order (r * std first, then * cos), so the float64
    products round the same way as in TypeScript.
    """
    pairs = (n + 1) // 2
    uv = rng.uniform(2 * pairs).reshape(pairs, 2)
    u = np.maximum(uv[:, 0], 1e-12)
    v = uv[:, 1]
    r = np.sqrt(-2.0 * np.log(u))
    if std_first:
        r = r * std
        out = np.stack([r * np.cos(2 * math.pi * v), r * np.sin(2 * math.pi * v)], axis=1)
    else:
        out = np.stack([r * np.cos(2 * math.pi * v) * std, r * np.sin(2 * math.pi * v) * std], axis=1)
    return out.reshape(-1)[:n].astype(np.float32)
