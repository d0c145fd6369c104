"""Attribution of events to served lists (rules: ``docs/online.md``).

Everything here is a pure function of frames read from the store, so attributing
the same rows twice gives the same answer, whatever order the events arrived in.

* **click-through**: the event's ``source`` is the ``list_id`` of a list served to
  the same user;
* **view-through** (events without a source, ``source = 'organic'``): the last list
  that showed the event's artist to the user at most the attribution window before
  the event (last touch); a ``subscribe`` event goes to the last list of any kind
  served to the user within the window;
* an event whose ``source`` names no stored list (or a list of another user) is kept
  and counted as ``unknown_list``; every other event is ``unattributed``.

Lists are numbered ``li`` in the order they were served (``shown_at_ms``, then
``impression_id``), so "the last touch" is the largest ``li`` within the window, and
the columns of a list are a ``gather`` by ``li``, not a join. Users and artists are
polars categoricals; a (user, artist) pair is one 64-bit integer made of their two
32-bit codes (:func:`pair_key`), so the as-of join groups by an integer.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import polars as pl

from cratedig.online._sql import DAY_MS

ORGANIC = "organic"
CLICK, VIEW = "click", "view"

#: The columns of an attributed event (see :class:`Attribution`).
CREDITED_COLUMNS = [
    "user_id",
    "event_type",
    "occurred_at_ms",
    "artist_id",
    "duration_ms",
    "mode",
    "li",
    "position",
]


def pair_key(user: str = "user_id", artist: str = "artist_id") -> pl.Expr:
    """One ``UInt64`` per (user, artist): the two categorical codes side by side."""
    return (
        pl.col(user).to_physical().cast(pl.UInt64) * (1 << 32)
        + pl.col(artist).to_physical().cast(pl.UInt64)
    ).alias("pk")


def lists_frame(impressions: pl.DataFrame) -> pl.DataFrame:
    """One row per served list in serving order, numbered ``li`` (``UInt32``), with its
    UTC ``day`` and ``""`` for a missing model version or variant."""
    return (
        impressions.sort("shown_at_ms", "impression_id")
        .with_columns(
            pl.col("model_version").fill_null(""),
            pl.col("variant").fill_null(""),
            (pl.col("shown_at_ms") // DAY_MS).cast(pl.Int32).alias("day"),
        )
        .with_row_index("li")
    )


#: lists decoded at a time (the JSON lists of strings are the transient peak)
ITEM_SLICE = 100_000


def decoded_artists() -> pl.Expr:
    """A list's ``artist_ids`` (JSON text) as a ``List(Categorical)``."""
    return pl.col("artist_ids").str.json_decode(pl.List(pl.String)).cast(pl.List(pl.Categorical))


def items_frame(lists: pl.DataFrame) -> pl.DataFrame:
    """One row per item shown (``li``, ``position`` from 1, ``artist_id``, ``first``:
    the artist's first position in the list), in ``li`` order and position order
    within a list. A list's artists are its ``artists`` (decoded, when ``lists`` has
    the column: a remembered list) or else its ``artist_ids``, decoded here."""
    artists = decoded_artists()
    if "artists" in lists.columns:
        artists = pl.coalesce(pl.col("artists"), artists)
    columns = ["li", "artist_ids", *(["artists"] if "artists" in lists.columns else [])]
    parts = [
        part.select("li", artists.alias("artist_id"))
        .with_columns(
            pl.int_ranges(1, pl.col("artist_id").list.len() + 1, dtype=pl.Int32).alias("position")
        )
        .explode("artist_id", "position")
        .filter(pl.col("artist_id").is_not_null())
        .with_columns(_first_in_list().alias("first"))
        for part in lists.select(columns).iter_slices(ITEM_SLICE)
    ]
    if not parts:
        return pl.DataFrame(
            schema={
                "li": pl.UInt32,
                "artist_id": pl.Categorical,
                "position": pl.Int32,
                "first": pl.Boolean,
            }
        )
    return pl.concat(parts)


def _first_in_list() -> pl.Expr:
    """Whether an item is its artist's first appearance in its list (a slice of
    :func:`items_frame` holds whole lists, so this is decided slice by slice)."""
    key = pl.col("li").cast(pl.UInt64) * (1 << 32) + pl.col("artist_id").to_physical()
    return key.is_first_distinct()


def is_sourced() -> pl.Expr:
    """Whether an event names a list in its ``source``."""
    return pl.col("source").is_not_null() & ~pl.col("source").is_in([ORGANIC, ""])


@dataclass(frozen=True)
class Attribution:
    """What :func:`attribute` found.

    Attributes
    ----------
    credited
        One row per event attributed to a list (columns :data:`CREDITED_COLUMNS`):
        ``mode`` is ``click`` or ``view``, ``li`` the list, ``position`` the first
        position of the event's artist in that list (``null`` when the event names no
        artist of the list, e.g. a click-through ``visit`` or a ``subscribe``).
    outcomes
        Per UTC event day and ``settled`` (whether the events came before the
        settled time): ``day, settled, events, click_through, view_through,
        unknown_list, unattributed`` (with ``settled``, the columns of
        ``online_event_daily``).
    """

    credited: pl.DataFrame
    outcomes: pl.DataFrame


def _first_positions(items: pl.DataFrame) -> pl.DataFrame:
    """``li, artist_id, position``: the first position of each artist in each list."""
    return items.filter("first").select("li", "artist_id", "position")


def attribute(
    events: pl.DataFrame,
    lists: pl.DataFrame,
    items: pl.DataFrame,
    window_ms: int,
    lists_elsewhere: Collection[str] = (),
    settled_ms: int | None = None,
) -> Attribution:
    """Attribute ``events`` to ``lists`` (see the module docstring).

    Parameters
    ----------
    events
        Columns of :data:`cratedig.online._sql.EVENT_SCHEMA`, ids as categoricals.
    lists, items
        From :func:`lists_frame` and :func:`items_frame`.
    window_ms
        The view-through window.
    lists_elsewhere
        Stored list ids that are not in ``lists`` (served before the range being
        recomputed): events citing them count as click-through, not unknown.
    settled_ms
        The outcomes are counted apart for the events before this time (``None``:
        every event is).
    """
    sourced = events.lazy().filter(is_sourced())
    organic = events.lazy().filter(~is_sourced())
    firsts = _first_positions(items)

    # click-through: the source is a list of this user
    by_list = lists.lazy().select(
        pl.col("list_id").alias("source"), "li", pl.col("user_id").alias("list_user")
    )
    clicks = (
        sourced.join(by_list, on="source", how="left")
        .with_columns(
            pl.when(pl.col("list_user") == pl.col("user_id"))
            .then(pl.lit(CLICK))
            .when(
                pl.col("list_user").is_null()
                & pl.col("source").cast(pl.String).is_in(list(lists_elsewhere))
                if lists_elsewhere
                else pl.lit(False)
            )
            .then(pl.lit("elsewhere"))
            .otherwise(pl.lit("unknown_list"))
            .alias("mode")
        )
        .collect()
    )
    credited_clicks = clicks.filter(pl.col("mode") == CLICK).join(
        firsts, on=["li", "artist_id"], how="left"
    )

    # view-through: the last list that showed this artist to this user (within window).
    # The items are in serving order already (li order), which the as-of join needs;
    # among touches at the same millisecond it takes the last, the later-stored list.
    li = firsts.get_column("li")
    users = lists.get_column("user_id").to_physical().gather(li).cast(pl.UInt64)
    touches = (
        pl.DataFrame(
            {
                "pk": users * (1 << 32) + firsts.get_column("artist_id").to_physical(),
                "touch_ms": lists.get_column("shown_at_ms").gather(li),
                "li": li,
                "position": firsts.get_column("position"),
            }
        )
        .set_sorted("touch_ms")
        .lazy()
    )
    del users
    wanted = organic.filter(
        pl.col("artist_id").is_not_null() & (pl.col("event_type") != "subscribe")
    ).select(*CREDITED_COLUMNS[:5], pair_key())
    views = _views(wanted, touches, window_ms)
    # subscribe: the last list of any kind served to the user within the window
    user_touches = (
        lists.lazy()
        .select("user_id", pl.col("shown_at_ms").alias("touch_ms"), "li")
        .set_sorted("touch_ms")
    )
    subs = (
        organic.filter(pl.col("event_type") == "subscribe")
        .pipe(_last_touch, user_touches, "user_id", window_ms)
        .with_columns(pl.lit(None, dtype=pl.Int32).alias("position"))
    )
    touched_columns = [*CREDITED_COLUMNS[:5], "li", "position"]
    # stacked eagerly: a lazy concat of the two loses the event columns of the as-of
    # join's rows (polars 2.1)
    touched_rows = pl.concat(
        [views.select(touched_columns), subs.select(touched_columns).collect()]
    )
    credited = pl.concat(
        [
            credited_clicks.select(CREDITED_COLUMNS),
            touched_rows.with_columns(pl.lit(VIEW).alias("mode")).select(CREDITED_COLUMNS),
        ]
    )
    day = [_eday(), _settled(settled_ms)]
    click_modes = clicks.group_by(*day, "mode").agg(pl.len().alias("n"))
    viewed = touched_rows.group_by(*day).agg(pl.len().alias("n"))
    return Attribution(
        credited.with_columns(pl.col("li").cast(pl.UInt32)),
        _outcomes(events.select(*day), click_modes, viewed),
    )


#: events per part of the view-through join (parts split by pair, see :func:`_views`);
#: at 10M events parts of 2M did not lower the measured peak (3.3 GB either way: the
#: peak is elsewhere in attribution), so one part is the default up to 20M events
VIEW_PART_ROWS = 20_000_000


def _views(events: pl.LazyFrame, touches: pl.LazyFrame, window_ms: int) -> pl.DataFrame:
    """The view-through as-of join of ``events`` (with ``pk``) on ``touches``.

    Done in parts that split the pairs (``pk`` modulo the number of parts): a pair's
    events and touches are all in one part, so the answer is the same, and the join's
    intermediate frames are a part's size, not the whole store's.
    """
    total = events.select(pl.len()).collect().item()
    parts = max(1, -(-total // VIEW_PART_ROWS))
    out = []
    for part in range(parts):

        def mine(frame: pl.LazyFrame, part: int = part) -> pl.LazyFrame:
            return frame if parts == 1 else frame.filter(pl.col("pk") % parts == part)

        # only the touches of pairs with an event, then only the events of pairs
        # shown: two integer hash-set filters, and the as-of join groups few pairs
        wanted = mine(events).collect()
        shown = mine(touches).filter(pl.col("pk").is_in(wanted.get_column("pk").implode()))
        shown_now = shown.collect()
        out.append(
            wanted.lazy()
            .filter(pl.col("pk").is_in(shown_now.get_column("pk").implode()))
            .pipe(_last_touch, shown_now.lazy(), "pk", window_ms)
            .drop("pk", "touch_ms")
            .collect()
        )
    return pl.concat(out)


def _last_touch(
    events: pl.LazyFrame, touches: pl.LazyFrame, by: str, window_ms: int
) -> pl.LazyFrame:
    """``events`` joined to their last touch (``touch_ms``, ``li``) of the same ``by`` key
    at or before them and within the window; events with none are dropped."""
    return (
        events.sort("occurred_at_ms")
        .join_asof(
            touches,
            left_on="occurred_at_ms",
            right_on="touch_ms",
            by=by,
            strategy="backward",
            tolerance=window_ms,
            check_sortedness=False,
        )
        .filter(pl.col("li").is_not_null())
    )


def _eday() -> pl.Expr:
    return (pl.col("occurred_at_ms") // DAY_MS).cast(pl.Int32).alias("day")


def _settled(settled_ms: int | None) -> pl.Expr:
    """Whether an event came before ``settled_ms``."""
    settled = pl.lit(True) if settled_ms is None else pl.col("occurred_at_ms") < settled_ms
    return settled.alias("settled")


def _outcomes(
    event_days: pl.DataFrame, click_modes: pl.DataFrame, viewed: pl.DataFrame
) -> pl.DataFrame:
    """Events per day (and ``settled``) by attribution outcome (``online_event_daily``),
    from each event's ``day`` and ``settled``."""
    key = ["day", "settled"]

    def mode_count(*modes: str) -> pl.Expr:
        return pl.col("n").filter(pl.col("mode").is_in(list(modes))).sum()

    sourced = click_modes.group_by(key).agg(
        mode_count(CLICK, "elsewhere").alias("click_through"),
        mode_count("unknown_list").alias("unknown_list"),
    )
    out = (
        event_days.group_by(key)
        .agg(pl.len().alias("events"))
        .join(sourced, on=key, how="left")
        .join(viewed.rename({"n": "view_through"}), on=key, how="left")
        .with_columns(
            [
                pl.col(c).fill_null(0).cast(pl.Int64)
                for c in ("click_through", "view_through", "unknown_list")
            ]
        )
        .with_columns(pl.col("events").cast(pl.Int64))
    )
    return (
        out.with_columns(
            (
                pl.col("events")
                - pl.col("click_through")
                - pl.col("view_through")
                - pl.col("unknown_list")
            ).alias("unattributed")
        )
        .select(*key, "events", "click_through", "view_through", "unknown_list", "unattributed")
        .sort(key)
    )
