"""Store events and feedback posted to the API.

Events are validated with :func:`cratedig.events.validate_event`, exactly like the
importer: a track event without ``artist_id`` gets it from its track; unknown users
and artists get stub rows (``is_stub``) so that the catalogue can catch up later.
Writes are idempotent by ``event_id``: a repeated event is reported as a duplicate
and stored once. A batch is written in one transaction with multi-row inserts.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, select

from cratedig.events import EVENT_FIELDS, MAX_ID_LENGTH, Event, is_storable_text, validate_event
from cratedig.exceptions import ValidationError
from cratedig.store.engine import write_lock
from cratedig.store.schema import artists, feedback, tracks, user_events, users
from cratedig.store.writes import insert_ignore_rows

MAX_BATCH = 10_000
MAX_COUNT = 1_000_000
MAX_DURATION_MS = 10**10


@dataclass
class BatchResult:
    """What happened to a batch of posted events."""

    accepted: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    user_ids: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": len(self.errors),
            "errors": self.errors,
        }


_row = operator.attrgetter(*EVENT_FIELDS)  # Event -> tuple in column order


def _resolver(engine: Engine, raws: Sequence[Any]) -> dict[str, str]:
    """The artists of the tracks named by events that lack ``artist_id``."""
    wanted = {
        str(r["track_id"]).strip()
        for r in raws
        if isinstance(r, Mapping) and r.get("track_id") and not r.get("artist_id")
    }
    wanted = {t for t in wanted if len(t) <= MAX_ID_LENGTH and is_storable_text(t)}
    if not wanted:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(tracks.c.track_id, tracks.c.artist_id).where(
                tracks.c.track_id.in_(sorted(wanted))
            )
        ).all()
    return {r.track_id: r.artist_id for r in rows}


def check_limits(event: Event) -> Event:
    """The API's stricter caps on top of :func:`validate_event`'s (which checks text).

    Raises
    ------
    ValidationError
        Naming the field.
    """
    if event.count > MAX_COUNT:
        raise ValidationError("count", event.count, f"a whole number from 0 to {MAX_COUNT}")
    if event.duration_ms is not None and event.duration_ms > MAX_DURATION_MS:
        raise ValidationError(
            "duration_ms", event.duration_ms, f"a whole number from 0 to {MAX_DURATION_MS}"
        )
    return event


def _error(index: int, exc: ValidationError) -> dict[str, Any]:
    return {
        "index": index,
        "code": "validation_error",
        "field": exc.field,
        "message": str(exc),
    }


def store_events(
    engine: Engine,
    raws: Sequence[Any],
    in_transaction: Callable[[Connection, set[str]], None] | None = None,
) -> BatchResult:
    """Validate and store a batch of raw events (dicts).

    ``in_transaction(conn, user_ids)`` runs inside the events' own transaction (the
    service records cache invalidations there: one commit per request, not two).

    Raises
    ------
    ValidationError
        When the batch is longer than ``MAX_BATCH``.
    """
    if len(raws) > MAX_BATCH:
        raise ValidationError("events", f"{len(raws)} events", f"at most {MAX_BATCH} per request")
    result = BatchResult()
    # Validation needs no write lock: only the inserts below hold it, so that one
    # worker validates its batch while another writes.
    track_artist = _resolver(engine, raws)
    valid: dict[str, Event] = {}
    for index, raw in enumerate(raws):
        if not isinstance(raw, Mapping):
            result.errors.append(
                {
                    "index": index,
                    "code": "validation_error",
                    "field": "event",
                    "message": f"event: {raw!r} is not valid; expected a JSON object.",
                }
            )
            continue
        try:
            event = check_limits(validate_event(raw, track_artist.get))
        except ValidationError as exc:
            result.errors.append(_error(index, exc))
            continue
        if event.event_id in valid:
            result.duplicates += 1
            continue
        valid[event.event_id] = event
    if not valid:
        return result
    events = list(valid.values())
    with write_lock(engine), engine.begin() as conn:
        # plain executemany (COPY on PostgreSQL): SQLAlchemy's per-row parameter
        # handling cost as much as validating the events
        user_ids = sorted({e.user_id for e in events})
        insert_ignore_rows(conn, users, ("user_id", "is_stub"), [(u, True) for u in user_ids])
        artist_ids = sorted({e.artist_id for e in events if e.artist_id is not None})
        insert_ignore_rows(conn, artists, ("artist_id", "is_stub"), [(a, True) for a in artist_ids])
        inserted = insert_ignore_rows(conn, user_events, EVENT_FIELDS, [_row(e) for e in events])
        if in_transaction is not None:
            in_transaction(conn, {e.user_id for e in events})
    result.accepted = inserted
    result.duplicates += len(events) - inserted
    result.user_ids = {e.user_id for e in events}
    return result


def _text(body: Mapping[str, Any], name: str, required: bool) -> str | None:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(name, value, "a non-empty string")
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValidationError(name, value, "a string")
    text = str(value).strip()
    if len(text) > MAX_ID_LENGTH:
        raise ValidationError(name, value, f"at most {MAX_ID_LENGTH} characters")
    if not is_storable_text(text):
        raise ValidationError(name, value, "valid Unicode text without NUL characters")
    return text


def parse_feedback(body: Any) -> dict[str, Any]:
    """Validate a feedback body into a ``feedback`` row.

    Accepted forms: ``{"user_id", "list_id", "artist_id", "thumb": "up"|"down"}``
    (or ``"kind": "thumb", "value": 1|-1``) and ``{"user_id", "list_id",
    "rating": 1..5}`` (or ``"kind": "rating", "value": n``).

    Raises
    ------
    ValidationError
        Naming the offending field.
    """
    if not isinstance(body, Mapping):
        raise ValidationError("body", body, "a JSON object")
    user_id = _text(body, "user_id", True)
    list_id = _text(body, "list_id", False)
    artist_id = _text(body, "artist_id", False)
    kind = body.get("kind")
    value: Any = body.get("value")
    if kind is None:
        if "thumb" in body:
            kind, value = "thumb", body["thumb"]
        elif "rating" in body:
            kind, value = "rating", body["rating"]
        else:
            raise ValidationError("kind", None, "'thumb' or 'rating' (or a thumb/rating field)")
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON 2.0 is the integer 2
    if kind == "thumb":
        thumbs = {"up": 1, "down": -1, 1: 1, -1: -1}
        if isinstance(value, bool) or value not in thumbs:
            raise ValidationError("thumb", value, "'up', 'down', 1 or -1")
        number = thumbs[value]
        if artist_id is None:
            raise ValidationError("artist_id", None, "the artist the thumb is about")
    elif kind == "rating":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            raise ValidationError("rating", value, "an integer from 1 to 5")
        number = value
        if list_id is None:
            raise ValidationError("list_id", None, "the list being rated")
    else:
        raise ValidationError("kind", kind, "'thumb' or 'rating'")
    return {
        "user_id": user_id,
        "list_id": list_id,
        "artist_id": artist_id,
        "kind": kind,
        "value": number,
        "created_at_ms": int(time.time() * 1000),
    }


def store_feedback(engine: Engine, row: dict[str, Any]) -> int:
    """Store one validated feedback row; returns its ``feedback_id``."""
    with engine.begin() as conn:
        result = conn.execute(feedback.insert().values(**row).returning(feedback.c.feedback_id))
        return int(result.scalar_one())
