"""store.event_writes and store.records: stubs, events once by id, real ids, tags."""

from __future__ import annotations

import pyarrow as pa
from sqlalchemy import Engine, select

from cratedig.events import validate_event
from cratedig.store import init_db, schema
from cratedig.store.event_writes import (
    existing_ids,
    insert_event_table,
    insert_events,
    insert_stubs,
)
from cratedig.store.records import real_ids, replace_artist_tags
from cratedig.store.writes import insert_ignore


def test_stubs_are_created_once_and_never_replace_records(engine: Engine) -> None:
    init_db(engine)
    with engine.begin() as conn:
        insert_ignore(conn, schema.artists, [{"artist_id": "a1", "name": "One", "is_stub": False}])
        assert insert_stubs(conn, ["u1", "u1"], ["a1", "a2"], {"t1": "a2"}) == 3  # u1, a2, t1
        assert insert_stubs(conn, ["u1"], ["a2"], {"t1": "a1"}) == 0
        assert existing_ids(conn, schema.artists, ["a1", "a2", "a3"]) == {"a1", "a2"}
        assert real_ids(conn, schema.artists, ["a1", "a2"]) == {"a1"}
        track = conn.execute(select(schema.tracks)).one()
        name = conn.execute(
            select(schema.artists.c.name).where(schema.artists.c.artist_id == "a1")
        ).scalar_one()
    assert (track.track_id, track.artist_id, bool(track.is_stub)) == ("t1", "a2", True)
    assert name == "One"


def test_events_are_inserted_once_by_event_id(engine: Engine) -> None:
    init_db(engine)
    raw = {"user_id": "u1", "event_type": "visit", "occurred_at": 1_700_000_000}
    first = validate_event({**raw, "event_id": "e1"})
    second = validate_event({**raw, "event_id": "e2"})
    with engine.begin() as conn:
        assert insert_events(conn, [first]) == 1
        assert insert_events(conn, [first, second]) == 1
        table = pa.Table.from_pylist([second.as_row(), validate_event(raw).as_row()])
        assert insert_event_table(conn, table) == 1
        n = len(conn.execute(select(schema.user_events.c.event_id)).all())
    assert n == 3


def test_replace_artist_tags_keeps_only_the_new_ones_in_order(engine: Engine) -> None:
    init_db(engine)
    with engine.begin() as conn:
        replace_artist_tags(conn, {"a1": ["rock", "pop"], "a2": ["jazz"]})
        replace_artist_tags(conn, {"a1": ["indie"]})
        t = schema.artist_tags.c
        rows = conn.execute(select(t.artist_id, t.tag, t.rank).order_by(t.artist_id)).all()
    assert [tuple(r) for r in rows] == [("a1", "indie", 1), ("a2", "jazz", 1)]
