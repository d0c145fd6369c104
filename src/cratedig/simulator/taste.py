"""Users' taste and the ground truth: which artists each user can meet, and how much
they like each one.

A user's taste mixes a few genres (a sparse Dirichlet around their country's genre
popularity), leans toward artists from their own country and world area, and has an
idiosyncratic part (a small latent vector). The **true affinity** of user ``u`` for
artist ``a`` is::

    sigmoid(5 * genre_match + region_match + 0.8 * latent_u . latent_a - 2)

where ``genre_match`` is the user's taste for the artist's genres (0.7 primary, 0.3
secondary) and ``region_match`` is 0.8 for the same country, 0.3 for the same area.
Each user meets only a candidate set of artists (drawn by taste, locality and
popularity); the candidates and their affinities are the simulation's ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cratedig.simulator.world import (
    COUNTRY_AREA,
    DAY_MS,
    GENRES,
    LATENT_DIM,
    SegmentSampler,
    World,
    draw_rows,
    genre_prior,
)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Share of a user's candidate draws that follow their genres (the rest: popularity).
GENRE_DRAWS = 0.72
#: Share of genre draws taken among artists from the user's own country.
LOCAL_DRAWS = 0.3
#: Share of candidates a user already knows when the period starts.
KNOWN_AT_START = 0.45


@dataclass
class Candidates:
    """The artists the users of one block can meet, sorted by user then artist."""

    user: I64  # index of the user inside the block
    artist: I64
    affinity: F64  # true affinity in (0, 1)
    discovered_ms: I64  # when the user can first meet the artist
    sampler: SegmentSampler  # draws a candidate per user, weighted by affinity


def true_affinity(
    taste: F64,
    user_latent: F64,
    user_country: I64,
    world: World,
    artist: I64,
) -> F64:
    """True affinity of each (user row, artist) pair; rows of the user arrays align.

    Parameters
    ----------
    taste
        (n, genres) genre taste of the user of each pair.
    user_latent
        (n, LATENT_DIM) idiosyncratic taste of the user of each pair.
    user_country
        Country index of the user of each pair.
    artist
        Artist index of each pair.
    """
    art = world.artists
    rows = np.arange(len(artist))
    prim = taste[rows, art.primary[artist]]
    sec_idx = art.secondary[artist]
    sec = taste[rows, np.maximum(sec_idx, 0)]
    genre_match = np.where(sec_idx >= 0, 0.7 * prim + 0.3 * sec, prim)
    a_country = art.country[artist]
    region = np.where(
        a_country == user_country,
        0.8,
        np.where(COUNTRY_AREA[a_country] == COUNTRY_AREA[user_country], 0.3, 0.0),
    )
    latent = np.einsum("ij,ij->i", user_latent, art.latent[artist])
    score = 5.0 * genre_match + region + 0.8 * latent - 2.0
    return 1.0 / (1.0 + np.exp(-score))


def draw_taste(world: World, block: I64, rng: np.random.Generator) -> tuple[F64, F64]:
    """Genre taste (rows sum to 1) and latent taste of the users of one block."""
    prior = genre_prior()[world.users.country[block]]
    raw = rng.gamma(2.0 * prior * len(GENRES) / 10.0) + 1e-12
    taste = 0.9 * raw / raw.sum(axis=1, keepdims=True) + 0.1 * prior
    latent = rng.normal(0.0, LATENT_DIM**-0.25, size=(len(block), LATENT_DIM))
    return taste, latent


def draw_candidates(world: World, block: I64, rng: np.random.Generator) -> Candidates:
    """Draw the candidate artists of every user in ``block``, with their affinities."""
    cfg, users, art = world.config, world.users, world.artists
    n_artists = cfg.n_artists
    taste, latent = draw_taste(world, block, rng)
    active_days = cfg.days - users.first_day[block]
    plays = users.session_rate[block] * active_days * users.plays_per_session[block]
    k = np.clip(np.round(8 + 2.5 * np.sqrt(plays)), 8, min(n_artists, 400)).astype(np.int64)
    slot_user = np.repeat(np.arange(len(block)), k)
    n_slots = len(slot_user)
    artist = np.empty(n_slots, dtype=np.int64)
    by_genre = rng.random(n_slots) < GENRE_DRAWS
    explore = ~by_genre
    artist[explore] = art.global_sampler.sample(rng, np.zeros(int(explore.sum()), np.int64))
    genre = draw_rows(rng, taste, slot_user[by_genre])
    country = users.country[block][slot_user[by_genre]]
    local_key = genre * len(COUNTRY_AREA) + country
    local = (rng.random(len(genre)) < LOCAL_DRAWS) & (art.local_sampler.counts[local_key] > 0)
    has_genre = art.genre_sampler.counts[genre] > 0
    picked = np.where(
        has_genre,
        0,
        art.global_sampler.sample(rng, np.zeros(len(genre), np.int64)),
    )
    g_ok = has_genre & ~local
    picked[g_ok] = art.genre_sampler.sample(rng, genre[g_ok])
    picked[local] = art.local_sampler.sample(rng, local_key[local])
    artist[by_genre] = picked

    keys = np.unique(slot_user * n_artists + artist)
    c_user, c_artist = keys // n_artists, keys % n_artists
    affinity = true_affinity(
        taste[c_user], latent[c_user], users.country[block][c_user], world, c_artist
    )
    base = np.maximum(users.signup_ms[block][c_user], cfg.start_ms)
    later = cfg.start_ms + (rng.random(len(keys)) * cfg.days * DAY_MS).astype(np.int64)
    known = rng.random(len(keys)) < KNOWN_AT_START
    discovered = np.maximum(np.where(known, base, later), base)
    discovered = np.maximum(discovered, art.created_ms[c_artist])
    weight = affinity**2 * (0.5 + art.pop_percentile[c_artist])
    sampler = SegmentSampler(c_user, weight, len(block))
    return Candidates(c_user, c_artist, affinity, discovered, sampler)
