"""One user's summary: who they are, how often they visit, their top artists, and when
they were last active.

Top artists are ranked by **engagement**: the sum over the user's events of the event
weight (``Settings.weights``, by default :data:`cratedig.events.DEFAULT_WEIGHTS`) times
``count``, a play counting by its duration: the engagement matrix's own row weight
(:func:`cratedig.matrix.weights.row_weight`, without decay). Artists with a total of 0 or less
(only skips, or followed then unfollowed) are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import BigInteger, Engine, Float, case, cast, func, select

from cratedig.analytics._sql import at_midnight, events, has_times_of_day, read_frame
from cratedig.analytics.visits import SegmentRules, segment_users, visit_frequency, visits_frame
from cratedig.exceptions import NotFoundError, ValidationError
from cratedig.matrix.weights import EngagementConfig, row_weight, weighted_types
from cratedig.store import schema
from cratedig.store.reads import latest_event_ms


def iso(ms: int | None) -> str | None:
    """Milliseconds since the epoch as an ISO 8601 UTC string (``None`` stays ``None``)."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    spec = "milliseconds" if ms % 1000 else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


_TOP_SCHEMA = {
    "artist_id": pl.String,
    "name": pl.String,
    "engagement": pl.Float64,
    "plays": pl.Int64,
}


def top_artists_for_user(
    engine: Engine, user_id: str, n: int = 10, weights: Mapping[str, float] | None = None
) -> pl.DataFrame:
    """``artist_id, name, engagement, plays``: the user's ``n`` most engaged artists."""
    config = EngagementConfig() if weights is None else EngagementConfig(weights=dict(weights))
    types = weighted_types(config)
    if not types:
        return pl.DataFrame(schema=_TOP_SCHEMA)
    score = func.sum(row_weight(config, types, now_ms=0))
    plays = func.sum(case((events.c.event_type == "play_track", events.c["count"]), else_=0))
    stmt = (
        select(
            events.c.artist_id,
            cast(score, Float).label("engagement"),
            cast(plays, BigInteger).label("plays"),
        )
        .where(events.c.user_id == user_id, events.c.artist_id.is_not(None))
        .group_by(events.c.artist_id)
        .having(score > 0)
        .order_by(score.desc(), events.c.artist_id)
        .limit(n)
    )
    with engine.connect() as conn:
        top = read_frame(
            conn,
            stmt,
            {"artist_id": pl.String, "engagement": pl.Float64, "plays": pl.Int64},
        )
        if not top.height:
            return pl.DataFrame(schema=_TOP_SCHEMA)
        names = select(schema.artists.c.artist_id, schema.artists.c.name).where(
            schema.artists.c.artist_id.in_(top["artist_id"].to_list())
        )
        name_frame = read_frame(conn, names, {"artist_id": pl.String, "name": pl.String})
    return (
        top.join(name_frame, on="artist_id", how="left")
        .select("artist_id", "name", pl.col("engagement").round(4), "plays")
        .sort(["engagement", "artist_id"], descending=[True, False])
    )


def user_profile(
    engine: Engine,
    user_id: str,
    *,
    gap_minutes: float = 30.0,
    weights: Mapping[str, float] | None = None,
    top_n: int = 10,
    rules: SegmentRules | None = None,
) -> dict[str, Any]:
    """Everything the ``user-profile`` command shows, as JSON-ready data.

    Raises
    ------
    NotFoundError
        When the user is neither in ``users`` nor in any event.
    ValidationError
        When ``top_n`` < 1.
    """
    if top_n < 1:
        raise ValidationError("top_n", top_n, "a whole number >= 1")
    users = schema.users
    midnight = at_midnight()
    with engine.connect() as conn:
        user_row = conn.execute(select(users).where(users.c.user_id == user_id)).mappings().first()
        stats = conn.execute(
            select(
                func.count().label("rows"),
                func.min(events.c.occurred_at_ms).label("first_ms"),
                func.max(events.c.occurred_at_ms).label("last_ms"),
                func.sum(midnight).label("midnight_rows"),
            ).where(events.c.user_id == user_id)
        ).one()
        mix = read_frame(
            conn,
            select(events.c.event_type, cast(func.sum(events.c["count"]), BigInteger).label("n"))
            .where(events.c.user_id == user_id)
            .group_by(events.c.event_type)
            .order_by(events.c.event_type),
            {"event_type": pl.String, "n": pl.Int64},
        )
        as_of = latest_event_ms(conn)
    rows = int(stats.rows or 0)
    if user_row is None and rows == 0:
        raise NotFoundError("user", user_id)
    profile: dict[str, Any] = {
        "user_id": user_id,
        "country": user_row["country"] if user_row else None,
        "timezone": user_row["timezone"] if user_row else None,
        "signup_at": iso(user_row["signup_at_ms"]) if user_row else None,
        "in_users_table": user_row is not None and not bool(user_row["is_stub"]),
        "event_rows": rows,
        "events_by_type": dict(zip(mix["event_type"].to_list(), mix["n"].to_list(), strict=True)),
        "first_activity": iso(stats.first_ms),
        "last_activity": iso(stats.last_ms),
        "visits": None,
    }
    times_known = has_times_of_day(int(stats.midnight_rows or 0), rows)
    if times_known:
        visits = visits_frame(engine, gap_minutes, user_id=user_id)
        freq = visit_frequency(visits, as_of).row(0, named=True)
        segment = segment_users(visits, as_of, rules).row(0, named=True)
        profile["visits"] = {
            "gap_minutes": gap_minutes,
            "visits": int(freq["visits"]),
            "active_days": int(freq["active_days"]),
            "visits_per_week": round(float(freq["visits_per_week"]), 3),
            "visits_per_day": round(float(freq["visits_per_day"]), 3),
            "segment": segment["segment"],
            "days_active_in_last_28": int(segment["days_in_window"]),
        }
    elif rows:
        profile["visits_note"] = (
            "This user's events carry no time of day (most fall on midnight UTC), "
            "so visits cannot be computed."
        )
    profile["top_artists"] = top_artists_for_user(engine, user_id, top_n, weights).to_dicts()
    return profile
