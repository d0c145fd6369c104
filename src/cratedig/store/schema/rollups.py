"""Tables of online measurement: per-user-per-day aggregates and daily rollups.

They are defined on :data:`cratedig.store.schema.metadata` and written only by
``cratedig online refresh`` (:mod:`cratedig.online.refresh`), which replaces whole
days, so they are a function of the stored events, impressions and feedback.

Rows are keyed by the UTC day (days since 1970-01-01) **of the impression**: a row
holds the lists served that day and everything those lists led to (clicks, plays,
follows, feedback... attributed to them, see ``docs/online.md``). ``model_version``
and ``variant`` are ``""`` when the impression had none (key columns cannot be NULL).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Table

from cratedig.store.schema.base import metadata
from cratedig.store.schema.events import user_events


def _key() -> list[Column[object]]:
    return [
        Column("day", Integer, primary_key=True),
        Column("list_type", String(32), primary_key=True),
        Column("model_version", String(64), primary_key=True),
        Column("variant", String(64), primary_key=True),
    ]


#: Outcome counts shared by the per-user table and the daily rollup.
OUTCOME_COLUMNS = (
    "lists",  # lists served
    "items",  # items shown (sum of list lengths)
    "clicks",  # click events attributed to the lists
    "clicked_items",  # distinct (list, position) clicked
    "clicked_lists",  # lists with at least one click
    "follows",  # distinct (list, position) followed
    "shares",  # distinct (list, position) shared (artist or one of its tracks)
    "plays",  # attributed plays of a shown artist
    "play_ms",  # their listening time
    "new_play_ms",  # listening time on artists new to the user
    "new_artists",  # distinct artists new to the user that were played
    "thumbs_up",
    "thumbs_down",
    "ratings",  # number of 1-5 ratings of the lists
    "rating_sum",
    "rating_1",
    "rating_2",
    "rating_3",
    "rating_4",
    "rating_5",
    "subscriptions",  # subscribe events whose last touch (window) is one of the lists
    "new_followers",  # distinct (user, artist) first follows of a shown artist
    "new_longtail_listeners",  # distinct (user, long-tail artist) new listeners
    "longtail_items",  # items shown that are long-tail artists
)


def _outcomes() -> list[Column[object]]:
    return [Column(name, BigInteger, nullable=False, default=0) for name in OUTCOME_COLUMNS]


#: One row per exposed user, day, list type, model version and variant: the per-user
#: numerators and denominators that experiment analysis needs (the user is the unit).
online_user_daily = Table(
    "online_user_daily",
    metadata,
    Column("day", Integer, primary_key=True),
    Column("user_id", String(128), primary_key=True),
    Column("list_type", String(32), primary_key=True),
    Column("model_version", String(64), primary_key=True),
    Column("variant", String(64), primary_key=True),
    *_outcomes(),
    # 1 when the user visited again on one of the 7 days after this day
    Column("returned", Integer, nullable=False, default=0),
)
Index("ix_online_user_daily_user", online_user_daily.c.user_id)

#: The daily rollup the report, the API and the admin page read.
online_daily = Table(
    "online_daily",
    metadata,
    *_key(),
    Column("users", BigInteger, nullable=False, default=0),  # users exposed
    *_outcomes(),
    Column("returned_users", BigInteger, nullable=False, default=0),
)

#: Per position (1-based) of the lists: the position curve.
online_position_daily = Table(
    "online_position_daily",
    metadata,
    *_key(),
    Column("position", Integer, primary_key=True),
    Column("items", BigInteger, nullable=False, default=0),
    Column("clicked_items", BigInteger, nullable=False, default=0),
    Column("follows", BigInteger, nullable=False, default=0),
    Column("shares", BigInteger, nullable=False, default=0),
    Column("plays", BigInteger, nullable=False, default=0),
    Column("thumbs_up", BigInteger, nullable=False, default=0),
    Column("thumbs_down", BigInteger, nullable=False, default=0),
)

#: Attribution outcome of events by the UTC day **of the event**: how many were
#: attributed click-through or view-through, and how many stayed unattributed
#: (``unknown_list``: the source names no stored list, or a list of another user).
online_event_daily = Table(
    "online_event_daily",
    metadata,
    Column("day", Integer, primary_key=True),
    Column("events", BigInteger, nullable=False, default=0),
    Column("click_through", BigInteger, nullable=False, default=0),
    Column("view_through", BigInteger, nullable=False, default=0),
    Column("unknown_list", BigInteger, nullable=False, default=0),
    Column("unattributed", BigInteger, nullable=False, default=0),
)

#: Artist popularity (plays) and the long-tail flag, as of the last full refresh.
online_artist_tail = Table(
    "online_artist_tail",
    metadata,
    Column("artist_id", String(128), primary_key=True),
    Column("plays", BigInteger, nullable=False),
    Column("is_long_tail", Integer, nullable=False),
    Column("computed_at_ms", BigInteger, nullable=False),
)

#: Refresh bookkeeping: ``last_refresh`` and the days it recomputed (JSON text).
online_state = Table(
    "online_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(2000), nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
)

#: The incremental refresh's memory (``docs/online.md``, "Incremental state"), one
#: row per kind and UTC day, each an Arrow IPC stream (LZ4) of that day's rows:
#:
#: * ``credit`` (day: of the event): the attributed events
#:   (:class:`cratedig.online.attribution.Attribution` ``credited``, with the list's
#:   ``impression_id`` and day and whether the artist was new to the user / the follow
#:   the first) of the lists served from the memory's first day on;
#: * ``visits`` (day: of the visit): the users who visited that day.
#:
#: Its range is the ``online_state`` key ``credit_cache``. The memory is read and
#: written whole days at a time, never queried by its contents, so a day is one blob:
#: a refresh writes ~150K attributed events a day in milliseconds, where a row each
#: took half a second (revision ``0008_online_memory``).
online_memory = Table(
    "online_memory",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("rows", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
)

#: Time-range reads of the events (the incremental refresh) and the "was the artist
#: new to the user" probes.
Index("ix_events_time", user_events.c.occurred_at_ms)
Index(
    "ix_events_user_artist_time",
    user_events.c.user_id,
    user_events.c.artist_id,
    user_events.c.occurred_at_ms,
)

__all__ = [
    "OUTCOME_COLUMNS",
    "online_artist_tail",
    "online_daily",
    "online_event_daily",
    "online_memory",
    "online_position_daily",
    "online_state",
    "online_user_daily",
]
