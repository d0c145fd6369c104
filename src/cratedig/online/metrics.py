"""Online metrics from attributed events: the per-user-per-day table and its rollups.

Definitions are in ``docs/online.md``. In short, for the lists served to a user on a
day (one row per day x user x list type x model version x variant):

* a **click** is an attributed ``recommendation_click`` or any event whose source is
  the list; ``clicked_items`` counts distinct (list, position) clicked and
  ``clicked_lists`` the lists with at least one click;
* ``follows`` / ``shares``: distinct (list, position) followed / shared (the artist or
  one of its tracks), ``plays`` / ``play_ms``: attributed plays of a shown artist;
* an artist is **new** to the user when the user has no event for it before the
  list was shown: ``new_play_ms`` and ``new_artists`` measure discovery;
* ``new_followers``: shown artists followed for the first time by the user;
  ``new_longtail_listeners``: long-tail artists played by a user new to them;
* ``returned`` is 1 when the user visited on one of the 7 days after the day.

Lists are addressed by their number ``li`` (:func:`cratedig.online.attribution.lists_frame`).
"""

from __future__ import annotations

import polars as pl

from cratedig.store.schema.rollups import OUTCOME_COLUMNS

KEY = ["day", "list_type", "model_version", "variant"]
USER_KEY = ["day", "user_id", "list_type", "model_version", "variant"]
RETURN_DAYS = 7
SHARE_TYPES = ["share_artist", "share_track"]


def _credited(credited: pl.DataFrame) -> pl.DataFrame:
    return credited.with_columns(
        ((pl.col("event_type") == "recommendation_click") | (pl.col("mode") == "click")).alias(
            "is_click"
        )
    )


def user_daily(
    lists: pl.DataFrame,
    items: pl.DataFrame,
    credited: pl.DataFrame,
    feedback: pl.DataFrame,
    newness: pl.DataFrame,
    head: pl.DataFrame,
    visit_days: pl.DataFrame,
) -> pl.DataFrame:
    """The per-user-per-day table (columns of ``online_user_daily``).

    Parameters
    ----------
    lists, items, credited
        From :mod:`cratedig.online.attribution` (``credited`` of its ``Attribution``).
    feedback
        Feedback rows with the ``li`` of their list.
    newness
        ``is_new`` (the artist was new to the user when the list was shown) and
        ``first_follow`` (no earlier follow), one per row of ``credited`` (null where
        it does not apply).
    head
        ``artist_id`` of the short-head artists (every other artist is long tail).
    visit_days
        Distinct (``user_id``, ``vday``) of visits.
    """
    # membership by categorical code: an integer hash set, no string compared
    head_codes = head.get_column("artist_id").to_physical().implode()
    ev = _credited(credited).with_columns(
        newness.get_column("is_new").fill_null(False),
        newness.get_column("first_follow").fill_null(False),
        (~pl.col("artist_id").to_physical().is_in(head_codes)).alias("is_tail"),
        pl.col("duration_ms").fill_null(0),
    )
    item = pl.col("position").is_not_null()
    play = item & (pl.col("event_type") == "play_track")
    follow = item & (pl.col("event_type") == "follow_artist")
    share = item & pl.col("event_type").is_in(SHARE_TYPES)
    keys = lists.select(USER_KEY)
    # every aggregation a plain sum or max of a column worked out beforehand, and the
    # distinct counts as unique rows counted per group: polars' fast group-by paths
    # (a filtered n_unique per group is evaluated group by group)
    flags = ev.select(
        "li",
        "position",
        "artist_id",
        "is_tail",
        pl.col("is_click").cast(pl.Int64).alias("clicks"),
        play.cast(pl.Int64).alias("plays"),
        pl.when(play).then(pl.col("duration_ms")).otherwise(0).alias("play_ms"),
        pl.when(play & pl.col("is_new"))
        .then(pl.col("duration_ms"))
        .otherwise(0)
        .alias("new_play_ms"),
        (pl.col("event_type") == "subscribe").cast(pl.Int64).alias("subscriptions"),
        (pl.col("is_click") & item).alias("clicked_item"),
        follow.alias("follow"),
        share.alias("share"),
        (play & pl.col("is_new")).alias("new_play"),
        (follow & pl.col("first_follow")).alias("new_follow"),
    )
    per_list = flags.group_by("li").agg(
        pl.col("clicks").sum(),
        pl.col("clicks").max().alias("clicked_lists"),
        pl.col("plays", "play_ms", "new_play_ms", "subscriptions").sum(),
    )
    distinct = (("clicked_item", "clicked_items"), ("follow", "follows"), ("share", "shares"))
    for flag, name in distinct:
        per_list = per_list.join(
            _distinct(flags.filter(flag), ["li"], "position", name), on="li", how="left"
        )
    wanted = flags.filter(pl.col("new_play") | pl.col("new_follow")).select(
        "li", "artist_id", "is_tail", "new_play", "new_follow"
    )
    li = wanted.get_column("li")
    wanted = wanted.with_columns([keys.get_column(c).gather(li) for c in USER_KEY])
    per_user = (
        _distinct(wanted.filter("new_play"), USER_KEY, "artist_id", "new_artists")
        .join(
            _distinct(wanted.filter("new_follow"), USER_KEY, "artist_id", "new_followers"),
            on=USER_KEY,
            how="full",
            coalesce=True,
        )
        .join(
            _distinct(
                wanted.filter(pl.col("new_play") & pl.col("is_tail")),
                USER_KEY,
                "artist_id",
                "new_longtail_listeners",
            ),
            on=USER_KEY,
            how="full",
            coalesce=True,
        )
    )
    fb = _feedback_per_list(feedback)
    tail_items = (
        items.filter(~pl.col("artist_id").to_physical().is_in(head_codes))
        .group_by("li")
        .agg(pl.len().alias("longtail_items"))
    )
    rows = (
        lists.select("li", *USER_KEY, pl.col("n_items").alias("items"))
        .join(per_list, on="li", how="left")
        .join(fb, on="li", how="left")
        .join(tail_items, on="li", how="left")
        .with_columns(pl.lit(1).alias("lists"))
    )
    sums = [c for c in OUTCOME_COLUMNS if c in rows.columns]
    table = (
        rows.group_by(USER_KEY)
        .agg([pl.col(c).sum().cast(pl.Int64) for c in sums])
        .join(per_user, on=USER_KEY, how="left")
    )
    returned = (
        visit_days.with_columns(
            pl.int_ranges(pl.col("vday") - RETURN_DAYS, pl.col("vday"), dtype=pl.Int32).alias("day")
        )
        .explode("day")
        .select("user_id", "day")
        .unique()
        .with_columns(pl.lit(1).alias("returned"))
    )
    table = table.join(returned, on=["user_id", "day"], how="left")
    return table.with_columns(
        [pl.col(c).fill_null(0).cast(pl.Int64) for c in (*OUTCOME_COLUMNS, "returned")]
    ).select(*USER_KEY, *OUTCOME_COLUMNS, "returned")


def _distinct(frame: pl.DataFrame, key: list[str], column: str, name: str) -> pl.DataFrame:
    """Distinct non-null values of ``column`` per ``key``, as a count named ``name``."""
    return (
        frame.select(*key, column)
        .drop_nulls(column)
        .unique()
        .group_by(key)
        .agg(pl.len().cast(pl.Int64).alias(name))
    )


def _feedback_per_list(feedback: pl.DataFrame) -> pl.DataFrame:
    thumb = pl.col("kind") == "thumb"
    rating = (pl.col("kind") == "rating") & pl.col("value").is_between(1, 5)
    return feedback.group_by("li").agg(
        (thumb & (pl.col("value") > 0)).sum().alias("thumbs_up"),
        (thumb & (pl.col("value") < 0)).sum().alias("thumbs_down"),
        rating.sum().alias("ratings"),
        pl.col("value").filter(rating).sum().alias("rating_sum"),
        *[(rating & (pl.col("value") == k)).sum().alias(f"rating_{k}") for k in range(1, 6)],
    )


def daily(user_table: pl.DataFrame) -> pl.DataFrame:
    """The daily rollup (columns of ``online_daily``) from the per-user table."""
    return (
        user_table.group_by(KEY)
        .agg(
            pl.len().cast(pl.Int64).alias("users"),
            *[pl.col(c).sum().cast(pl.Int64) for c in OUTCOME_COLUMNS],
            pl.col("returned").sum().cast(pl.Int64).alias("returned_users"),
        )
        .sort(KEY)
    )


def position_daily(
    lists: pl.DataFrame, items: pl.DataFrame, credited: pl.DataFrame, feedback: pl.DataFrame
) -> pl.DataFrame:
    """The position curve (columns of ``online_position_daily``)."""
    ev = _credited(credited).filter(pl.col("position").is_not_null())
    per_item = (
        ev.select(
            "li",
            "position",
            pl.col("is_click").cast(pl.Int64).alias("clicked_items"),
            (pl.col("event_type") == "follow_artist").cast(pl.Int64).alias("follows"),
            pl.col("event_type").is_in(SHARE_TYPES).cast(pl.Int64).alias("shares"),
            (pl.col("event_type") == "play_track").cast(pl.Int64).alias("plays"),
        )
        .group_by("li", "position")
        .agg(pl.col("clicked_items", "follows", "shares").max(), pl.col("plays").sum())
    )
    thumbs = (
        feedback.filter(pl.col("kind") == "thumb")
        .join(items.select("li", "artist_id", "position"), on=["li", "artist_id"])
        .group_by("li", "position")
        .agg(
            (pl.col("value") > 0).sum().cast(pl.Int64).alias("thumbs_up"),
            (pl.col("value") < 0).sum().cast(pl.Int64).alias("thumbs_down"),
        )
    )
    counts = ["clicked_items", "follows", "shares", "plays", "thumbs_up", "thumbs_down"]
    # the key of each list as one small integer, so that the items (one row per item
    # shown) are counted by two integer columns; outcomes come from the few items
    # that have one, and both are added up by key
    keys = lists.select(KEY).with_columns(pl.struct(KEY).rank("dense").cast(pl.UInt32).alias("kid"))
    kid = keys.get_column("kid")
    names = keys.unique("kid").select("kid", *KEY)
    shown_counts = (
        pl.DataFrame({"kid": kid.gather(items.get_column("li")), "position": items["position"]})
        .group_by("kid", "position")
        .agg(pl.len().cast(pl.Int64).alias("items"))
    )
    outcome = per_item.join(thumbs, on=["li", "position"], how="full", coalesce=True)
    outcome_sums = (
        outcome.with_columns(kid.gather(outcome.get_column("li")))
        .group_by("kid", "position")
        .agg([pl.col(c).fill_null(0).sum().cast(pl.Int64) for c in counts])
    )
    return (
        shown_counts.join(outcome_sums, on=["kid", "position"], how="left")
        .join(names, on="kid")
        .with_columns([pl.col(c).fill_null(0) for c in counts])
        .select(*KEY, "position", "items", *counts)
        .sort(*KEY, "position")
    )


def visit_days(events: pl.DataFrame) -> pl.DataFrame:
    """Distinct (``user_id``, ``vday``) of the ``visit`` events."""
    return (
        events.filter(pl.col("event_type") == "visit")
        .select("user_id", (pl.col("occurred_at_ms") // 86_400_000).cast(pl.Int32).alias("vday"))
        .unique()
    )
