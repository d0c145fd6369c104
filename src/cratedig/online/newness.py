"""Whether a shown artist was new to the user, and whether a follow was the first.

An artist is **new** to the user when the user has no event for it before the list
was shown; a follow is a **first follow** when the user never followed the artist
before it. Both are read off the events loaded for the refresh and, when those start
at ``loaded_from_ms`` (an incremental refresh), the history before that is asked of
the store, one index probe per (user, artist) pair that the loaded events leave open.
"""

from __future__ import annotations

import polars as pl
from sqlalchemy import Engine

from cratedig.online import _sql
from cratedig.online.attribution import pair_key


def newness(
    engine: Engine,
    credited: pl.DataFrame,
    lists: pl.DataFrame,
    events: pl.DataFrame,
    loaded_from_ms: int | None,
) -> pl.DataFrame:
    """``is_new`` and ``first_follow``, one row per row of ``credited`` (null for the
    rows they do not apply to: only attributed plays and follows of a shown artist).

    Parameters
    ----------
    credited
        The attributed events (``Attribution.credited``).
    lists
        The lists (for the time each was shown).
    events
        Every loaded event (the history the answers are read from: ``user_id``,
        ``artist_id``, ``occurred_at_ms``, ``event_type``), and possibly some earlier
        ones (remembered by the last refresh).
    loaded_from_ms
        The time from which every event is in ``events`` (``None``: all of them).
    """
    plays = pl.col("event_type") == "play_track"
    follows = pl.col("event_type") == "follow_artist"
    applies = pl.col("position").is_not_null() & (plays | follows)
    rows = credited.select(
        pair_key(),
        "user_id",
        "artist_id",
        "occurred_at_ms",
        lists.get_column("shown_at_ms").gather(credited.get_column("li")),
        (applies & plays).alias("play"),
        (applies & follows).alias("follow"),
        applies.alias("applies"),
    )
    pks = rows.filter("applies").select("pk").unique()
    known = (
        events.filter(pl.col("artist_id").is_not_null())
        .select(
            pair_key(),
            pl.col("occurred_at_ms").alias("first_ms"),
            pl.when(follows).then(pl.col("occurred_at_ms")).alias("first_follow_ms"),
        )
        .join(pks, on="pk", how="semi")
    )
    first = known.group_by("pk").agg(pl.col("first_ms", "first_follow_ms").min())
    out = rows.join(first, on="pk", how="left", maintain_order="left").with_columns(
        pl.when("applies")
        .then(pl.col("first_ms").is_null() | (pl.col("first_ms") >= pl.col("shown_at_ms")))
        .alias("is_new"),
        pl.when("applies")
        .then(
            pl.col("first_follow_ms").is_null()
            | (pl.col("first_follow_ms") >= pl.col("occurred_at_ms"))
        )
        .alias("first_follow"),
    )
    if loaded_from_ms is not None:
        out = _probe_history(engine, out, loaded_from_ms)
    return out.select("is_new", "first_follow")


def _probe_history(engine: Engine, rows: pl.DataFrame, before_ms: int) -> pl.DataFrame:
    """Turn ``is_new`` / ``first_follow`` off for the rows whose pair has an event (a
    follow) in the store before the loaded events start and before the list was shown
    (before the follow)."""
    # only plays use is_new, only follows first_follow
    bound = pl.min_horizontal(pl.col("shown_at_ms"), pl.lit(before_ms)).alias("before_ms")
    follow_bound = pl.min_horizontal(pl.col("occurred_at_ms"), pl.lit(before_ms))
    open_new = rows.filter(pl.col("play") & pl.col("is_new").fill_null(False)).select(
        "user_id", "artist_id", bound
    )
    open_follow = rows.filter(pl.col("follow") & pl.col("first_follow").fill_null(False)).select(
        "user_id", "artist_id", follow_bound.alias("before_ms")
    )
    seen = _keys(_sql.pairs_seen_before(engine, open_new.unique()))
    followed = _keys(_sql.pairs_seen_before(engine, open_follow.unique(), "follow_artist"))
    return (
        rows.with_columns(bound, follow_bound.alias("follow_before_ms"))
        .join(seen, on=["pk", "before_ms"], how="left", maintain_order="left")
        .join(
            followed.rename({"before_ms": "follow_before_ms", "seen": "followed"}),
            on=["pk", "follow_before_ms"],
            how="left",
            maintain_order="left",
        )
        .with_columns(
            (pl.col("is_new") & pl.col("seen").is_null()).alias("is_new"),
            (pl.col("first_follow") & pl.col("followed").is_null()).alias("first_follow"),
        )
    )


def _keys(pairs: pl.DataFrame) -> pl.DataFrame:
    """``pk`` (the :func:`pair_key` of the string pairs), ``before_ms`` and ``seen``."""
    return (
        pairs.select(
            pl.col("user_id").cast(pl.Categorical),
            pl.col("artist_id").cast(pl.Categorical),
            "before_ms",
        )
        .select(pair_key(), "before_ms", pl.lit(True).alias("seen"))
        .unique(["pk", "before_ms"])
    )
