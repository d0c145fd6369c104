"""build_engagement on hand-built event tables, on SQLite and PostgreSQL."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from cratedig.config import Settings
from cratedig.exceptions import ValidationError
from cratedig.matrix import EngagementConfig, build_engagement
from tests.matrix.helpers import DAY, T0, add_events, dense, event, pairs

FULL = 200_000  # a play longer than FULL_PLAY_MS (120 s)


def _follow_story() -> list[dict]:
    return [
        # u1 follows a1, plays it, then unfollows it; follows a2 and keeps it.
        event("u1", "follow_artist", "a1", T0),
        event("u1", "play_track", "a1", T0 + 1, duration_ms=FULL),
        event("u1", "unfollow_artist", "a1", T0 + 2 * DAY),
        event("u1", "follow_artist", "a2", T0),
        # u2 follows a1, unfollows it, then follows it again.
        event("u2", "follow_artist", "a1", T0),
        event("u2", "unfollow_artist", "a1", T0 + DAY),
        event("u2", "follow_artist", "a1", T0 + 3 * DAY),
        # u3 only ever unfollowed a2: no weighted interaction at all.
        event("u3", "unfollow_artist", "a2", T0 + DAY),
    ]


def test_unfollow_after_follow_removes_the_follow_and_blocks(engine):
    add_events(engine, _follow_story())
    eng = build_engagement(engine)
    assert eng.users.ids == ["u1", "u2"]
    assert eng.artists.ids == ["a1", "a2"]
    # follow weight 5 cancelled; the full play (1) stays; the re-follow counts again.
    assert dense(eng) == {("u1", "a1"): 1.0, ("u1", "a2"): 5.0, ("u2", "a1"): 5.0}
    assert pairs(eng.blocked, eng) == {("u1", "a1")}
    assert eng.blocked.dtype == bool and eng.blocked.shape == eng.X.shape
    assert eng.built_at_ms == T0 + 3 * DAY  # the latest event
    assert eng.X.dtype == np.float32 and isinstance(eng.X, sp.csr_matrix)


def test_unfollow_block_window_and_other_policies(engine):
    add_events(engine, _follow_story())
    # u1's unfollow is 1 day before now: blocked for 1 day (inclusive), not for half a day.
    assert eng_blocked(engine, block_days=1.0) == {("u1", "a1")}
    assert eng_blocked(engine, block_days=0.5) == set()
    assert eng_blocked(engine, block_days=0) == set()
    assert eng_blocked(engine, block_days=None) == {("u1", "a1")}

    negative = build_engagement(engine, EngagementConfig(unfollow_policy="negative"))
    assert dense(negative) == {("u1", "a1"): 1.0, ("u1", "a2"): 5.0, ("u2", "a1"): 5.0}
    assert pairs(negative.blocked, negative) == {("u1", "a1")}

    ignore = build_engagement(engine, EngagementConfig(unfollow_policy="ignore"))
    assert dense(ignore) == {("u1", "a1"): 6.0, ("u1", "a2"): 5.0, ("u2", "a1"): 10.0}
    assert ignore.blocked.nnz == 0


def eng_blocked(engine, **kwargs) -> set[tuple[str, str]]:
    eng = build_engagement(engine, EngagementConfig(**kwargs))
    return pairs(eng.blocked, eng)


def test_negative_policy_clips_negative_sums_to_zero(engine):
    add_events(
        engine,
        [
            event("u1", "unfollow_artist", "a1", T0),  # -5 alone
            event("u1", "like_track", "a1", T0),  # +2 -> -3, clipped away
            event("u1", "like_track", "a2", T0),
        ],
    )
    eng = build_engagement(engine, EngagementConfig(unfollow_policy="negative"))
    assert dense(eng) == {("u1", "a2"): 2.0}
    assert eng.blocked.nnz == 0  # a1 was clipped out of the artist map


def test_skip_versus_full_play(engine):
    add_events(
        engine,
        [
            event("u1", "play_track", "a1", T0, duration_ms=FULL),  # full: 1
            event("u1", "play_track", "a2", T0, duration_ms=20_000),  # skip (< 30 s): 0
            event("u1", "play_track", "a3", T0, duration_ms=60_000),  # half of 120 s: 0.5
            event("u1", "play_track", "a4", T0),  # no duration: a full play
            event("u2", "play_track", "a2", T0, duration_ms=120_000),  # exactly full: 1
            event("u2", "skip_track", "a5", T0),  # weight 0: no pair
        ],
    )
    eng = build_engagement(engine)
    assert eng.artists.ids == ["a1", "a2", "a3", "a4"]
    assert dense(eng) == {
        ("u1", "a1"): 1.0,
        ("u1", "a3"): 0.5,
        ("u1", "a4"): 1.0,
        ("u2", "a2"): 1.0,
    }
    partial = build_engagement(engine, EngagementConfig(skip_fraction=0.25))
    assert dense(partial)[("u1", "a2")] == pytest.approx(0.25)
    heavy = build_engagement(
        engine, EngagementConfig(weights={"play_track": 2.0}, full_play_ms=240_000)
    )
    # weight 2 * min(1, d / 240 s): 200 s -> 5/3, 60 s -> 0.5, none -> 2, 120 s -> 1
    assert dense(heavy) == pytest.approx(
        {("u1", "a1"): 2 * 200 / 240, ("u1", "a3"): 0.5, ("u1", "a4"): 2.0, ("u2", "a2"): 1.0}
    )


def test_time_decay(engine):
    add_events(
        engine,
        [
            event("u1", "like_track", "a1", T0 + 20 * DAY),  # age 0: 2
            event("u1", "like_track", "a2", T0 + 10 * DAY),  # one half-life: 1
            event("u1", "play_track", "a3", T0, duration_ms=FULL),  # two: 0.25
            event("u1", "like_track", "a4", T0 + 30 * DAY),  # after now_ms: left out
        ],
    )
    cfg = EngagementConfig(half_life_days=10, now_ms=T0 + 20 * DAY)
    eng = build_engagement(engine, cfg)
    assert eng.built_at_ms == T0 + 20 * DAY
    assert dense(eng) == pytest.approx({("u1", "a1"): 2.0, ("u1", "a2"): 1.0, ("u1", "a3"): 0.25})
    assert eng.last_ms.toarray().tolist() == [[T0 + 20 * DAY, T0 + 10 * DAY, T0]]
    # default now: the latest event (T0 + 30 days)
    latest = build_engagement(engine, EngagementConfig(half_life_days=10))
    assert latest.built_at_ms == T0 + 30 * DAY
    assert dense(latest) == pytest.approx(
        {("u1", "a1"): 1.0, ("u1", "a2"): 0.5, ("u1", "a3"): 0.125, ("u1", "a4"): 2.0}
    )


def test_duplicate_and_aggregated_rows(engine):
    rows = [
        event("u1", "play_track", "a1", T0, event_id="e1", duration_ms=FULL, count=3),
        event("u1", "play_track", "a1", T0, event_id="e1", duration_ms=FULL, count=3),  # dup
        event("u1", "like_track", "a1", T0 + 5, event_id="e2", count=2),  # 2 * 2
        event("u1", "share_artist", "a2", T0, event_id="e3"),
        event("u1", "share_artist", "a2", T0, event_id="e4"),  # same content, new id: counts
        event("u2", "add_track_to_playlist", "a2", T0, event_id="e5", count=0),  # counts 0
        event("u2", "tag_artist", "a2", T0 + 7, event_id="e6", tag="rock"),
    ]
    assert add_events(engine, rows) == 6
    eng = build_engagement(engine)
    assert dense(eng) == {("u1", "a1"): 3.0 + 4.0, ("u1", "a2"): 8.0, ("u2", "a2"): 1.0}
    assert dense_last(eng) == {("u1", "a1"): T0 + 5, ("u1", "a2"): T0, ("u2", "a2"): T0 + 7}


def dense_last(eng) -> dict[tuple[str, str], int]:
    coo = eng.last_ms.tocoo()
    return {
        (eng.users.id(r), eng.artists.id(c)): int(v)
        for r, c, v in zip(coo.row, coo.col, coo.data, strict=True)
    }


def test_direct_signals_outweigh_indirect_ones():
    w = EngagementConfig().weights
    direct = min(w["follow_artist"], w["share_artist"])
    indirect = ["like_track", "share_track", "add_track_to_playlist", "play_track", "tag_artist"]
    assert all(direct > w[t] for t in indirect)


def test_weights_come_from_settings():
    settings = Settings(weights={**Settings().weights, "like_track": 7.0})
    cfg = EngagementConfig.from_settings(settings, half_life_days=3)
    assert cfg.weight("like_track") == 7.0 and cfg.half_life_days == 3
    with pytest.raises(ValidationError, match="transform"):
        EngagementConfig(transform="sqrt")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="weights"):
        EngagementConfig(weights={"plya": 1.0})


def test_empty_store(engine):
    eng = build_engagement(engine)
    assert eng.X.shape == (0, 0) and len(eng.users) == 0 and eng.blocked.nnz == 0


def test_save_and_load_round_trip(engine, tmp_path):
    add_events(engine, _follow_story())
    eng = build_engagement(engine, EngagementConfig(half_life_days=5, transform="log1p"))
    eng.save(tmp_path / "eng")
    back = type(eng).load(tmp_path / "eng")
    assert back.users == eng.users and back.artists == eng.artists
    assert (back.X != eng.X).nnz == 0 and back.X.dtype == np.float32
    assert (back.blocked != eng.blocked).nnz == 0 and (back.last_ms != eng.last_ms).nnz == 0
    assert back.built_at_ms == eng.built_at_ms and back.config == eng.config
