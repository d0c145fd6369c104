"""store.catalogue, store.lists, store.invalidations, store.feedback on both backends."""

from __future__ import annotations

import json

from sqlalchemy import Engine, select

from cratedig.store import catalogue, init_db, schema
from cratedig.store.feedback import insert_feedback, served_list
from cratedig.store.invalidations import (
    invalidations_since,
    prune_invalidations,
    record_invalidations,
)
from cratedig.store.lists import read_fallback, read_similar, read_user_list, users_with_lists
from cratedig.store.writes import insert_ignore


def _event(event_id: str, user: str, kind: str, artist: str, at: int) -> dict[str, object]:
    return {
        "event_id": event_id,
        "user_id": user,
        "event_type": kind,
        "occurred_at_ms": at,
        "artist_id": artist,
        "count": 1,
        "source": "organic",
    }


def _fill(engine: Engine) -> None:
    init_db(engine)
    with engine.begin() as conn:
        insert_ignore(
            conn,
            schema.artists,
            [
                {"artist_id": "a1", "name": "One", "is_stub": False},
                {"artist_id": "a2", "name": None, "is_stub": True},
            ],
        )
        insert_ignore(
            conn,
            schema.artist_tags,
            [
                {"artist_id": "a1", "tag": "rock", "weight": 1.0, "rank": 2},
                {"artist_id": "a1", "tag": "indie", "weight": 2.0, "rank": 1},
            ],
        )
        insert_ignore(
            conn,
            schema.tracks,
            [
                {"track_id": "t1", "artist_id": "a1", "title": "B", "is_stub": False},
                {"track_id": "t0", "artist_id": "a1", "title": "A", "is_stub": False},
                {"track_id": "ts", "artist_id": "a2", "title": None, "is_stub": True},
            ],
        )
        insert_ignore(conn, schema.users, [{"user_id": "u1", "country": "GB", "is_stub": False}])
        insert_ignore(
            conn,
            schema.user_events,
            [
                _event("e1", "u1", "follow_artist", "a1", 1),
                _event("e2", "u1", "follow_artist", "a2", 2),
                _event("e3", "u1", "unfollow_artist", "a2", 3),
                _event("e4", "u2", "play_track", "a1", 4),
                _event("e5", "u2", "play_track", "a1", 5),
            ],
        )


def test_catalogue_reads(engine: Engine) -> None:
    _fill(engine)
    with engine.connect() as conn:
        assert catalogue.artist_names(conn, ["a1", "a2", "nope", "a1"]) == {"a1": "One", "a2": None}
        assert catalogue.artist_exists(conn, "a2") and not catalogue.artist_exists(conn, "x")
        details = catalogue.artist_details(conn, "a1")
        assert details is not None
        assert details["tags"] == ["indie", "rock"]  # by weight
        assert [t["track_id"] for t in details["tracks"]] == ["t0", "t1"]  # by title
        assert details["listeners"] == 2
        assert catalogue.artist_details(conn, "nope") is None
        # real tracks only: a stub track's artist is not derived from
        assert catalogue.track_artists(conn, ["t1", "ts", "nope"]) == {"t1": "a1"}
        assert catalogue.user_row(conn, "u1").country == "GB"
        assert catalogue.user_row(conn, "u2") is None
        assert catalogue.user_ids(conn, 10) == ["u1"]
        assert catalogue.event_counts(conn, "u1") == {"follow_artist": 2, "unfollow_artist": 1}
        assert catalogue.followed_artists(conn, "u1") == ["a1"]  # a2 was unfollowed


def test_list_readers_take_the_version(engine: Engine) -> None:
    init_db(engine)
    rows = [
        {"version_id": v, "list_type": "may_like", "user_id": u, "entries": json.dumps([v, u])}
        for v in ("v1", "v2")
        for u in ("u2", "u1")
    ]
    with engine.begin() as conn:
        insert_ignore(conn, schema.precomputed_lists, rows)
        insert_ignore(
            conn,
            schema.similar_artist_lists,
            [{"version_id": "v2", "artist_id": "a1", "entries": "[1]"}],
        )
        insert_ignore(
            conn,
            schema.fallback_lists,
            [{"version_id": "v1", "scope": "country", "scope_key": "GB", "entries": "[2]"}],
        )
    with engine.connect() as conn:
        # two versions served at once: each reader reads the one it is given
        assert json.loads(read_user_list(conn, "v1", "may_like", "u1") or "") == ["v1", "u1"]
        assert json.loads(read_user_list(conn, "v2", "may_like", "u1") or "") == ["v2", "u1"]
        assert read_user_list(conn, "v3", "may_like", "u1") is None
        assert read_user_list(conn, "v1", "hidden_gems", "u1") is None
        assert read_similar(conn, "v2", "a1") == "[1]"
        assert read_similar(conn, "v1", "a1") is None
        assert read_fallback(conn, "v1", "country", "GB") == "[2]"
        assert read_fallback(conn, "v1", "country", "FR") is None
        assert users_with_lists(conn, "v2", "may_like", 1) == ["u1"]


def test_invalidations_record_poll_and_prune(engine: Engine) -> None:
    init_db(engine)
    with engine.begin() as conn:
        record_invalidations(conn, ["u1", "u2", "u1"], 1_000)
    with engine.begin() as conn:
        record_invalidations(conn, ["u2"], 5_000)  # a later mark replaces the earlier
    with engine.connect() as conn:
        assert sorted(invalidations_since(conn, 0)) == [("u1", 1_000), ("u2", 5_000)]
        assert invalidations_since(conn, 2_000) == [("u2", 5_000)]
    with engine.begin() as conn:
        assert prune_invalidations(conn, 2_000) == 1
    with engine.connect() as conn:
        assert invalidations_since(conn, 0) == [("u2", 5_000)]
    # another write in the same millisecond, or with a clock behind: still a new mark
    for at in (5_000, 4_000):
        with engine.begin() as conn:
            record_invalidations(conn, ["u2"], at)
    with engine.connect() as conn:
        assert invalidations_since(conn, 0) == [("u2", 5_002)]


def test_insert_feedback_returns_new_ids(engine: Engine) -> None:
    init_db(engine)
    row = {
        "user_id": "u1",
        "list_id": "L1",
        "artist_id": "a1",
        "kind": "thumb",
        "value": 1,
        "created_at_ms": 7,
    }
    with engine.begin() as conn:
        first = insert_feedback(conn, row)
        second = insert_feedback(conn, {**row, "kind": "rating", "value": 4})
    assert second != first
    fb = schema.feedback.c
    with engine.connect() as conn:
        stored = conn.execute(select(fb.kind, fb.value).order_by(fb.feedback_id)).all()
    assert [tuple(r) for r in stored] == [("thumb", 1), ("rating", 4)]


def test_served_list_names_the_user_and_the_artists_in_order(engine: Engine) -> None:
    init_db(engine)
    with engine.begin() as conn:
        conn.execute(
            schema.impressions.insert().values(
                list_id="L7",
                user_id="u1",
                list_type="may_like",
                artist_ids='["a3", "a1"]',
                n_items=2,
                shown_at_ms=5,
            )
        )
    with engine.connect() as conn:
        assert served_list(conn, "L7") == ("u1", ["a3", "a1"])
        assert served_list(conn, "L8") is None
