"""Attribution of events to served lists (rules: ``docs/online.md``).

Everything here is a pure function of frames read from the store, so attributing
the same rows twice gives the same answer, whatever order the events arrived in.

* **click-through**: the event's ``source`` is the ``list_id`` of a list served to
  the same user;
* **view-through** (events without a source, ``source = 'organic'``): the last list
  that showed the event's artist to the user at most the attribution window before
  the event (last touch); a ``subscribe`` event (it names no artist) goes to the last
  list of any kind served to the user within the window;
* an event whose ``source`` names no stored list (or a list of another user) is kept
  and counted as ``unknown_list``; every other event is ``unattributed``.

Each attributed event carries the list's id, type, model version, variant, day and
the position of the event's artist in the list (``null`` when the artist was not in
it, e.g. a click-through ``visit``).
"""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from cratedig.online._sql import DAY_MS

ORGANIC = "organic"

LIST_COLUMNS = ["list_id", "user_id", "list_type", "model_version", "variant", "shown_at_ms"]


def lists_frame(impressions: pl.DataFrame) -> pl.DataFrame:
    """One row per served list, with its UTC ``day`` and ``""`` for missing version/variant."""
    return impressions.with_columns(
        pl.col("model_version").fill_null(""),
        pl.col("variant").fill_null(""),
        (pl.col("shown_at_ms") // DAY_MS).cast(pl.Int32).alias("day"),
    )


def items_frame(lists: pl.DataFrame) -> pl.DataFrame:
    """One row per item shown: the lists exploded into (position, artist_id)."""
    return (
        lists.select(
            "impression_id",
            *LIST_COLUMNS,
            "day",
            pl.col("artist_ids")
            .str.json_decode(pl.List(pl.String))
            .cast(pl.List(pl.Categorical))
            .alias("artist_id"),
        )
        .with_columns(
            pl.int_ranges(1, pl.col("artist_id").list.len() + 1, dtype=pl.Int32).alias("position")
        )
        .explode("artist_id", "position")
        .filter(pl.col("artist_id").is_not_null())
    )


def is_sourced() -> pl.Expr:
    """Whether an event names a list in its ``source``."""
    return pl.col("source").is_not_null() & ~pl.col("source").is_in([ORGANIC, ""])


def attribute(
    events: pl.DataFrame,
    lists: pl.DataFrame,
    items: pl.DataFrame,
    window_ms: int,
    lists_elsewhere: Collection[str] = (),
) -> pl.DataFrame:
    """Attribute ``events`` to ``lists``; returns every event with its attribution.

    Parameters
    ----------
    events
        Columns of :data:`cratedig.online._sql.EVENT_SCHEMA`.
    lists, items
        From :func:`lists_frame` and :func:`items_frame`.
    window_ms
        The view-through window.
    lists_elsewhere
        Stored list ids that are not in ``lists`` (served before the range being
        recomputed): events citing them count as click-through, not unknown.

    Returns
    -------
    polars.DataFrame
        The events' columns plus ``eid`` (row number), ``mode`` (``click``, ``view``,
        ``unknown_list``, ``elsewhere`` or ``none``) and, when attributed, the list's
        ``list_id``, ``list_user``, ``list_type``, ``model_version``, ``variant``,
        ``shown_at_ms``, ``day`` and the artist's ``position``.
    """
    events = events.with_row_index("eid")
    list_cols = lists.select(
        pl.col("list_id"),
        pl.col("user_id").alias("list_user"),
        "list_type",
        "model_version",
        "variant",
        "shown_at_ms",
        "day",
    )
    positions = items.group_by("list_id", "artist_id").agg(pl.col("position").min()).lazy()

    # click-through: the source is a list of this user
    sourced = events.lazy().filter(is_sourced())
    clicks = (
        sourced.join(list_cols.lazy(), left_on="source", right_on="list_id", how="left")
        .with_columns(pl.col("source").alias("list_id"))
        .with_columns(
            pl.when(pl.col("list_user") == pl.col("user_id"))
            .then(pl.lit("click"))
            .when(pl.col("list_user").is_null() & pl.col("source").is_in(list(lists_elsewhere)))
            .then(pl.lit("elsewhere"))
            .otherwise(pl.lit("unknown_list"))
            .alias("mode")
        )
        .join(positions, on=["list_id", "artist_id"], how="left")
    )

    # view-through: the last list that showed this artist to this user (within window)
    organic = events.lazy().filter(~is_sourced())
    # one integer per (user, artist) shown: the as-of join groups by it, not by strings
    pairs = items.lazy().select("user_id", "artist_id").unique().with_row_index("pk")
    shown = (
        items.lazy()
        .join(pairs, on=["user_id", "artist_id"])
        .select(
            "pk", pl.col("shown_at_ms").alias("touch_ms"), "impression_id", "list_id", "position"
        )
        .sort("touch_ms", "impression_id")
    )
    with_artist = organic.filter(pl.col("artist_id").is_not_null()).join(
        pairs, on=["user_id", "artist_id"]
    )
    views = (
        with_artist.sort("occurred_at_ms")
        .join_asof(
            shown,
            left_on="occurred_at_ms",
            right_on="touch_ms",
            by="pk",
            strategy="backward",
            tolerance=window_ms,
            check_sortedness=False,
        )
        .filter(pl.col("list_id").is_not_null())
        .drop("touch_ms", "impression_id", "pk")
    )
    # subscribe: last list of any kind served to the user within the window
    user_lists = (
        lists.lazy()
        .select("user_id", pl.col("shown_at_ms").alias("touch_ms"), "impression_id", "list_id")
        .sort("touch_ms", "impression_id")
    )
    subs = (
        organic.filter(pl.col("event_type") == "subscribe")
        .sort("occurred_at_ms")
        .join_asof(
            user_lists,
            left_on="occurred_at_ms",
            right_on="touch_ms",
            by="user_id",
            strategy="backward",
            tolerance=window_ms,
            check_sortedness=False,
        )
        .filter(pl.col("list_id").is_not_null())
        .drop("touch_ms", "impression_id")
        .with_columns(pl.lit(None, dtype=pl.Int32).alias("position"))
    )
    touched = (
        pl.concat([views, subs], how="diagonal_relaxed")
        .join(list_cols.lazy(), on="list_id", how="left")
        .with_columns(pl.lit("view").alias("mode"))
    )
    attributed = pl.concat([clicks, touched], how="diagonal_relaxed").collect()
    rest = events.join(attributed.select("eid"), on="eid", how="anti").with_columns(
        pl.lit("none").alias("mode")
    )
    out = pl.concat([attributed, rest], how="diagonal_relaxed")
    # a list of another user or no stored list: keep the event, but credit no list
    unattributed = ~pl.col("mode").is_in(["click", "view"])
    credited = ["list_id", "list_user", "list_type", "model_version", "variant"]
    return out.with_columns(
        [pl.when(unattributed).then(None).otherwise(pl.col(c)).alias(c) for c in credited]
        + [
            pl.when(unattributed).then(None).otherwise(pl.col(c)).alias(c)
            for c in ("shown_at_ms", "day", "position")
        ]
    ).sort("eid")
