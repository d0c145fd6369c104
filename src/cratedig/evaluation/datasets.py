"""Read benchmark datasets straight from their files into matrices.

The store-based path (``cratedig.ingest.lastfm_hetrec`` then
``cratedig.matrix.build_engagement``) is what a site uses; the accuracy benchmark
reads the HetRec 2011 Last.fm 2K files directly so that every library compared gets
exactly the same matrix, without a database in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cratedig.exceptions import NotFoundError
from cratedig.matrix.idmap import IdMap
from cratedig.matrix.side import SideInfo


@dataclass
class PlayData:
    """A users x artists play-count matrix with its id maps and side information."""

    X: sp.csr_matrix
    users: IdMap
    artists: IdMap
    side: SideInfo


def _read_tsv(path: Path, encoding: str = "utf-8") -> pd.DataFrame:
    if not path.exists():
        raise NotFoundError("dataset file", str(path))
    return pd.read_csv(path, sep="\t", encoding=encoding, quoting=3, dtype=str)


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
    folder = Path(data_dir)
    plays = _read_tsv(folder / "user_artists.dat")
    user_codes = plays["userID"].astype(np.int64)
    artist_codes = plays["artistID"].astype(np.int64)
    user_ids = np.unique(user_codes)
    artist_ids = np.unique(artist_codes)
    rows = np.searchsorted(user_ids, user_codes)
    cols = np.searchsorted(artist_ids, artist_codes)
    X = sp.csr_matrix(
        (plays["weight"].astype(np.float32).to_numpy(), (rows, cols)),
        shape=(user_ids.size, artist_ids.size),
        dtype=np.float32,
    )
    X.sum_duplicates()
    users = IdMap(str(u) for u in user_ids)
    artists = IdMap(str(a) for a in artist_ids)
    side = SideInfo()
    if with_side:
        side = _hetrec_side(folder, user_ids, artist_ids)
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


def _hetrec_side(folder: Path, user_ids: np.ndarray, artist_ids: np.ndarray) -> SideInfo:
    side = SideInfo()
    names_path = folder / "artists.dat"
    if names_path.exists():
        names = _read_tsv(names_path)
        by_id = dict(zip(names["id"].astype(np.int64), names["name"].fillna(""), strict=True))
        side.artist_names = [str(by_id.get(int(a), "")) for a in artist_ids]
    tagged_path, tags_path = folder / "user_taggedartists.dat", folder / "tags.dat"
    if tagged_path.exists() and tags_path.exists():
        tags = _read_tsv(tags_path, encoding="latin-1")
        tag_codes = np.sort(tags["tagID"].astype(np.int64).to_numpy())
        tag_name = dict(zip(tags["tagID"].astype(np.int64), tags["tagValue"], strict=True))
        tagged = _read_tsv(tagged_path)
        side.artist_tags = _known_pairs(artist_ids, tagged["artistID"], tag_codes, tagged["tagID"])
        side.tag_names = [str(tag_name[int(t)]) for t in tag_codes]
    friends_path = folder / "user_friends.dat"
    if friends_path.exists():
        friends = _read_tsv(friends_path)
        adjacency = _known_pairs(user_ids, friends["userID"], user_ids, friends["friendID"])
        adjacency = ((adjacency + adjacency.T) > 0).astype(np.float32).tocsr()
        side.friends = adjacency
    return side
