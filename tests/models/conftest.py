"""Fixtures of the model tests: a two-block "checkerboard" world with a known answer."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from cratedig.matrix.side import SideInfo

BLOCK_USERS = 10
BLOCK_ARTISTS = 8
N_USERS = 2 * BLOCK_USERS + 1  # the last user has no history (country 0)
N_ARTISTS = 2 * BLOCK_ARTISTS + 1  # the last artist has no listeners, tagged like block A
COLD_USER = N_USERS - 1
NEW_ARTIST = N_ARTISTS - 1


def block_of_artist(artist: int) -> int:
    """0 for block A (artists 0..7 and the new artist 16), 1 for block B (8..15)."""
    if artist == NEW_ARTIST:
        return 0
    return artist // BLOCK_ARTISTS


def block_of_user(user: int) -> int:
    return user // BLOCK_USERS


def checkerboard_matrix() -> sp.csr_matrix:
    """Users 0-9 listen only to artists 0-7, users 10-19 only to 8-15, 4 artists each.

    User u of a block listens to the block's artists (u + j) mod 8 for j = 0..3, with
    play counts 40, 30, 20, 10 (a rotating window: neighbouring artists co-occur).
    """
    rows, cols, vals = [], [], []
    for user in range(2 * BLOCK_USERS):
        block = block_of_user(user)
        for j in range(4):
            rows.append(user)
            cols.append(block * BLOCK_ARTISTS + (user + j) % BLOCK_ARTISTS)
            vals.append(40.0 - 10.0 * j)
    return sp.csr_matrix(
        (np.array(vals, np.float32), (rows, cols)), shape=(N_USERS, N_ARTISTS), dtype=np.float32
    )


def checkerboard_side() -> SideInfo:
    tags_a = ["indie", "shoegaze"]
    tags_b = ["jazz", "soul"]
    tag_names = [*tags_a, *tags_b, "live"]
    rows, cols, vals = [], [], []
    for artist in range(N_ARTISTS):
        block = block_of_artist(artist)
        for t in (0, 1):
            rows.append(artist)
            cols.append(2 * block + t)
            vals.append(float(1 + (artist + t) % 3))
        if artist % 5 == 0:  # a tag shared by both blocks
            rows.append(artist)
            cols.append(4)
            vals.append(1.0)
    tags = sp.csr_matrix((vals, (rows, cols)), shape=(N_ARTISTS, len(tag_names)), dtype=np.float32)
    country = np.array([block_of_user(u) for u in range(N_USERS)], dtype=np.int64)
    country[COLD_USER] = 0
    friends = sp.csr_matrix((N_USERS, N_USERS), dtype=np.float32)
    return SideInfo(
        artist_tags=tags,
        tag_names=tag_names,
        user_country=country,
        country_names=["GB", "BR"],
        friends=friends,
        artist_names=[f"Band {chr(65 + a)}" for a in range(N_ARTISTS)],
    )


@pytest.fixture
def X() -> sp.csr_matrix:
    return checkerboard_matrix()


@pytest.fixture
def side() -> SideInfo:
    return checkerboard_side()
