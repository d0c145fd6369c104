"""The one validated write path for events: files, API batches and (soon) a stream.

Every way in goes through the same steps:

1. **validate** each row with :func:`cratedig.events.validate_event` (the importer may
   vouch for plain rows with the vectorised :mod:`cratedig.ingest.event_batch`, which
   gives the same results);
2. **derive the artist** of a track event from its track (:func:`tracks_lacking_artist`
   lists what to look up, :class:`~cratedig.ingest.lookups.TrackArtists` resolves
   against real tracks only);
3. **create stubs** (``is_stub``) for unknown users and artists, and for an unknown
   track named with its artist (:func:`references` and :func:`create_stubs`);
4. **insert-or-ignore** by ``event_id``, so a repeated event is a duplicate; an
   ``event_id`` already stored with *different* content (compared on the stored
   columns) is a **conflict** (:func:`find_conflicts`): not stored, reported apart,
   and quarantined by the importer;
5. **report** accepted, duplicates, conflicts and the rejected rows with their reasons.

The file importer (:mod:`cratedig.ingest.chunk_import`) adds quarantine, strict mode
and the Arrow fast path around these steps; the API calls :func:`store_events`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine

from cratedig.clock import now_ms
from cratedig.events import Event, validate_event
from cratedig.exceptions import ValidationError
from cratedig.fields import FUTURE_TOLERANCE_MS, is_blank, latest_allowed_ms, read_text
from cratedig.ingest.lookups import TrackArtists, stored_records
from cratedig.store.event_writes import (
    differing_fields,
    event_row,
    insert_event_rows,
    insert_stubs,
    stored_events,
)
from cratedig.store.write_groups import grouped_write

#: The most events one API request may post.
MAX_BATCH = 10_000


@dataclass
class BatchResult:
    """What happened to a batch of events.

    Attributes
    ----------
    accepted, duplicates
        Events newly stored, and events already stored with the same content (or
        repeated in the batch).
    errors
        One ``{"index", "code", "field", "message"}`` per rejected event (code
        ``validation_error``) and per conflict (code ``conflict``).
    conflicts
        Events whose ``event_id`` is already stored (or earlier in the batch) with
        different content; not stored. ``accepted + duplicates + conflicts + rejected``
        is the number of events posted.
    user_ids
        The users of the stored events (their cached lists are stale).
    stubs_created
        Stub users, artists and tracks created for unknown references.
    """

    accepted: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    user_ids: set[str] = field(default_factory=set)
    stubs_created: int = 0
    conflicts: int = 0
    indices: dict[str, int] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The JSON body the API answers with."""
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
            "rejected": len(self.errors) - self.conflicts,
            "errors": self.errors,
        }


def tracks_lacking_artist(raws: Iterable[Any]) -> list[str]:
    """The track ids of raw rows that name a track but no artist (to look up before
    validation); rows whose track id is not valid text are left to the validator."""
    ids: list[str] = []
    for raw in raws:
        if not isinstance(raw, Mapping):
            continue
        if is_blank(raw.get("artist_id")) and not is_blank(raw.get("track_id")):
            try:
                track_id = read_text(raw, "track_id")
            except ValidationError:
                continue
            if track_id is not None:
                ids.append(track_id)
    return ids


def references(
    rows: Iterable[tuple[str, str | None, str | None]],
) -> tuple[set[str], set[str], dict[str, str]]:
    """The users, artists and ``track -> artist`` pairs that ``(user, artist, track)``
    rows of valid events refer to (a track counts only with its artist)."""
    users: set[str] = set()
    artists: set[str] = set()
    track_artists: dict[str, str] = {}
    for user, artist, track in rows:
        users.add(user)
        if artist is not None:
            artists.add(artist)
            if track is not None:
                track_artists.setdefault(track, artist)
    return users, artists, track_artists


def conflict_error(event_id: str, fields: Sequence[str]) -> ValidationError:
    """The error of an event whose ``event_id`` is stored with other content."""
    return ValidationError(
        "event_id",
        event_id,
        "an id not already stored with different content (conflict: the stored event "
        f"differs in {', '.join(fields)}; identical re-sends are duplicates)",
    )


def find_conflicts(conn: Connection, rows: Sequence[Sequence[Any]]) -> list[tuple[int, list[str]]]:
    """The rows (tuples in the order of ``EVENT_FIELDS``, after an insert-or-ignore)
    that differ from the stored event of the same ``event_id``: ``(index, fields)``."""
    stored = stored_events(conn, (row[0] for row in rows))
    found = []
    for index, row in enumerate(rows):
        existing = stored.get(row[0])
        if existing is not None and tuple(row) != existing:
            found.append((index, differing_fields(row, existing)))
    return found


def _error(index: int, exc: ValidationError) -> dict[str, Any]:
    return {"index": index, "code": "validation_error", "field": exc.field, "message": str(exc)}


def validate_batch(
    raws: Sequence[Any],
    resolve: Callable[[str], str | None],
    future_tolerance_ms: int = FUTURE_TOLERANCE_MS,
) -> tuple[list[Event], BatchResult]:
    """Validate raw events: the distinct valid ones, and a report of the rest.

    A row that is not a mapping, or that fails :func:`validate_event`, is an error
    naming its index; an ``event_id`` seen earlier in the batch is a duplicate. An
    event later than now plus ``future_tolerance_ms`` is an error too.
    """
    not_after_ms = latest_allowed_ms(now_ms(), future_tolerance_ms)
    result = BatchResult()
    valid: dict[str, Event] = {}
    indices: dict[str, int] = {}
    for index, raw in enumerate(raws):
        if not isinstance(raw, Mapping):
            exc = ValidationError("event", raw, "a JSON object")
            result.errors.append(_error(index, exc))
            continue
        try:
            event = validate_event(raw, resolve, not_after_ms=not_after_ms)
        except ValidationError as exc:
            result.errors.append(_error(index, exc))
            continue
        earlier = valid.get(event.event_id)
        if earlier is None:
            valid[event.event_id] = event
            indices[event.event_id] = index
        elif earlier == event:
            result.duplicates += 1
        else:
            fields = differing_fields(event_row(event), event_row(earlier))
            _add_conflict(result, index, conflict_error(event.event_id, fields))
    result.indices = indices
    return list(valid.values()), result


def _add_conflict(result: BatchResult, index: int, exc: ValidationError) -> None:
    result.conflicts += 1
    error = _error(index, exc)
    error["code"] = "conflict"
    result.errors.append(error)


def validate_posted(
    engine: Engine, raws: Sequence[Any], future_tolerance_ms: int = FUTURE_TOLERANCE_MS
) -> tuple[list[Event], BatchResult]:
    """:func:`validate_batch` for a posted batch: its length checked, and the artists of
    its tracks read from the store (what :func:`store_events` and the stream mode's
    :func:`cratedig.ingest.stream.queue_events` both do before their writes).

    Raises
    ------
    ValidationError
        When the batch is longer than ``MAX_BATCH``.
    """
    if len(raws) > MAX_BATCH:
        raise ValidationError("events", f"{len(raws)} events", f"at most {MAX_BATCH} per request")
    artists_of = TrackArtists()
    wanted = tracks_lacking_artist(raws)
    if wanted:
        with engine.connect() as conn:
            artists_of.prefetch(conn, wanted)
    return validate_batch(raws, artists_of.get, future_tolerance_ms)


def store_events(
    engine: Engine,
    raws: Sequence[Any],
    in_transaction: Callable[[Connection, set[str]], None] | None = None,
    future_tolerance_ms: int = FUTURE_TOLERANCE_MS,
) -> BatchResult:
    """Validate and store a batch of raw events (dicts), as the API posts them.

    ``in_transaction(conn, user_ids)`` runs inside the transaction that stores the
    events (the service records cache invalidations there: one commit, not two). On a
    SQLite file, batches posted at the same time by one process share that transaction
    and its commit (:func:`cratedig.store.write_groups.grouped_write`); each batch's
    result is what a transaction of its own would have given, and if the shared
    transaction fails each batch is written again alone, so ``in_transaction`` must
    write nothing but the store. Events later than now plus ``future_tolerance_ms``
    are rejected.

    Raises
    ------
    ValidationError
        When the batch is longer than ``MAX_BATCH``.
    """
    # Validation needs no write lock: only the inserts below hold it, so that one
    # worker validates its batch while another writes.
    events, result = validate_posted(engine, raws, future_tolerance_ms)
    if not events:
        return result
    users, artists, tracks = references((e.user_id, e.artist_id, e.track_id) for e in events)
    rows = [event_row(e) for e in events]
    # references already stored need no insert-or-ignore inside the write lock
    stored = stored_records(engine)
    new_users, new_artists, new_tracks = stored.unknown(users, artists, tracks)

    def write(conn: Connection) -> tuple[int, int, list[tuple[int, list[str]]]]:
        stubs = insert_stubs(conn, new_users, new_artists, new_tracks)
        inserted = insert_event_rows(conn, rows)
        conflicts = find_conflicts(conn, rows) if inserted < len(rows) else []
        if in_transaction is not None:
            in_transaction(conn, users)
        return stubs, inserted, conflicts

    # concurrent batches of this process share one transaction (one commit)
    result.stubs_created, inserted, conflicts = grouped_write(engine, write)
    stored.remember(users, artists, tracks)
    for k, fields in conflicts:
        event_id = events[k].event_id
        _add_conflict(result, result.indices[event_id], conflict_error(event_id, fields))
    result.errors.sort(key=lambda e: e["index"])
    result.accepted = inserted
    result.duplicates += len(events) - inserted - len(conflicts)
    result.user_ids = users
    return result
