"""recent_activity and build_side_info against a hand-built store."""

from __future__ import annotations

import numpy as np
import pytest

from cratedig.exceptions import ValidationError
from cratedig.matrix import EngagementConfig, IdMap
from cratedig.matrix.recent import RecentEvent, recent_activity
from cratedig.matrix.side import build_side_info
from cratedig.store import schema
from cratedig.store.writes import insert_ignore
from tests.matrix.helpers import T0, add_events, event


def test_recent_activity(engine):
    add_events(
        engine,
        [
            event("u1", "play_track", "a1", T0 + 1, duration_ms=60_000),  # 0.5
            event("u1", "play_track", "a2", T0 + 2, duration_ms=10_000),  # skip: weight 0
            event("u1", "like_track", "a3", T0 + 3, count=2),  # 4
            event("u1", "visit", None, T0 + 4),  # no artist
            event("u1", "pause_track", "a1", T0 + 5),  # weight 0
            event("u1", "unfollow_artist", "a4", T0 + 6),  # -5
            event("u1", "follow_artist", "a5", T0 - 10),  # before since
            event("u2", "follow_artist", "a1", T0 + 7),  # another user
        ],
    )
    got = recent_activity(engine, "u1", since_ms=T0)
    assert got == [
        RecentEvent("a4", "unfollow_artist", -5.0, T0 + 6),
        RecentEvent("a3", "like_track", 4.0, T0 + 3),
        RecentEvent("a1", "play_track", 0.5, T0 + 1),
    ]
    assert recent_activity(engine, "u1", since_ms=T0, limit=2) == got[:2]
    assert [e.artist_id for e in recent_activity(engine, "u1", since_ms=T0 - 10)][-1] == "a5"
    custom = EngagementConfig(weights={"like_track": 1.0, "pause_track": 0.5})
    assert recent_activity(engine, "u1", T0, config=custom) == [
        RecentEvent("a1", "pause_track", 0.5, T0 + 5),
        RecentEvent("a3", "like_track", 2.0, T0 + 3),
    ]
    # the play durations and the unfollow policy of the configuration apply too
    config = EngagementConfig(unfollow_policy="ignore", full_play_ms=60_000, skip_ms=5_000)
    assert recent_activity(engine, "u1", T0, config=config) == [
        RecentEvent("a3", "like_track", 4.0, T0 + 3),
        RecentEvent("a2", "play_track", 10_000 / 60_000, T0 + 2),
        RecentEvent("a1", "play_track", 1.0, T0 + 1),
    ]
    assert recent_activity(engine, "nobody", since_ms=0) == []
    with pytest.raises(ValidationError, match="limit"):
        recent_activity(engine, "u1", since_ms=0, limit=0)


def test_build_side_info(engine):
    with engine.begin() as conn:
        insert_ignore(
            conn,
            schema.artists,
            [
                {"artist_id": "a1", "name": "Alpha", "is_stub": False},
                {"artist_id": "a2", "name": None, "is_stub": True},
                {"artist_id": "a9", "name": "Not in the map", "is_stub": False},
            ],
        )
        insert_ignore(
            conn,
            schema.artist_tags,
            [
                {"artist_id": "a1", "tag": "rock", "weight": 3.0},
                {"artist_id": "a1", "tag": "indie", "weight": 1.0},
                {"artist_id": "a2", "tag": "rock", "weight": 2.0},
                {"artist_id": "a9", "tag": "polka", "weight": 9.0},
            ],
        )
        insert_ignore(
            conn,
            schema.users,
            [
                {"user_id": "u1", "country": "SE", "is_stub": False},
                {"user_id": "u2", "country": "", "is_stub": False},
                {"user_id": "u3", "country": "BR", "is_stub": False},
            ],
        )
        insert_ignore(
            conn,
            schema.user_friends,
            [
                {"user_id": "u1", "friend_id": "u3"},
                {"user_id": "u3", "friend_id": "u1"},  # both directions stored
                {"user_id": "u2", "friend_id": "u3"},  # one direction only
                {"user_id": "u2", "friend_id": "u8"},  # friend outside the map
            ],
        )
    users = IdMap(["u1", "u2", "u3", "u4"])  # u4 has no users row
    artists = IdMap(["a1", "a2", "a3"])  # a3 has no artists row
    side = build_side_info(engine, users, artists)
    assert side.tag_names == ["indie", "rock"]
    assert side.artist_tags.toarray().tolist() == [[1.0, 3.0], [0.0, 2.0], [0.0, 0.0]]
    assert side.country_names == ["BR", "SE"]
    assert side.user_country.tolist() == [1, -1, 0, -1]
    assert side.friends.toarray().tolist() == [
        [0, 0, 1, 0],
        [0, 0, 1, 0],
        [1, 1, 0, 0],
        [0, 0, 0, 0],
    ]
    assert side.artist_names == ["Alpha", "a2", "a3"]
    assert side.user_country.dtype == np.int64
