"""Popularity, the long tail (top shares, Lorenz curve, Gini) and top per country."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Engine

from cratedig.analytics.artists import (
    artist_popularity,
    gini,
    long_tail_summary,
    lorenz_curve,
    top_artists_by_country,
    top_share,
)

from ._data import MONDAY, artist, ev, load, user

PLAYS = [50, 20, 10, 5, 5, 4, 3, 2, 1, 0]  # sum 100


def test_gini_by_hand() -> None:
    # sorted [0, 0, 1, 3]: 2 * (3*1 + 4*3) / (4 * 4) - 5/4 = 0.625
    assert gini([3, 0, 1, 0]) == pytest.approx(0.625)
    assert gini([2, 2, 2]) == pytest.approx(0.0)
    assert gini([0, 0, 0, 5]) == pytest.approx(0.75)  # (n - 1) / n
    assert gini([]) == 0.0 and gini([0, 0]) == 0.0


def test_lorenz_and_top_share_by_hand() -> None:
    x, y = lorenz_curve([3, 0, 1, 0])
    assert x.tolist() == [0, 0.25, 0.5, 0.75, 1]
    assert y.tolist() == [0, 0, 0, 0.25, 1]
    assert top_share(PLAYS, 0.01) == pytest.approx(0.5)  # ceil(0.1) = 1 artist
    assert top_share(PLAYS, 0.20) == pytest.approx(0.7)  # 2 artists
    assert top_share(np.zeros(3), 0.2) == 0.0


@pytest.fixture
def popular_store(engine: Engine) -> Engine:
    rows = []
    for i, plays in enumerate(PLAYS):
        if i == 0:
            rows += [
                ev("u1", MONDAY, artist="a0", count=48),
                ev("u2", MONDAY, artist="a0"),
                ev("u3", MONDAY, artist="a0"),
            ]
        elif plays:
            rows.append(ev("u1", MONDAY, artist=f"a{i}", count=plays))
    rows.append(ev("u2", MONDAY, "like_track", artist="a9"))  # not a play
    rows.append(ev("u2", MONDAY, artist="a1", count=0))  # zero plays: not a listener
    load(
        engine,
        rows,
        users=[user("u1", country="FR"), user("u2", country="FR"), user("u3", country="DE")],
        artists=[artist(f"a{i}") for i in range(10)],
    )
    return engine


def test_popularity_and_long_tail(popular_store: Engine) -> None:
    pop = artist_popularity(popular_store)
    assert pop.height == 10
    assert pop["plays"].to_list() == PLAYS
    assert pop.row(0, named=True) == {"artist_id": "a0", "name": "A0", "plays": 50, "listeners": 3}
    listeners = dict(pop.select("artist_id", "listeners").iter_rows())
    assert listeners["a1"] == 1 and listeners["a9"] == 0
    tail = long_tail_summary(pop)
    # listeners [3, 1, 1, 1, 1, 1, 1, 1, 1, 0]: sum 11
    assert tail["top1pct_artists"] == 1 and tail["top20pct_artists"] == 2
    assert tail["top1pct_share_of_plays"] == pytest.approx(0.5)
    assert tail["top20pct_share_of_plays"] == pytest.approx(0.7)
    assert tail["top1pct_share_of_listeners"] == pytest.approx(3 / 11, abs=1e-6)
    assert tail["top20pct_share_of_listeners"] == pytest.approx(4 / 11, abs=1e-6)
    # plays ascending [0,1,2,3,4,5,5,10,20,50]: sum(i * x_i) = 865 -> 1730/1000 - 1.1
    assert tail["gini_plays"] == pytest.approx(0.63, abs=1e-6)
    # listeners ascending [0,1,1,1,1,1,1,1,1,3]: sum(i*x_i) = 2+3+...+9 + 30 = 74
    assert tail["gini_listeners"] == pytest.approx(2 * 74 / 110 - 1.1, abs=1e-6)
    assert tail["artists_played"] == 9


def test_top_artists_by_country(popular_store: Engine) -> None:
    top = top_artists_by_country(popular_store, n=2)
    assert top.select("country", "rank", "artist_id", "plays").rows() == [
        ("DE", 1, "a0", 1),
        ("FR", 1, "a0", 49),
        ("FR", 2, "a1", 20),
    ]
    assert top["name"].to_list() == ["A0", "A0", "A1"]
