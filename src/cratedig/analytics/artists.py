"""The artist side: popularity, the long tail (top shares, Lorenz curve, Gini), and
top artists per country.

Definitions
-----------
* **plays** of an artist: ``sum(count)`` of its ``play_track`` events; **listeners**:
  distinct users with at least one such play (rows with ``count = 0`` make no
  listener).
* The artists considered are every artist of the catalogue (``artists`` table) plus
  any artist that appears only in events; artists never played count with 0 (they
  are the end of the long tail).
* **Top p share**: the share of all plays (listeners: of all user-artist listening
  pairs) taken by the ``ceil(p * n)`` most played (most listened) artists, ``n`` the
  number of artists considered.
* **Lorenz curve**: artists sorted from least to most played; point ``i`` is
  ``(i / n, plays of the i least played / all plays)``, starting at ``(0, 0)``.
* **Gini coefficient**: for values sorted ascending ``x_1..x_n``,
  ``G = 2 * sum(i * x_i) / (n * sum(x)) - (n + 1) / n`` (0: every artist equally
  played; close to 1: one artist takes everything).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from sqlalchemy import BigInteger, Engine, case, cast, distinct, func, select

from cratedig.analytics._sql import events, read_frame
from cratedig.events import EventType
from cratedig.store import schema

POPULARITY_SCHEMA = {
    "artist_id": pl.String,
    "name": pl.String,
    "plays": pl.Int64,
    "listeners": pl.Int64,
}


def artist_popularity(engine: Engine) -> pl.DataFrame:
    """``artist_id, name, plays, listeners`` for every artist, most played first."""
    plays = (
        select(
            events.c.artist_id,
            cast(func.sum(events.c["count"]), BigInteger).label("plays"),
            func.count(distinct(case((events.c["count"] > 0, events.c.user_id)))).label(
                "listeners"
            ),
        )
        .where(events.c.event_type == EventType.PLAY_TRACK.value, events.c.artist_id.is_not(None))
        .group_by(events.c.artist_id)
    )
    seen = select(events.c.artist_id).where(events.c.artist_id.is_not(None)).distinct()
    catalogue = select(schema.artists.c.artist_id, schema.artists.c.name)
    with engine.connect() as conn:
        played = read_frame(
            conn, plays, {"artist_id": pl.String, "plays": pl.Int64, "listeners": pl.Int64}
        )
        in_events = read_frame(conn, seen, {"artist_id": pl.String})
        names = read_frame(conn, catalogue, {"artist_id": pl.String, "name": pl.String})
    every = pl.concat([names.select("artist_id"), in_events]).unique()
    return (
        every.join(names, on="artist_id", how="left")
        .join(played, on="artist_id", how="left")
        .with_columns(pl.col("plays", "listeners").fill_null(0).cast(pl.Int64))
        .select(list(POPULARITY_SCHEMA))
        .sort(["plays", "listeners", "artist_id"], descending=[True, True, False])
    )


def gini(values: npt.ArrayLike) -> float:
    """The Gini coefficient of non-negative values (0.0 for an empty or all-zero input)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    total = x.sum()
    if n == 0 or total <= 0:
        return 0.0
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float(2.0 * (ranks * x).sum() / (n * total) - (n + 1) / n)


def lorenz_curve(values: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The Lorenz curve: ``(share of artists, share of the total)``, both from 0 to 1."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    total = x.sum()
    share_items = np.arange(0, n + 1, dtype=np.float64) / max(n, 1)
    cumulative = np.concatenate([[0.0], np.cumsum(x)])
    share_total = cumulative / total if total > 0 else np.zeros_like(cumulative)
    return share_items, share_total


def top_share(values: npt.ArrayLike, fraction: float) -> float:
    """Share of the total held by the ``ceil(fraction * n)`` largest values."""
    x = np.sort(np.asarray(values, dtype=np.float64))[::-1]
    total = x.sum()
    if x.size == 0 or total <= 0:
        return 0.0
    return float(x[: top_count(x.size, fraction)].sum() / total)


def top_count(n: int, fraction: float) -> int:
    """``ceil(fraction * n)`` (at least 1) of ``n`` items; 0 when there are none."""
    return max(1, math.ceil(fraction * n - 1e-9)) if n else 0


def long_tail_summary(popularity: pl.DataFrame) -> dict[str, Any]:
    """Top 1% / top 20% shares and Gini of plays and of listeners."""
    plays = popularity["plays"].to_numpy()
    listeners = popularity["listeners"].to_numpy()
    return {
        "artists": int(popularity.height),
        "artists_played": int((plays > 0).sum()),
        "plays": int(plays.sum()),
        "top1pct_artists": top_count(popularity.height, 0.01),
        "top20pct_artists": top_count(popularity.height, 0.20),
        "top1pct_share_of_plays": round(top_share(plays, 0.01), 6),
        "top20pct_share_of_plays": round(top_share(plays, 0.20), 6),
        "top1pct_share_of_listeners": round(top_share(listeners, 0.01), 6),
        "top20pct_share_of_listeners": round(top_share(listeners, 0.20), 6),
        "gini_plays": round(gini(plays), 6),
        "gini_listeners": round(gini(listeners), 6),
    }


def top_artists_by_country(engine: Engine, n: int = 5) -> pl.DataFrame:
    """``country, rank, artist_id, name, plays, listeners``: each country's ``n`` most
    played artists (plays by users of that country; ties broken by artist id)."""
    users = schema.users
    stmt = (
        select(
            users.c.country,
            events.c.artist_id,
            cast(func.sum(events.c["count"]), BigInteger).label("plays"),
            func.count(distinct(events.c.user_id)).label("listeners"),
        )
        .select_from(events.join(users, users.c.user_id == events.c.user_id))
        .where(
            events.c.event_type == EventType.PLAY_TRACK.value,
            users.c.country.is_not(None),
            users.c.country != "",
        )
        .group_by(users.c.country, events.c.artist_id)
    )
    names = select(schema.artists.c.artist_id, schema.artists.c.name)
    with engine.connect() as conn:
        frame = read_frame(
            conn,
            stmt,
            {
                "country": pl.String,
                "artist_id": pl.String,
                "plays": pl.Int64,
                "listeners": pl.Int64,
            },
        )
        name_frame = read_frame(conn, names, {"artist_id": pl.String, "name": pl.String})
    return (
        frame.sort(["country", "plays", "artist_id"], descending=[False, True, False])
        .with_columns(pl.int_range(1, pl.len() + 1).over("country").cast(pl.Int64).alias("rank"))
        .filter(pl.col("rank") <= n)
        .join(name_frame, on="artist_id", how="left")
        .select("country", "rank", "artist_id", "name", "plays", "listeners")
        .sort("country", "rank")
    )
