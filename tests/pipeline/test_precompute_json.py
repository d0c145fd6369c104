"""The lists' JSON written as text is the string ``items_json`` gives for the same entries."""

from __future__ import annotations

import json
import random

import numpy as np

from cratedig.pipeline.precompute import entries_json, items_json


def test_entries_json_is_items_json() -> None:
    rng = random.Random(0)
    ids = [f'a{i}"é\\x' if i % 7 == 0 else f"hetrec-a{i}" for i in range(50)]
    encoded = [json.dumps(a) for a in ids]
    texts_pool = [None, "because you listen to A and B", 'Ünïcode "q" \\ x']
    for trial in range(500):
        n = rng.randint(0, 30)
        items = [rng.randrange(50) for _ in range(n)]
        scores = [
            float(np.float32(rng.uniform(-2, 2) * 10 ** rng.randint(-8, 3))) for _ in range(n)
        ]
        if n and trial % 5 == 0:
            scores[0] = -0.0
        texts = [rng.choice(texts_pool) for _ in range(rng.randint(0, n))]
        expected = []
        for col, (a, s) in enumerate(zip(items, scores, strict=True)):
            entry: dict[str, object] = {"artist_id": ids[a], "score": round(float(s), 6)}
            if col < len(texts):
                entry["explanation"] = texts[col]
            expected.append(entry)
        assert entries_json(encoded, zip(items, scores, strict=True), texts) == items_json(expected)
