"""Event types, the event record, validation and the default event weights.

This module is the vocabulary of the whole system (see ``DESIGN.md``). It imports
nothing else of cratedig but :mod:`cratedig.exceptions`.

Field readers (text, whole numbers, timestamps) are in :mod:`cratedig.fields`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from cratedig.clock import now_ms
from cratedig.exceptions import ValidationError
from cratedig.fields import (
    MAX_TAG_LENGTH,
    check_not_future,
    latest_allowed_ms,
    parse_timestamp_ms,
    read_text,
    read_whole_number,
)


class EventType(StrEnum):
    """Every kind of thing a listener can do on the site."""

    VISIT = "visit"
    PLAY_TRACK = "play_track"
    PAUSE_TRACK = "pause_track"
    SKIP_TRACK = "skip_track"
    LIKE_TRACK = "like_track"
    SHARE_TRACK = "share_track"
    ADD_TRACK_TO_PLAYLIST = "add_track_to_playlist"
    FOLLOW_ARTIST = "follow_artist"
    UNFOLLOW_ARTIST = "unfollow_artist"
    SHARE_ARTIST = "share_artist"
    SUBSCRIBE = "subscribe"
    RECOMMENDATION_CLICK = "recommendation_click"
    TAG_ARTIST = "tag_artist"


EVENT_TYPES: tuple[str, ...] = tuple(e.value for e in EventType)

#: Events about a track: the artist may be derived from ``track_id``.
TRACK_EVENTS: frozenset[str] = frozenset(
    {
        EventType.PLAY_TRACK,
        EventType.PAUSE_TRACK,
        EventType.SKIP_TRACK,
        EventType.LIKE_TRACK,
        EventType.SHARE_TRACK,
        EventType.ADD_TRACK_TO_PLAYLIST,
    }
)

#: Events that concern no artist at all; every other event needs an ``artist_id``.
ARTISTLESS_EVENTS: frozenset[str] = frozenset({EventType.VISIT, EventType.SUBSCRIBE})

#: Fields an event type needs beyond those every event has (the one place the rule
#: is written: :func:`validate_event`, the import's fast path and the OpenAPI schema
#: read it).
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {EventType.TAG_ARTIST: ("tag",)}

#: Default weight of one event of each type in the engagement matrix.
#:
#: Direct signals about an artist weigh more than indirect ones about its tracks:
#: ``follow_artist`` (5) and ``share_artist`` (4) > ``like_track`` / ``share_track`` (2)
#: > ``add_track_to_playlist`` (1.5) > ``play_track`` (1 per full play) = ``tag_artist``.
#: A play counts by how long it lasted: ``weight * min(1, duration_ms / FULL_PLAY_MS)``,
#: and a play shorter than ``SKIP_MS`` counts as a skip. ``unfollow_artist`` is negative.
#: Pauses, visits and subscriptions say nothing about taste in an artist.
#: Override any of them with the ``[weights]`` table of the TOML config.
DEFAULT_WEIGHTS: dict[str, float] = {
    EventType.FOLLOW_ARTIST: 5.0,
    EventType.SHARE_ARTIST: 4.0,
    EventType.LIKE_TRACK: 2.0,
    EventType.SHARE_TRACK: 2.0,
    EventType.ADD_TRACK_TO_PLAYLIST: 1.5,
    EventType.PLAY_TRACK: 1.0,
    EventType.TAG_ARTIST: 1.0,
    EventType.RECOMMENDATION_CLICK: 0.5,
    EventType.SKIP_TRACK: 0.0,
    EventType.PAUSE_TRACK: 0.0,
    EventType.VISIT: 0.0,
    EventType.SUBSCRIBE: 0.0,
    EventType.UNFOLLOW_ARTIST: -5.0,
}

#: A play of at least this many milliseconds counts as one full play.
FULL_PLAY_MS = 120_000
#: A play shorter than this many milliseconds counts as a skip.
SKIP_MS = 30_000

#: The ``source`` of an event that no recommendation led to.
ORGANIC = "organic"

#: The largest ``count`` (a 32-bit column) and ``duration_ms`` (exact as a float).
MAX_COUNT = 2**31 - 1
MAX_DURATION_MS = 2**53


@dataclass(frozen=True, slots=True)
class Event:
    """One validated thing a user did.

    Attributes
    ----------
    event_id
        Unique id; the idempotency key. Derived from the content when absent.
    user_id, event_type
        Who did what.
    occurred_at_ms
        When, in milliseconds since the epoch, UTC.
    artist_id, track_id
        What it was about; ``artist_id`` is ``None`` only for visits and subscriptions.
    duration_ms
        How long a play lasted (``None`` when not a play or unknown).
    count
        How many identical events the row stands for (>= 0; play-count exports).
    tag
        The tag applied, for ``tag_artist``.
    session_id, source
        The session, and ``"organic"`` or the id of the recommendation list that led here.
    """

    event_id: str
    user_id: str
    event_type: str
    occurred_at_ms: int
    artist_id: str | None = None
    track_id: str | None = None
    duration_ms: int | None = None
    count: int = 1
    tag: str | None = None
    session_id: str | None = None
    source: str = ORGANIC

    def as_row(self) -> dict[str, Any]:
        """The record as a dict of column name to value, for the store."""
        # a plain comprehension: dataclasses.asdict deep-copies and was half the
        # cost of a row-by-row import
        return {name: getattr(self, name) for name in EVENT_FIELDS}


#: The fields of an event, in the order of the ``user_events`` columns.
EVENT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Event))


def derive_event_id(
    user_id: str,
    event_type: str,
    occurred_at_ms: int,
    artist_id: str | None,
    track_id: str | None,
    duration_ms: int | None,
    count: int,
    tag: str | None,
    session_id: str | None,
    source: str,
) -> str:
    """A stable event id from an event's content (for sources without ids).

    Two rows with exactly the same content get the same id, so re-importing a file
    adds nothing. The id is ``"h-"`` followed by 32 hex digits of a SHA-256.
    """
    parts = (
        user_id,
        event_type,
        str(occurred_at_ms),
        artist_id or "",
        track_id or "",
        "" if duration_ms is None else str(duration_ms),
        str(count),
        tag or "",
        session_id or "",
        source,
    )
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return "h-" + digest[:32]


ArtistResolver = Callable[[str], str | None]


def validate_event(
    raw: Mapping[str, Any],
    resolve_artist: ArtistResolver | None = None,
    *,
    not_after_ms: int | None = None,
) -> Event:
    """Validate one raw event (a dict of column to value) into an :class:`Event`.

    Parameters
    ----------
    raw
        Keys as in DESIGN.md: ``event_id`` (optional), ``user_id``, ``event_type``,
        ``occurred_at``, ``artist_id``, ``track_id``, ``duration_ms``, ``count``,
        ``tag``, ``session_id``, ``source``. ``occurred_at_ms`` is accepted in place
        of ``occurred_at``.
    resolve_artist
        Maps a ``track_id`` to its ``artist_id`` (``None`` when the track is unknown);
        used when a track event has no ``artist_id``.
    not_after_ms
        The latest accepted ``occurred_at`` (default: now plus
        :data:`cratedig.fields.FUTURE_TOLERANCE_MS`, see
        :func:`cratedig.fields.latest_allowed_ms`). A batch or an import computes it once,
        so that every row of it is judged against the same limit.

    Raises
    ------
    ValidationError
        With the field, the value and what was expected.
    """
    event_type = read_text(raw, "event_type")
    if event_type not in EVENT_TYPES:
        raise ValidationError(
            "event_type", raw.get("event_type"), "one of: " + ", ".join(EVENT_TYPES)
        )
    user_id = read_text(raw, "user_id")
    if user_id is None:
        raise ValidationError("user_id", raw.get("user_id"), "a non-empty user id")
    ts_field = "occurred_at" if "occurred_at" in raw else "occurred_at_ms"
    occurred_at_ms = parse_timestamp_ms(raw.get(ts_field), ts_field)
    if not_after_ms is None:
        not_after_ms = latest_allowed_ms(now_ms())
    check_not_future(occurred_at_ms, not_after_ms, ts_field, raw.get(ts_field))
    duration_ms = read_whole_number(raw, "duration_ms", None, MAX_DURATION_MS)
    count = read_whole_number(raw, "count", 1, MAX_COUNT)
    assert count is not None
    track_id = read_text(raw, "track_id")
    artist_id = read_text(raw, "artist_id")
    if artist_id is None and track_id is not None and resolve_artist is not None:
        artist_id = resolve_artist(track_id)
    if artist_id is None and event_type not in ARTISTLESS_EVENTS:
        if event_type in TRACK_EVENTS:
            raise ValidationError(
                "track_id",
                track_id,
                "a known track (or an artist_id) so that the event's artist can be resolved",
            )
        raise ValidationError("artist_id", raw.get("artist_id"), f"an artist id for {event_type}")
    tag = read_text(raw, "tag", MAX_TAG_LENGTH)
    values = {"tag": tag}
    for name in REQUIRED_FIELDS.get(event_type, ()):
        if values[name] is None:
            raise ValidationError(name, raw.get(name), f"a non-empty {name} for {event_type}")
    session_id = read_text(raw, "session_id")
    source = read_text(raw, "source") or ORGANIC
    event_id = read_text(raw, "event_id") or derive_event_id(
        user_id,
        event_type,
        occurred_at_ms,
        artist_id,
        track_id,
        duration_ms,
        count,
        tag,
        session_id,
        source,
    )
    return Event(
        event_id=event_id,
        user_id=user_id,
        event_type=event_type,
        occurred_at_ms=occurred_at_ms,
        artist_id=artist_id,
        track_id=track_id,
        duration_ms=duration_ms,
        count=count,
        tag=tag,
        session_id=session_id,
        source=source,
    )
