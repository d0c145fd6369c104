"""The simulated site as polars tables, in the raw column names of the importers.

Ids are built by polars string expressions (no Python loop per event):
``u0042`` users, ``a0042`` artists, ``t000042`` tracks, ``e{seed}-{user}-{n}`` events and
``s{seed}-{user}-{n}`` sessions. File timestamps are ISO 8601 with the user's local
offset (``2025-01-06T20:15:00.000+01:00``); for the store they are epoch milliseconds.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl

from cratedig.events import ORGANIC
from cratedig.simulator.events import TYPE_CODES, BlockEvents
from cratedig.simulator.world import COUNTRY_CODES, PLACES, TIMEZONES, World

TimeFormat = Literal["iso", "ms"]


def _width(n: int) -> int:
    return len(str(max(n - 1, 0)))


def _ids(prefix: str, values: pl.Expr, n: int) -> pl.Expr:
    return pl.concat_str([pl.lit(prefix), values.cast(pl.String).str.zfill(_width(n))])


def _optional_ids(prefix: str, column: str, n: int) -> pl.Expr:
    return pl.when(pl.col(column) >= 0).then(_ids(prefix, pl.col(column), n)).otherwise(None)


def _utc_iso(column: str) -> pl.Expr:
    return pl.from_epoch(pl.col(column), time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")


def users_frame(world: World, time_format: TimeFormat = "iso") -> pl.DataFrame:
    """Every user: id, country, region, city, time zone, signup time, age and gender."""
    cfg, users = world.config, world.users
    place = users.place
    frame = pl.DataFrame(
        {
            "idx": np.arange(cfg.n_users),
            "country": COUNTRY_CODES[users.country],
            "region": np.array([p.region for _, p in PLACES])[place],
            "city": np.array([p.city for _, p in PLACES])[place],
            "timezone": np.array(TIMEZONES)[users.tz],
            "signup_at_ms": users.signup_ms,
            "age": users.age,
            "gender": users.gender,
        }
    )
    signup = _utc_iso("signup_at_ms") if time_format == "iso" else pl.col("signup_at_ms")
    return frame.select(
        _ids("u", pl.col("idx"), cfg.n_users).alias("user_id"),
        "country",
        "region",
        "city",
        "timezone",
        signup.alias("signup_at" if time_format == "iso" else "signup_at_ms"),
        pl.col("age").fill_nan(None).cast(pl.Int16),
        pl.col("gender").cast(pl.String),
    )


def artists_frame(world: World, time_format: TimeFormat = "iso") -> pl.DataFrame:
    """Every artist: id, name, tags ("a|b|c"), creation time and home country."""
    cfg, art = world.config, world.artists
    frame = pl.DataFrame(
        {
            "idx": np.arange(cfg.n_artists),
            "name": art.names,
            "tags": art.tags,
            "created_at_ms": art.created_ms,
            "country": COUNTRY_CODES[art.country],
        }
    )
    created = _utc_iso("created_at_ms") if time_format == "iso" else pl.col("created_at_ms")
    return frame.select(
        _ids("a", pl.col("idx"), cfg.n_artists).alias("artist_id"),
        "name",
        "tags",
        created.alias("created_at" if time_format == "iso" else "created_at_ms"),
        "country",
    )


def tracks_frame(world: World) -> pl.DataFrame:
    """Every track: id, artist id, title and duration."""
    cfg, tracks = world.config, world.tracks
    n_tracks = len(tracks.artist)
    frame = pl.DataFrame(
        {
            "idx": np.arange(n_tracks),
            "artist": tracks.artist,
            "title": tracks.titles,
            "duration_ms": tracks.duration_ms,
        }
    )
    return frame.select(
        _ids("t", pl.col("idx"), n_tracks).alias("track_id"),
        _ids("a", pl.col("artist"), cfg.n_artists).alias("artist_id"),
        "title",
        pl.col("duration_ms").cast(pl.Int64),
    )


def events_frame(
    world: World, events: BlockEvents, time_format: TimeFormat = "iso"
) -> pl.DataFrame:
    """The events of one block in the raw event columns."""
    cfg = world.config
    n_tracks = len(world.tracks.artist)
    types = pl.Series(TYPE_CODES)
    frame = pl.DataFrame(
        {
            "user": events.user,
            "seq": events.seq,
            "etype": events.etype.astype(np.uint32),
            "artist": events.artist,
            "track": events.track,
            "duration_ms": events.duration_ms,
            "t": events.occurred_ms,
            "offset": events.offset_min,
            "session": events.session,
        }
    )
    seed = str(cfg.seed)
    user = pl.col("user").cast(pl.String)
    if time_format == "iso":
        off = pl.col("offset")
        sign = pl.when(off < 0).then(pl.lit("-")).otherwise(pl.lit("+"))
        hh = (off.abs() // 60).cast(pl.String).str.zfill(2)
        mm = (off.abs() % 60).cast(pl.String).str.zfill(2)
        local = pl.from_epoch(pl.col("t") + off * 60_000, time_unit="ms")
        occurred = pl.concat_str(
            [local.dt.strftime("%Y-%m-%dT%H:%M:%S%.3f"), sign, hh, pl.lit(":"), mm]
        )
    else:
        occurred = pl.col("t")
    return frame.select(
        pl.concat_str(
            [pl.lit(f"e{seed}-"), user, pl.lit("-"), pl.col("seq").cast(pl.String)]
        ).alias("event_id"),
        _ids("u", pl.col("user"), cfg.n_users).alias("user_id"),
        pl.col("etype").map_batches(types.gather, return_dtype=pl.String).alias("event_type"),
        _optional_ids("a", "artist", cfg.n_artists).alias("artist_id"),
        _optional_ids("t", "track", n_tracks).alias("track_id"),
        pl.when(pl.col("duration_ms") >= 0).then(pl.col("duration_ms")).alias("duration_ms"),
        occurred.alias("occurred_at" if time_format == "iso" else "occurred_at_ms"),
        pl.concat_str(
            [pl.lit(f"s{seed}-"), user, pl.lit("-"), pl.col("session").cast(pl.String)]
        ).alias("session_id"),
        pl.lit(ORGANIC).alias("source"),
    )


def truth_frame(world: World, events: BlockEvents, time_format: TimeFormat = "iso") -> pl.DataFrame:
    """Ground truth of one block: every candidate (user, artist) with its true affinity."""
    cfg, cand = world.config, events.candidates
    frame = pl.DataFrame(
        {
            "user": events.block[cand.user],
            "artist": cand.artist,
            "affinity": cand.affinity.astype(np.float32),
            "discovered_ms": cand.discovered_ms,
        }
    )
    found = _utc_iso("discovered_ms") if time_format == "iso" else pl.col("discovered_ms")
    return frame.select(
        _ids("u", pl.col("user"), cfg.n_users).alias("user_id"),
        _ids("a", pl.col("artist"), cfg.n_artists).alias("artist_id"),
        pl.col("affinity").round(5),
        found.alias("discovered_at" if time_format == "iso" else "discovered_at_ms"),
    )
