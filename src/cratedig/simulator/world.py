"""The simulated world: artists, tracks and users, drawn once per configuration.

Everything is vectorised numpy; per-user taste is drawn block by block later
(:mod:`cratedig.simulator.taste`) so memory does not grow with the number of users.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from cratedig.simulator.config import SimulationConfig
from cratedig.simulator.vocab import (
    COUNTRIES,
    DIURNAL_WEIGHTS,
    FIRST_NAMES,
    GENERAL_TAGS,
    GENRES,
    LAST_NAMES,
    NAME_ADJECTIVES,
    NAME_NOUNS,
    RELATED_GENRES,
    TITLE_WORDS,
)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

DAY_MS = 86_400_000
#: Visit rhythms: share of users, and sessions per active day before calibration.
RHYTHMS = ("daily", "weekly", "occasional")
RHYTHM_SHARE = np.array([0.2, 0.45, 0.35])
RHYTHM_RATE = np.array([1.0, 0.3, 0.07])
#: Latent dimensions of the idiosyncratic part of taste.
LATENT_DIM = 8

GENRE_NAMES = np.array([g.name for g in GENRES])
COUNTRY_CODES = np.array([c.code for c in COUNTRIES])
AREAS = sorted({c.area for c in COUNTRIES})
COUNTRY_AREA = np.array([AREAS.index(c.area) for c in COUNTRIES])
PLACES = [(ci, p) for ci, c in enumerate(COUNTRIES) for p in c.places]
PLACE_COUNTRY = np.array([ci for ci, _ in PLACES])
TIMEZONES = sorted({p.timezone for _, p in PLACES})
PLACE_TZ = np.array([TIMEZONES.index(p.timezone) for _, p in PLACES])


def genre_prior() -> F64:
    """Countries x genres: how popular each genre is in each country (rows sum to 1)."""
    base = np.array([g.weight for g in GENRES], dtype=np.float64)
    prior = np.tile(base, (len(COUNTRIES), 1))
    index = {g.name: i for i, g in enumerate(GENRES)}
    for ci, country in enumerate(COUNTRIES):
        for name, boost in country.genre_boost:
            prior[ci, index[name]] *= boost
    return prior / prior.sum(axis=1, keepdims=True)


def draw_rows(rng: np.random.Generator, probs: F64, rows: I64) -> I64:
    """One categorical draw per entry of ``rows`` from the row ``probs[rows]``."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    u = rng.random(len(rows))
    out = (cum[rows] < u[:, None]).sum(axis=1)
    return np.minimum(out, probs.shape[1] - 1).astype(np.int64)


class SegmentSampler:
    """Weighted draws of one item inside a chosen segment, for many draws at once.

    Items are grouped into segments (the artists of a genre, the tracks of an artist,
    the candidates of a user). Each segment's cumulative weights are normalised to
    (0, 1] and shifted by the segment number, so one ``searchsorted`` over the whole
    flattened array draws for every request at once; numpy's ``choice`` would need a
    Python loop over segments.
    """

    def __init__(self, segments: I64, weights: npt.ArrayLike, n_segments: int) -> None:
        order = np.argsort(segments, kind="stable")
        seg = segments[order]
        w = np.asarray(weights, dtype=np.float64)[order]
        self.items: I64 = order
        self.counts: I64 = np.bincount(seg, minlength=n_segments).astype(np.int64)
        self.ends: I64 = np.cumsum(self.counts)
        self.starts: I64 = self.ends - self.counts
        cum = np.cumsum(w)
        seg_before = np.concatenate(([0.0], cum))[self.starts]
        totals = np.concatenate(([0.0], cum))[self.ends] - seg_before
        safe = np.where(totals > 0, totals, 1.0)
        within = (cum - seg_before[seg]) / safe[seg]
        last = self.ends[self.counts > 0] - 1
        within[last] = 1.0
        self.flat: F64 = seg + within

    def sample(self, rng: np.random.Generator, segments: I64) -> I64:
        """One item (an index into the constructor's arrays) per requested segment.

        Every requested segment must be non-empty (check ``counts``).
        """
        target = segments + rng.random(len(segments))
        pos = np.searchsorted(self.flat, target, side="right")
        pos = np.clip(pos, self.starts[segments], self.ends[segments] - 1)
        return self.items[pos]


@dataclass
class Artists:
    """Every artist, indexed 0..n-1."""

    popularity: F64  # relative, Zipf: rank ** -exponent
    pop_percentile: F64  # 1 for the most popular, 0 for the least
    primary: I64  # genre index
    secondary: I64  # genre index, -1 when none
    country: I64
    created_ms: I64
    latent: F64  # (n, LATENT_DIM)
    names: list[str]
    tags: list[str]  # "a|b|c"
    track_start: I64  # tracks of artist a are track_start[a] : track_start[a + 1]
    track_sampler: SegmentSampler
    genre_sampler: SegmentSampler  # segment = genre
    local_sampler: SegmentSampler  # segment = genre * n_countries + country
    global_sampler: SegmentSampler  # one segment: every artist by popularity


@dataclass
class Tracks:
    """Every track, indexed 0..n-1, grouped by artist."""

    artist: I64
    duration_ms: I64
    titles: list[str]


@dataclass
class Users:
    """Every user's fixed attributes, indexed 0..n-1."""

    place: I64
    country: I64
    tz: I64
    signup_ms: I64
    age: npt.NDArray[np.float64]  # NaN when unknown
    gender: list[str | None]
    rhythm: I64
    session_rate: F64  # expected sessions per active day, calibrated to n_events
    plays_per_session: F64
    preferred_hour: I64
    first_day: I64  # first simulated day the user can visit


@dataclass
class World:
    """Artists, tracks, users and the local-time table of one configuration."""

    config: SimulationConfig
    artists: Artists
    tracks: Tracks
    users: Users
    tz_offset_min: I64  # (n_timezones, days + 1): UTC offset in minutes, per local day


def _artist_names(rng: np.random.Generator, n: int) -> list[str]:
    style = rng.random(n)
    adj = np.array(NAME_ADJECTIVES)[rng.integers(0, len(NAME_ADJECTIVES), n)]
    noun = np.array(NAME_NOUNS)[rng.integers(0, len(NAME_NOUNS), n)]
    first = np.array(FIRST_NAMES)[rng.integers(0, len(FIRST_NAMES), n)]
    last = np.array(LAST_NAMES)[rng.integers(0, len(LAST_NAMES), n)]
    band = np.char.add(np.char.add(adj, " "), noun)
    the_band = np.char.add("The ", band)
    person = np.char.add(np.char.add(first, " "), last)
    names = np.where(style < 0.4, the_band, np.where(style < 0.7, person, band))
    return [str(x) for x in names]


def _artist_tags(rng: np.random.Generator, primary: I64, secondary: I64, country: I64) -> list[str]:
    n = len(primary)
    sub_a = rng.integers(0, 5, n)
    sub_b = (sub_a + rng.integers(1, 5, n)) % 5
    two_subs = rng.random(n) < 0.5
    general = rng.integers(0, len(GENERAL_TAGS), n)
    has_general = rng.random(n) < 0.6
    has_nationality = rng.random(n) < 0.3
    # A Python loop over artists (not events) to join a handful of tags each.
    tags = []
    for i in range(n):
        genre = GENRES[primary[i]]
        parts = [genre.name, genre.tags[sub_a[i]]]
        if secondary[i] >= 0:
            parts.append(GENRES[secondary[i]].name)
        if two_subs[i]:
            parts.append(genre.tags[sub_b[i]])
        if has_general[i]:
            parts.append(GENERAL_TAGS[general[i]])
        if has_nationality[i]:
            parts.append(COUNTRIES[country[i]].nationality)
        tags.append("|".join(dict.fromkeys(parts)))
    return tags


def build_artists(config: SimulationConfig, rng: np.random.Generator) -> tuple[Artists, Tracks]:
    """Draw every artist (genres, country, popularity, tags) and their tracks."""
    n = config.n_artists
    rank = rng.permutation(n) + 1
    popularity = rank.astype(np.float64) ** -config.zipf_exponent
    pop_percentile = 1.0 - (rank - 1) / max(1, n - 1)
    genre_w = np.array([g.weight for g in GENRES])
    primary = rng.choice(len(GENRES), size=n, p=genre_w / genre_w.sum()).astype(np.int64)
    related = [[GENRE_NAMES.tolist().index(r) for r in RELATED_GENRES[g.name]] for g in GENRES]
    width = max(len(r) for r in related)
    related_table = np.array([r + [r[0]] * (width - len(r)) for r in related])
    related_count = np.array([len(r) for r in related])
    pick = (rng.random(n) * related_count[primary]).astype(np.int64)
    secondary = np.where(rng.random(n) < 0.45, related_table[primary, pick], -1)
    # home country: country size times how popular the genre is there
    country_w = np.array([c.weight for c in COUNTRIES])
    by_genre = (genre_prior() * country_w[:, None]).T  # genres x countries
    country = draw_rows(rng, by_genre, primary)
    is_new = rng.random(n) < config.new_artist_fraction
    before = config.start_ms - (rng.random(n) * 3 * 365 * DAY_MS).astype(np.int64)
    during = config.start_ms + (rng.random(n) * config.days * DAY_MS).astype(np.int64)
    created_ms = np.where(is_new, during, before)
    latent = rng.normal(0.0, LATENT_DIM**-0.25, size=(n, LATENT_DIM))
    names = _artist_names(rng, n)
    tags = _artist_tags(rng, primary, secondary, country)

    mean_extra = (config.tracks_per_artist - 1.0) * (0.6 + 0.8 * pop_percentile)
    n_tracks = 1 + rng.poisson(mean_extra)
    track_start = np.concatenate(([0], np.cumsum(n_tracks))).astype(np.int64)
    track_artist = np.repeat(np.arange(n), n_tracks)
    position = np.arange(len(track_artist)) - track_start[track_artist]
    duration = np.exp(rng.normal(np.log(215_000), 0.3, len(track_artist)))
    duration_ms = np.clip(duration, 45_000, 900_000).astype(np.int64)
    words = np.array(TITLE_WORDS)
    w1 = words[rng.integers(0, len(words), len(track_artist))]
    w2 = words[rng.integers(0, len(words), len(track_artist))]
    titles = [str(x) for x in np.char.add(np.char.add(w1, " "), w2)]
    track_sampler = SegmentSampler(track_artist, (position + 1.0) ** -0.8, n)

    has_second = secondary >= 0
    entry_artist = np.concatenate((np.arange(n), np.flatnonzero(has_second)))
    entry_genre = np.concatenate((primary, secondary[has_second]))
    entry_w = np.concatenate((popularity, 0.5 * popularity[has_second]))
    n_countries = len(COUNTRIES)
    genre_sampler = SegmentSampler(entry_genre, entry_w, len(GENRES))
    genre_sampler.items = entry_artist[genre_sampler.items]
    local_key = entry_genre * n_countries + country[entry_artist]
    local_sampler = SegmentSampler(local_key, entry_w, len(GENRES) * n_countries)
    local_sampler.items = entry_artist[local_sampler.items]
    global_sampler = SegmentSampler(np.zeros(n, dtype=np.int64), popularity, 1)

    artists = Artists(
        popularity=popularity,
        pop_percentile=pop_percentile,
        primary=primary,
        secondary=secondary,
        country=country,
        created_ms=created_ms,
        latent=latent,
        names=names,
        tags=tags,
        track_start=track_start,
        track_sampler=track_sampler,
        genre_sampler=genre_sampler,
        local_sampler=local_sampler,
        global_sampler=global_sampler,
    )
    return artists, Tracks(artist=track_artist, duration_ms=duration_ms, titles=titles)


def build_users(config: SimulationConfig, rng: np.random.Generator) -> Users:
    """Draw every user's place, signup date, demographics and visit rhythm."""
    n = config.n_users
    place_w = np.array([COUNTRIES[ci].weight * p.weight for ci, p in PLACES], dtype=np.float64)
    for ci, country in enumerate(COUNTRIES):  # a country's weight is shared by its places
        mask = ci == PLACE_COUNTRY
        place_w[mask] *= country.weight / place_w[mask].sum()
    place = rng.choice(len(PLACES), size=n, p=place_w / place_w.sum()).astype(np.int64)
    is_new = rng.random(n) < config.new_user_fraction
    before = config.start_ms - (rng.random(n) * 2 * 365 * DAY_MS).astype(np.int64)
    during = config.start_ms + (rng.random(n) * config.days * DAY_MS).astype(np.int64)
    signup_ms = np.where(is_new, during, before)
    age = np.clip(np.round(rng.normal(29, 9, n)), 13, 85)
    age[rng.random(n) < 0.3] = np.nan
    g = rng.random(n)
    gender = np.where(g < 0.28, "f", np.where(g < 0.55, "m", np.where(g < 0.6, "n", "")))
    rhythm = rng.choice(3, size=n, p=RHYTHM_SHARE).astype(np.int64)
    activity = rng.lognormal(0.0, 0.5, n)
    plays = np.clip(rng.lognormal(np.log(6.0), 0.5, n), 1.5, 40.0)
    hours = np.arange(24)
    diurnal = np.array(DIURNAL_WEIGHTS) / np.sum(DIURNAL_WEIGHTS)
    preferred_hour = rng.choice(hours, size=n, p=diurnal).astype(np.int64)
    first_day = np.clip((signup_ms - config.start_ms) // DAY_MS, 0, config.days - 1)
    return Users(
        place=place,
        country=PLACE_COUNTRY[place],
        tz=PLACE_TZ[place],
        signup_ms=signup_ms,
        age=age,
        gender=[str(x) or None for x in gender],
        rhythm=rhythm,
        session_rate=RHYTHM_RATE[rhythm] * activity,
        plays_per_session=plays,
        preferred_hour=preferred_hour,
        first_day=first_day.astype(np.int64),
    )


def tz_offsets(config: SimulationConfig) -> I64:
    """UTC offset in minutes of every time zone at local noon of every simulated day."""
    table = np.zeros((len(TIMEZONES), config.days + 1), dtype=np.int64)
    start = datetime(config.start.year, config.start.month, config.start.day, 12, tzinfo=UTC)
    for ti, name in enumerate(TIMEZONES):
        zone = ZoneInfo(name)
        for day in range(config.days + 1):
            offset = (start + timedelta(days=day)).astimezone(zone).utcoffset()
            table[ti, day] = int(offset.total_seconds() // 60) if offset else 0
    return table


#: Events per play, on average (the play, skips, likes, pauses...), used to calibrate.
EVENTS_PER_PLAY = 1.35
#: Share of planned plays kept (plays of not-yet-discovered artists are dropped).
PLAYS_KEPT = 0.97


def calibrate(config: SimulationConfig, users: Users) -> None:
    """Scale every user's session rate so the expected event count is ``n_events``."""
    active_days = config.days - users.first_day
    per_session = 1.0 + users.plays_per_session * EVENTS_PER_PLAY * PLAYS_KEPT
    expected = float(np.sum(users.session_rate * active_days * per_session))
    users.session_rate *= config.n_events / max(expected, 1e-9)


def build_world(config: SimulationConfig) -> World:
    """Everything about the site that does not depend on one user's taste."""
    rng = np.random.default_rng([config.seed, 0])
    artists, tracks = build_artists(config, rng)
    users = build_users(config, rng)
    calibrate(config, users)
    return World(config, artists, tracks, users, tz_offsets(config))
