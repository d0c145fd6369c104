"""ingest.lookups.StoredRecords: the API's batches skip the stub inserts of references
already stored, with the same stubs and counts as before."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, Engine, select

from cratedig.ingest import write_path
from cratedig.ingest.lookups import StoredRecords, stored_records
from cratedig.ingest.write_path import store_events
from cratedig.store import schema
from cratedig.store.event_writes import insert_stubs as write_path_stubs

PAST = "2025-01-01T00:00:00Z"


def _play(event_id: str, user_id: str, artist_id: str, track_id: str | None = None) -> dict:
    raw = {
        "event_id": event_id,
        "user_id": user_id,
        "event_type": "play_track",
        "artist_id": artist_id,
        "occurred_at": PAST,
    }
    if track_id is not None:
        raw["track_id"] = track_id
    return raw


def test_known_references_are_not_inserted_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple] = []

    def insert_stubs(conn: Connection, users: set, artists: set, tracks: dict) -> int:
        asked.append((set(users), set(artists), dict(tracks)))
        return write_path_stubs(conn, users, artists, tracks)

    monkeypatch.setattr(write_path, "insert_stubs", insert_stubs)
    first = store_events(engine, [_play("e1", "u1", "a1", "t1"), _play("e2", "u2", "a1")])
    assert first.stubs_created == 4  # u1, u2, a1, t1
    known = stored_records(engine)
    assert (known.users, known.artists, known.tracks) == ({"u1", "u2"}, {"a1"}, {"t1"})
    second = store_events(engine, [_play("e3", "u1", "a1", "t1"), _play("e4", "u3", "a2")])
    assert (second.accepted, second.stubs_created) == (2, 2)  # u3 and a2
    assert asked[1] == ({"u3"}, {"a2"}, {})  # nothing known was inserted again
    with engine.connect() as conn:
        users = set(conn.execute(select(schema.users.c.user_id)).scalars())
        artists = set(conn.execute(select(schema.artists.c.artist_id)).scalars())
    assert users == {"u1", "u2", "u3"} and artists == {"a1", "a2"}


def test_unknown_drops_what_is_known_and_memory_stays_bounded() -> None:
    records = StoredRecords(limit=3)
    records.remember({"u1", "u2"}, {"a1"}, ["t1"])
    assert records.unknown({"u1", "u3"}, {"a1", "a2"}, {"t1": "a1", "t2": "a2"}) == (
        {"u3"},
        {"a2"},
        {"t2": "a2"},
    )
    records.remember({"u3"}, set(), [])
    records.remember({"u4"}, set(), [])  # 3 users known: cleared before adding
    assert records.users == {"u4"}


def test_a_failed_batch_is_not_remembered(engine: Engine) -> None:
    def hook(conn: Connection, users: set[str]) -> None:
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        store_events(engine, [_play("e1", "u1", "a1")], hook)
    assert "u1" not in stored_records(engine).users
    assert store_events(engine, [_play("e1", "u1", "a1")]).stubs_created == 2
