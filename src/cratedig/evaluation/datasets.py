"""Benchmark datasets as matrices, straight from their files.

The store-based path (``cratedig.datasets.lastfm_hetrec`` then
``cratedig.matrix.build_engagement``) is what a site uses; the accuracy benchmark
reads the HetRec 2011 Last.fm 2K files directly so that every library compared gets
exactly the same matrix, without a database in between. The files are parsed by
:mod:`cratedig.datasets` (one parser, shared with the store importer); this module only
builds the evaluation's matrix, id maps and side information from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from cratedig.datasets.hetrec_arrays import HetrecArrays, read_hetrec_arrays
from cratedig.matrix.idmap import IdMap
from cratedig.matrix.side import SideInfo


@dataclass
class PlayData:
    """A users x artists play-count matrix with its id maps and side information."""

    X: sp.csr_matrix
    users: IdMap
    artists: IdMap
    side: SideInfo


def load_hetrec_lastfm(data_dir: str | Path, with_side: bool = True) -> PlayData:
    """Load HetRec 2011 Last.fm 2K: play counts, and tags, names and friends as side info.

    Parameters
    ----------
    data_dir
        The folder with ``user_artists.dat`` (and, for side information,
        ``artists.dat``, ``tags.dat``, ``user_taggedartists.dat``, ``user_friends.dat``).
    with_side
        Also read tags, artist names and friendships.

    Returns
    -------
    PlayData
        ``X`` holds raw play counts (float32). Users and artists are those of
        ``user_artists.dat``, ordered by their numeric id; ids are kept as strings.
        ``side.artist_tags[a, t]`` counts the users who applied tag ``t`` to artist
        ``a``.
    """
    data = read_hetrec_arrays(data_dir, with_side=with_side)
    user_codes, artist_codes = data.plays[:, 0], data.plays[:, 1]
    user_ids = np.unique(user_codes)
    artist_ids = np.unique(artist_codes)
    rows = np.searchsorted(user_ids, user_codes)
    cols = np.searchsorted(artist_ids, artist_codes)
    X = sp.csr_matrix(
        (data.plays[:, 2].astype(np.float32), (rows, cols)),
        shape=(user_ids.size, artist_ids.size),
        dtype=np.float32,
    )
    X.sum_duplicates()
    users = IdMap(str(u) for u in user_ids)
    artists = IdMap(str(a) for a in artist_ids)
    side = SideInfo()
    if with_side:
        side = _hetrec_side(data, user_ids, artist_ids)
    return PlayData(X=X, users=users, artists=artists, side=side)


def _known_pairs(
    row_ids: np.ndarray, row_col: Any, col_ids: np.ndarray, col_col: Any
) -> sp.csr_matrix:
    """Count the (row, column) pairs whose ids are both in the sorted id arrays.

    Pairs naming an unknown id on either side are dropped.
    """
    rows = np.asarray(row_col, dtype=np.int64)
    cols = np.asarray(col_col, dtype=np.int64)
    r_pos = np.searchsorted(row_ids, rows).clip(max=row_ids.size - 1)
    c_pos = np.searchsorted(col_ids, cols).clip(max=col_ids.size - 1)
    known = (row_ids[r_pos] == rows) & (col_ids[c_pos] == cols)
    matrix = sp.csr_matrix(
        (np.ones(int(known.sum()), dtype=np.float32), (r_pos[known], c_pos[known])),
        shape=(row_ids.size, col_ids.size),
    )
    matrix.sum_duplicates()
    return matrix


def _hetrec_side(data: HetrecArrays, user_ids: np.ndarray, artist_ids: np.ndarray) -> SideInfo:
    side = SideInfo()
    if data.artist_names is not None:
        side.artist_names = [data.artist_names.get(int(a), "") for a in artist_ids]
    if data.tag_names is not None:
        tag_codes = np.array(sorted(data.tag_names), dtype=np.int64)
        side.artist_tags = _known_pairs(artist_ids, data.tagged[:, 1], tag_codes, data.tagged[:, 2])
        side.tag_names = [data.tag_names[int(t)] for t in tag_codes]
    if len(data.friends):
        adjacency = _known_pairs(user_ids, data.friends[:, 0], user_ids, data.friends[:, 1])
        adjacency = ((adjacency + adjacency.T) > 0).astype(np.float32).tocsr()
        side.friends = adjacency
    return side
