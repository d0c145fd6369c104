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
"""

from __future__ import annotations

import polars as pl

from cratedig.store.schema.rollups import OUTCOME_COLUMNS

KEY = ["day", "list_type", "model_version", "variant"]
USER_KEY = ["day", "user_id", "list_type", "model_version", "variant"]
RETURN_DAYS = 7
SHARE_TYPES = ["share_artist", "share_track"]


def _credited(attributed: pl.DataFrame) -> pl.DataFrame:
    return attributed.filter(pl.col("mode").is_in(["click", "view"])).with_columns(
        ((pl.col("event_type") == "recommendation_click") | (pl.col("mode") == "click")).alias(
            "is_click"
        ),
        pl.col("list_user").alias("user_id"),
    )


def user_daily(
    lists: pl.DataFrame,
    items: pl.DataFrame,
    attributed: pl.DataFrame,
    feedback: pl.DataFrame,
    newness: pl.DataFrame,
    head: pl.DataFrame,
    visit_days: pl.DataFrame,
) -> pl.DataFrame:
    """The per-user-per-day table (columns of ``online_user_daily``).

    Parameters
    ----------
    newness
        One row per attributed event (``eid``) with ``is_new`` (the artist was new to
        the user when the list was shown) and ``first_follow`` (no earlier follow).
    head
        ``artist_id`` of the short-head artists (every other artist is long tail).
    visit_days
        Distinct (``user_id``, ``vday``) of visits.
    """
    credited = _credited(attributed).join(newness, on="eid", how="left")
    item = pl.col("position").is_not_null()
    head_ids = head.get_column("artist_id").implode()
    ev = credited.with_columns(
        pl.col("is_new").fill_null(False),
        pl.col("first_follow").fill_null(False),
        (~pl.col("artist_id").is_in(head_ids)).alias("is_tail"),
        pl.col("duration_ms").fill_null(0),
    )
    play = item & (pl.col("event_type") == "play_track")
    follow = item & (pl.col("event_type") == "follow_artist")
    share = item & pl.col("event_type").is_in(SHARE_TYPES)
    per_list = ev.group_by("list_id").agg(
        pl.col("is_click").sum().alias("clicks"),
        pl.col("position").filter(pl.col("is_click") & item).n_unique().alias("clicked_items"),
        pl.col("is_click").any().cast(pl.Int64).alias("clicked_lists"),
        pl.col("position").filter(follow).n_unique().alias("follows"),
        pl.col("position").filter(share).n_unique().alias("shares"),
        play.sum().alias("plays"),
        pl.col("duration_ms").filter(play).sum().alias("play_ms"),
        pl.col("duration_ms").filter(play & pl.col("is_new")).sum().alias("new_play_ms"),
        (pl.col("event_type") == "subscribe").sum().alias("subscriptions"),
    )
    per_user = ev.group_by(USER_KEY).agg(
        pl.col("artist_id").filter(play & pl.col("is_new")).n_unique().alias("new_artists"),
        pl.col("artist_id")
        .filter(follow & pl.col("first_follow"))
        .n_unique()
        .alias("new_followers"),
        pl.col("artist_id")
        .filter(play & pl.col("is_new") & pl.col("is_tail"))
        .n_unique()
        .alias("new_longtail_listeners"),
    )
    fb = _feedback_per_list(feedback, lists)
    tail_items = (
        items.filter(~pl.col("artist_id").is_in(head_ids))
        .group_by("list_id")
        .agg(pl.len().alias("longtail_items"))
    )
    rows = (
        lists.select("list_id", *USER_KEY, pl.col("n_items").alias("items"))
        .join(per_list, on="list_id", how="left")
        .join(fb, on="list_id", how="left")
        .join(tail_items, on="list_id", how="left")
        .with_columns(pl.lit(1).alias("lists"))
    )
    sums = [c for c in OUTCOME_COLUMNS if c in rows.columns and c != "list_id"]
    table = (
        rows.group_by(USER_KEY)
        .agg([pl.col(c).fill_null(0).sum().cast(pl.Int64) for c in sums])
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
    return (
        table.with_columns(
            [pl.col(c).fill_null(0).cast(pl.Int64) for c in (*OUTCOME_COLUMNS, "returned")]
        )
        .select(*USER_KEY, *OUTCOME_COLUMNS, "returned")
        .sort(USER_KEY)
    )


def _feedback_per_list(feedback: pl.DataFrame, lists: pl.DataFrame) -> pl.DataFrame:
    fb = feedback.join(lists.select("list_id"), on="list_id", how="semi")
    thumb = pl.col("kind") == "thumb"
    rating = (pl.col("kind") == "rating") & pl.col("value").is_between(1, 5)
    return fb.group_by("list_id").agg(
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
    items: pl.DataFrame, attributed: pl.DataFrame, feedback: pl.DataFrame
) -> pl.DataFrame:
    """The position curve (columns of ``online_position_daily``)."""
    ev = _credited(attributed).filter(pl.col("position").is_not_null())
    per_item = ev.group_by("list_id", "position").agg(
        pl.col("is_click").any().cast(pl.Int64).alias("clicked_items"),
        (pl.col("event_type") == "follow_artist").any().cast(pl.Int64).alias("follows"),
        pl.col("event_type").is_in(SHARE_TYPES).any().cast(pl.Int64).alias("shares"),
        (pl.col("event_type") == "play_track").sum().cast(pl.Int64).alias("plays"),
    )
    thumbs = (
        feedback.filter(pl.col("kind") == "thumb")
        .join(items.select("list_id", "artist_id", "position"), on=["list_id", "artist_id"])
        .group_by("list_id", "position")
        .agg(
            (pl.col("value") > 0).sum().cast(pl.Int64).alias("thumbs_up"),
            (pl.col("value") < 0).sum().cast(pl.Int64).alias("thumbs_down"),
        )
    )
    counts = ["clicked_items", "follows", "shares", "plays", "thumbs_up", "thumbs_down"]
    return (
        items.select("list_id", "position", *KEY)
        .join(per_item, on=["list_id", "position"], how="left")
        .join(thumbs, on=["list_id", "position"], how="left")
        .group_by(*KEY, "position")
        .agg(
            pl.len().cast(pl.Int64).alias("items"),
            *[pl.col(c).fill_null(0).sum().cast(pl.Int64) for c in counts],
        )
        .sort(*KEY, "position")
    )


def event_daily(attributed: pl.DataFrame) -> pl.DataFrame:
    """Attribution outcome per event day (columns of ``online_event_daily``)."""
    mode = pl.col("mode")
    return (
        attributed.with_columns(
            (pl.col("occurred_at_ms") // 86_400_000).cast(pl.Int32).alias("eday")
        )
        .group_by("eday")
        .agg(
            pl.len().cast(pl.Int64).alias("events"),
            mode.is_in(["click", "elsewhere"]).sum().cast(pl.Int64).alias("click_through"),
            (mode == "view").sum().cast(pl.Int64).alias("view_through"),
            (mode == "unknown_list").sum().cast(pl.Int64).alias("unknown_list"),
            (mode == "none").sum().cast(pl.Int64).alias("unattributed"),
        )
        .rename({"eday": "day"})
        .sort("day")
    )
