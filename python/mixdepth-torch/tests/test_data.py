"""The data pipeline against what the TypeScript side computed (tests/ts-contract/train-ts.json):
mulberry32 draws, the shuffle, Brown's text extraction, the split, the cache key, the batches."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from mixdepth_torch.data import DataError, Document, brown_to_text, eval_batches, js_number, prepare_tokens, random_batch, shuffled, split_documents, utf16_len
from mixdepth_torch.rng import Mulberry32

F = json.loads((Path(__file__).parent / "ts-contract" / "train-ts.json").read_text())


def test_mulberry32_and_shuffle_match_ts():
    for case in F["rng"]:
        r = Mulberry32(case["seed"])
        assert [r.next() for _ in case["values"]] == case["values"]
        assert r.state == case["state"]
    s = F["shuffle"]
    assert shuffled(list(range(12)), Mulberry32(s["seed"])) == s["items"] != list(range(12))


def test_brown_text_matches_ts():
    assert brown_to_text(F["brown"]["raw"]) == F["brown"]["text"]
    assert '"no evidence",' in F["brown"]["text"]


def _docs(n, length):
    # twin-contract.ts's generator: letters, and every third document a Latin-1 and an astral character.
    return [Document(f"d{i}", "".join(chr(97 + ((i * 7 + j) % 26)) for j in range(length(i))) + (" \u00e9\U0001F600x" if i % 3 == 0 else "")) for i in range(n)]


def test_split_and_cache_key_match_ts(tmp_path):
    inputs = [_docs(40, lambda i: 50 + i), _docs(3, lambda i: 300 + 10 * i), [Document("one", "\U0001F600" * 120 + "tail")]]
    for docs, case in zip(inputs, F["split"]):
        assert [d.name for d in docs] == [d["name"] for d in case["docs"]] and [d.text for d in docs] == [d["text"] for d in case["docs"]]
        train, val = split_documents(docs, case["valFraction"], case["splitSeed"], case["minPartChars"])
        for got, want in ((train, case["train"]), (val, case["val"])):
            assert [(d.name, hashlib.sha256(d.text.encode()).hexdigest(), utf16_len(d.text)) for d in got] == [(w["name"], w["sha256"], w["length"]) for w in want]
        t = prepare_tokens(docs, case["valFraction"], case["splitSeed"], case["minPartChars"], str(tmp_path))
        assert (t.key, t.train.size, t.val.size, t.from_cache) == (case["key"], case["trainTokens"], case["valTokens"], False)
        again = prepare_tokens(docs, case["valFraction"], case["splitSeed"], case["minPartChars"], str(tmp_path))
        assert again.from_cache and np.array_equal(again.train, t.train) and np.array_equal(again.val, t.val)
    # The by-document and the within-text paths are both exercised.
    assert len(F["split"][0]["val"]) > 1 and F["split"][1]["val"][0]["name"] == "val#0"


def test_batches_match_ts():
    b = F["batches"]
    tokens = np.asarray(b["tokens"], dtype=np.int32)
    rng = Mulberry32(b["seed"])
    for want in b["random"]:
        x, y = random_batch(tokens, b["batchSize"], b["seqLen"], rng)
        assert x.shape == (b["batchSize"], b["seqLen"])
        assert x.reshape(-1).tolist() == want["inputs"] and y.reshape(-1).tolist() == want["targets"]
    assert rng.state == b["stateAfter"]
    ev = eval_batches(tokens, 2, b["seqLen"], 3)
    assert [[*x.reshape(-1).tolist()] for x, _ in ev] == [e["inputs"] for e in b["eval"]]
    assert [[*y.reshape(-1).tolist()] for _, y in ev] == [e["targets"] for e in b["eval"]]
    with pytest.raises(DataError, match=r"has 3 tokens, fewer than one window of seqLen \+ 1 = 9"):
        random_batch(np.arange(3, dtype=np.int32), 1, 8, rng)


def test_js_number():
    assert [js_number(x) for x in (0.05, 1e-5, 1e-7, 1e21, 123.0, 3e-3, 1234, -2.5e-8, 0.1 + 0.2)] == ["0.05", "0.00001", "1e-7", "1e+21", "123", "0.003", "1234", "-2.5e-8", "0.30000000000000004"]
