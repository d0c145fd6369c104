"""The writes of the event write path: stub records for unknown references, and
events inserted once by ``event_id`` (see :mod:`cratedig.ingest.write_path`)."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence

import pyarrow as pa
from sqlalchemy import Column, Connection, Table, select

from cratedig.events import EVENT_FIELDS, Event
from cratedig.store.reads import id_batches
from cratedig.store.schema import artists, tracks, user_events, users
from cratedig.store.writes import insert_ignore_arrow, insert_ignore_rows

#: An event's values as a tuple in the order of ``EVENT_FIELDS`` (the columns).
event_row = operator.attrgetter(*EVENT_FIELDS)


def existing_ids(conn: Connection, table: Table, ids: Iterable[str]) -> set[str]:
    """The ids among ``ids`` that ``table`` (keyed by one column) holds."""
    key: Column = next(iter(table.primary_key.columns))
    found: set[str] = set()
    for part in id_batches(sorted(set(ids))):
        found.update(conn.execute(select(key).where(key.in_(part))).scalars())
    return found


def stored_events(conn: Connection, event_ids: Iterable[str]) -> dict[str, tuple]:
    """The stored rows of ``event_ids`` (those that exist), as tuples in the order of
    ``EVENT_FIELDS``, by event id."""
    columns = [user_events.c[name] for name in EVENT_FIELDS]
    found: dict[str, tuple] = {}
    for part in id_batches(sorted(set(event_ids))):
        for row in conn.execute(select(*columns).where(user_events.c.event_id.in_(part))):
            found[row[0]] = tuple(row)
    return found


def differing_fields(given: Sequence[object], stored: Sequence[object]) -> list[str]:
    """The names of the ``EVENT_FIELDS`` in which two event rows differ."""
    return [name for name, a, b in zip(EVENT_FIELDS, given, stored, strict=True) if a != b]


def insert_stubs(
    conn: Connection,
    user_ids: Iterable[str],
    artist_ids: Iterable[str],
    track_artists: Mapping[str, str],
) -> int:
    """Insert stub users, artists and tracks (``is_stub``) where none is stored yet.

    ``track_artists`` maps each stub track to its artist (which must exist or be in
    ``artist_ids``). A stored record, stub or real, is left as it is.

    Returns
    -------
    int
        How many stub rows were created.
    """
    created = insert_ignore_rows(
        conn, users, ("user_id", "is_stub"), [(u, True) for u in sorted(set(user_ids))]
    )
    created += insert_ignore_rows(
        conn, artists, ("artist_id", "is_stub"), [(a, True) for a in sorted(set(artist_ids))]
    )
    created += insert_ignore_rows(
        conn,
        tracks,
        ("track_id", "artist_id", "is_stub"),
        [(t, a, True) for t, a in sorted(track_artists.items())],
    )
    return created


def insert_events(conn: Connection, events: Sequence[Event]) -> int:
    """Insert validated events, skipping those whose ``event_id`` is stored; how many
    were new."""
    return insert_event_rows(conn, [event_row(e) for e in events])


def insert_event_rows(conn: Connection, rows: Sequence[tuple]) -> int:
    """:func:`insert_events` for rows already made by :data:`event_row`."""
    return insert_ignore_rows(conn, user_events, EVENT_FIELDS, rows)


def insert_event_table(conn: Connection, data: pa.Table) -> int:
    """:func:`insert_events` for an Arrow table with the columns of ``EVENT_FIELDS``."""
    return insert_ignore_arrow(conn, user_events, data.select(list(EVENT_FIELDS)))
