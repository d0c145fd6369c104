"""Transforms and interaction filters of the engagement matrix, by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cratedig.matrix import EngagementConfig, build_engagement
from cratedig.matrix.transforms import IDF_FLOOR
from tests.matrix.helpers import T0, add_events, dense, event

# u1: a1=2, a2=4 | u2: a2=1, a3=2 | u3: a2=5 | u4: a3=1.5
RAW = {
    ("u1", "a1"): 2.0,
    ("u1", "a2"): 4.0,
    ("u2", "a2"): 1.0,
    ("u2", "a3"): 2.0,
    ("u3", "a2"): 5.0,
    ("u4", "a3"): 1.5,
}


@pytest.fixture
def small(engine):
    add_events(
        engine,
        [
            event("u1", "like_track", "a1", T0),
            event("u1", "like_track", "a2", T0, count=2),
            event("u2", "tag_artist", "a2", T0, tag="pop"),
            event("u2", "like_track", "a3", T0),
            event("u3", "follow_artist", "a2", T0),
            event("u4", "add_track_to_playlist", "a3", T0),
        ],
    )
    return engine


def _bm25_expected(k1: float, b: float) -> dict[tuple[str, str], float]:
    length = {"u1": 6.0, "u2": 3.0, "u3": 5.0, "u4": 1.5}
    mean = sum(length.values()) / 4
    expected = {}
    for (u, a), x in RAW.items():
        norm = (1 - b) + b * length[u] / mean
        expected[(u, a)] = max(x * (k1 + 1) / (k1 * norm + x) * _idf(a), IDF_FLOOR)
    return expected


def _idf(artist: str) -> float:
    # N = 4 users; users per artist: a1 1, a2 3, a3 2 -> log N - log(1 + df)
    df = {"a1": 1, "a2": 3, "a3": 2}[artist]
    return math.log(4) - math.log1p(df)


def test_transforms_by_hand(small):
    assert dense(build_engagement(small)) == RAW

    log = dense(build_engagement(small, EngagementConfig(transform="log1p")))
    assert log == pytest.approx({k: math.log1p(v) for k, v in RAW.items()})
    binary = dense(build_engagement(small, EngagementConfig(transform="binary")))
    assert binary == {k: 1.0 for k in RAW}

    cfg = EngagementConfig(transform="bm25", bm25_k1=1.2, bm25_b=0.75)
    eng = build_engagement(small, cfg)
    got = dense(eng)
    assert got == pytest.approx(_bm25_expected(1.2, 0.75), rel=1e-6)
    # spelled out for u1 x a1: len 6, mean len 3.875, df 1 -> idf log 2
    norm = 0.25 + 0.75 * 6 / 3.875
    assert got[("u1", "a1")] == pytest.approx(2 * 2.2 / (1.2 * norm + 2) * math.log(2), rel=1e-6)
    # a2 is engaged by 3 of 4 users: idf log(4) - log(4) = 0, floored so the pair stays seen
    assert got[("u3", "a2")] == pytest.approx(IDF_FLOOR)
    # the transform keeps the last-interaction times aligned with X
    assert np.array_equal(eng.X.indptr, eng.last_ms.indptr)
    assert np.array_equal(eng.X.indices, eng.last_ms.indices)
    default_bm25 = dense(build_engagement(small, EngagementConfig(transform="bm25")))
    assert default_bm25 == pytest.approx(_bm25_expected(100.0, 0.8), rel=1e-6)

    tfidf = dense(build_engagement(small, EngagementConfig(transform="tfidf")))
    expected = {k: max(math.sqrt(v) * _idf(k[1]), IDF_FLOOR) for k, v in RAW.items()}
    assert tfidf == pytest.approx(expected, rel=1e-6)


@pytest.fixture
def chain(engine):
    """u1: a1 a2 a3 | u2: a1 a2 | u3: a1 | u4: a3 a4 (every entry a like, weight 2)."""
    links = {"u1": ["a1", "a2", "a3"], "u2": ["a1", "a2"], "u3": ["a1"], "u4": ["a3", "a4"]}
    add_events(engine, [event(u, "like_track", a, T0) for u, arts in links.items() for a in arts])
    return engine


def test_filters_one_round_and_to_fixed_point(chain):
    cfg = EngagementConfig(
        min_user_interactions=2, min_artist_interactions=2, filter_until_stable=False
    )
    eng = build_engagement(chain, cfg)
    # round 1 drops u3 (1 artist) and a4 (1 user) at once; u4 keeps only a3
    assert eng.users.ids == ["u1", "u2", "u4"]
    assert eng.artists.ids == ["a1", "a2", "a3"]
    assert set(dense(eng)) == {
        ("u1", "a1"),
        ("u1", "a2"),
        ("u1", "a3"),
        ("u2", "a1"),
        ("u2", "a2"),
        ("u4", "a3"),
    }

    cfg = EngagementConfig(min_user_interactions=2, min_artist_interactions=2)
    eng = build_engagement(chain, cfg)
    # round 2 drops u4 (now 1 artist); round 3 drops a3 (now 1 user); round 4 is stable
    assert eng.users.ids == ["u1", "u2"]
    assert eng.artists.ids == ["a1", "a2"]
    assert dense(eng) == {(u, a): 2.0 for u in ("u1", "u2") for a in ("a1", "a2")}

    eng = build_engagement(chain, EngagementConfig(min_user_interactions=3))
    assert eng.users.ids == ["u1"] and eng.artists.ids == ["a1", "a2", "a3"]
