"""Known answers for packages/core's RNG tests (rng.test.ts, seed.test.ts), computed
independently of the TypeScript: mulberry32, Box-Muller and the derived-seed salts written
again with Python integers and explicit 32-bit masks. Run: /usr/bin/python3 packages/core/scripts/known-answers.py
"""
import math
import struct

M = 0xFFFFFFFF


def imul(a, b):
    return (a & M) * (b & M) & M


def mulberry32(seed):
    a = seed & M
    while True:
        a = (a + 0x6D2B79F5) & M
        t = a
        t = imul(t ^ (t >> 15), t | 1)
        t = (t ^ ((t + imul(t ^ (t >> 7), t | 61)) & M)) & M
        yield ((t ^ (t >> 14)) & M) / 4294967296


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def gaussian(rand, n, std=1.0):
    out = []
    while len(out) < n:
        u = max(next(rand), 1e-12)
        v = next(rand)
        r = math.sqrt(-2 * math.log(u))
        out.append(f32(r * math.cos(2 * math.pi * v) * std))
        if len(out) < n:
            out.append(f32(r * math.sin(2 * math.pi * v) * std))
    return out


def first(seed, n):
    g = mulberry32(seed)
    return [next(g) for _ in range(n)]


SALTS = {
    "top-weights": lambda s, i: (s & M) ^ 0x5EED,
    "block-router": lambda s, i: (s * 1000003 + i * 7919) & M,
    "stochastic-router": lambda s, i: (s & M) ^ 0x5BD1E995,
    "batches": lambda s, i: (s & M) ^ 0x0BA7C4,
}

if __name__ == "__main__":
    for s in [0, 1, 42, 4294967295]:
        print("mulberry32", s, [repr(x) for x in first(s, 4)])
    print("gaussian(mulberry32(42), 5)", [repr(x) for x in gaussian(mulberry32(42), 5)])
    print("gaussian(mulberry32(5), 3, 0.5)", [repr(x) for x in gaussian(mulberry32(5), 3, 0.5)])
    print("state of Mulberry32(7) after 3 draws", (7 + 3 * 0x6D2B79F5) & M)
    for p, f in SALTS.items():
        for s, i in [(0, 0), (1, 0), (42, 3), (-1, 1), (2**31, 2), (7, 255)]:
            v = f(s, i)
            print("deriveSeed", p, s, i, v, repr(first(v, 1)[0]))
