"""Statistical properties of the simulated site, checked on one small seeded run."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.stats import spearmanr

from cratedig.events import SKIP_MS
from cratedig.simulator.site import SimulationConfig, write_files

CONFIG = SimulationConfig(n_users=800, n_artists=1_000, n_events=80_000, days=60, seed=7)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.DataFrame]:
    paths = write_files(CONFIG, tmp_path_factory.mktemp("site"), fmt="parquet")
    frames = {name: pl.read_parquet(path) for name, path in paths.items()}
    ev = frames["events"].with_columns(
        t=pl.col("occurred_at").str.to_datetime("%Y-%m-%dT%H:%M:%S%.3f%:z").dt.epoch("ms"),
        local_hour=pl.col("occurred_at").str.slice(11, 2).cast(pl.Int32),
    )
    frames["events"] = ev
    frames["plays"] = ev.filter(pl.col("event_type") == "play_track")
    return frames


def test_event_count_lands_near_the_target(site: dict[str, pl.DataFrame]) -> None:
    assert abs(site["events"].height - CONFIG.n_events) / CONFIG.n_events < 0.1


def test_events_are_well_formed(site: dict[str, pl.DataFrame]) -> None:
    ev = site["events"]
    assert ev["event_id"].n_unique() == ev.height
    assert ev["t"].min() >= CONFIG.start_ms
    assert ev["t"].max() < CONFIG.end_ms
    assert (ev["source"] == "organic").all()
    artistless = ev.filter(pl.col("event_type").is_in(["visit", "subscribe"]))
    assert artistless["artist_id"].null_count() == artistless.height
    others = ev.filter(~pl.col("event_type").is_in(["visit", "subscribe"]))
    assert others["artist_id"].null_count() == 0
    # every session starts with its visit
    firsts = ev.sort("t", "event_id").group_by("session_id").agg(pl.col("event_type").first())
    assert (firsts["event_type"] == "visit").all()
    # a track's events name the track's own artist
    tracks = site["tracks"]
    joined = ev.filter(pl.col("track_id").is_not_null()).join(
        tracks, on="track_id", suffix="_of_track"
    )
    assert (joined["artist_id"] == joined["artist_id_of_track"]).all()


def test_long_tail_top_tenth_of_artists_takes_most_plays(site: dict[str, pl.DataFrame]) -> None:
    per_artist = site["plays"].group_by("artist_id").len().sort("len", descending=True)
    counts = np.zeros(CONFIG.n_artists)
    counts[: per_artist.height] = per_artist["len"].to_numpy()
    top_share = counts[: CONFIG.n_artists // 10].sum() / counts.sum()
    assert top_share > 0.45
    # and the median artist gets far fewer plays than the mean
    assert np.median(counts) < 0.5 * counts.mean()


def test_skips_are_short_and_full_plays_are_near_track_length(
    site: dict[str, pl.DataFrame],
) -> None:
    plays = site["plays"].join(site["tracks"], on="track_id", suffix="_track")
    skips = site["events"].filter(pl.col("event_type") == "skip_track")
    # a skip_track comes right where the play it cuts short ends
    skipped = plays.join(
        skips.select("session_id", "track_id", t_skip="t"), on=["session_id", "track_id"]
    ).filter(pl.col("t_skip") == pl.col("t") + pl.col("duration_ms"))
    assert skips.height > 0.05 * plays.height
    assert skipped.height == skips.height
    assert (skipped["duration_ms"] < SKIP_MS).all()
    listened = plays.filter(pl.col("duration_ms") >= SKIP_MS)
    assert (plays["duration_ms"] <= plays["duration_ms_track"]).all()
    ratio = (listened["duration_ms"] / listened["duration_ms_track"]).median()
    assert ratio is not None and ratio > 0.9
    assert listened["duration_ms"].mean() > 5 * skipped["duration_ms"].mean()


def test_engagement_follows_true_affinity(site: dict[str, pl.DataFrame]) -> None:
    ev, truth = site["events"], site["ground_truth"]
    per_pair = ev.group_by("user_id", "artist_id").agg(
        plays=(pl.col("event_type") == "play_track").sum(),
        liked=(pl.col("event_type") == "like_track").any(),
    )
    pairs = truth.join(per_pair, on=["user_id", "artist_id"], how="left").with_columns(
        pl.col("plays").fill_null(0), pl.col("liked").fill_null(False)
    )
    # every played artist is one of the user's ground-truth candidates
    assert (
        per_pair.filter(pl.col("artist_id").is_not_null())
        .join(truth, on=["user_id", "artist_id"], how="anti")
        .is_empty()
    )
    rho = spearmanr(pairs["affinity"].to_numpy(), pairs["plays"].to_numpy()).statistic
    assert rho > 0.3
    liked = pairs.filter(pl.col("liked"))
    not_liked = pairs.filter(~pl.col("liked") & (pl.col("plays") > 0))
    assert liked["affinity"].mean() > not_liked["affinity"].mean() + 0.1
    assert liked["plays"].mean() > 2 * not_liked["plays"].mean()
    # skipped plays are of artists the user likes less
    plays = site["plays"].join(truth, on=["user_id", "artist_id"])
    short = plays.filter(pl.col("duration_ms") < SKIP_MS)["affinity"].mean()
    full = plays.filter(pl.col("duration_ms") >= SKIP_MS)["affinity"].mean()
    assert full > short + 0.05


def test_users_are_active_in_their_local_daytime(site: dict[str, pl.DataFrame]) -> None:
    hours = site["events"]["local_hour"]
    assert ((hours >= 8) & (hours <= 23)).mean() > 0.8
    assert ((hours >= 2) & (hours <= 5)).mean() < 0.08


def test_unfollows_come_only_after_a_follow(site: dict[str, pl.DataFrame]) -> None:
    ev = site["events"]
    follows = ev.filter(pl.col("event_type") == "follow_artist")
    unfollows = ev.filter(pl.col("event_type") == "unfollow_artist")
    assert unfollows.height > 0
    assert follows.group_by("user_id", "artist_id").len()["len"].max() == 1
    matched = unfollows.join(follows, on=["user_id", "artist_id"], suffix="_follow")
    assert matched.height == unfollows.height
    assert (matched["t"] > matched["t_follow"]).all()


def test_users_lean_toward_artists_from_their_country(site: dict[str, pl.DataFrame]) -> None:
    plays = (
        site["plays"]
        .join(site["users"].select("user_id", "country"), on="user_id")
        .join(
            site["artists"].select("artist_id", pl.col("country").alias("artist_country")),
            on="artist_id",
        )
    )
    same = (plays["country"] == plays["artist_country"]).mean()
    shuffled = plays["country"].shuffle(seed=1)
    baseline = (shuffled == plays["artist_country"]).mean()
    assert same > 1.3 * baseline


def test_new_artists_are_met_only_after_they_appear(site: dict[str, pl.DataFrame]) -> None:
    artists = site["artists"].with_columns(
        created=pl.col("created_at").str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ").dt.epoch("ms")
    )
    new = artists.filter(pl.col("created") >= CONFIG.start_ms)
    assert 0.05 < new.height / artists.height < 0.3
    ev = site["events"].join(new.select("artist_id", "created"), on="artist_id")
    assert ev.height > 0
    assert (ev["t"] >= ev["created"]).all()
    # discovery goes on all period long: many (user, artist) pairs start late
    first = site["plays"].group_by("user_id", "artist_id").agg(pl.col("t").min())
    half = CONFIG.start_ms + CONFIG.days * 86_400_000 // 2
    assert (first["t"] >= half).mean() > 0.2


def test_users_have_places_time_zones_and_rhythms(site: dict[str, pl.DataFrame]) -> None:
    users = site["users"]
    assert users.height == CONFIG.n_users
    assert users["country"].n_unique() >= 12
    assert users["timezone"].null_count() == 0
    assert 0.2 < users["age"].null_count() / users.height < 0.4
    visits = site["events"].filter(pl.col("event_type") == "visit")
    days = visits.group_by("user_id").agg(pl.col("t").floordiv(86_400_000).n_unique())
    counts = np.sort(days["t"].to_numpy())
    # some listeners come back almost daily, others only now and then
    assert counts[-len(counts) // 10 :].mean() > 5 * counts[: len(counts) // 2].mean()


def test_artists_have_genre_tags(site: dict[str, pl.DataFrame]) -> None:
    tags = site["artists"]["tags"].str.split("|")
    sizes = tags.list.len()
    assert sizes.min() >= 2 and sizes.max() <= 7
    all_tags = tags.explode()
    assert all_tags.n_unique() > 40
    assert {"rock", "pop", "hip-hop", "jazz"} <= set(all_tags.to_list())


def test_a_users_sessions_are_at_least_thirty_minutes_apart(
    site: dict[str, pl.DataFrame],
) -> None:
    sessions = (
        site["events"]
        .group_by("user_id", "session_id")
        .agg(start=pl.col("t").min(), end=pl.col("t").max())
        .sort("user_id", "start")
        .with_columns(previous_end=pl.col("end").shift(1).over("user_id"))
        .drop_nulls("previous_end")
    )
    assert sessions.height > 1_000
    assert (sessions["start"] - sessions["previous_end"]).min() >= 30 * 60_000
