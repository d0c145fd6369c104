"""Read benchmark datasets straight from their files into matrices.

The store-based path (``cratedig.ingest.lastfm_hetrec`` then
``cratedig.matrix.build_engagement``) is what a site uses; the accuracy benchmark
reads the HetRec 2011 Last.fm 2K files directly so that every library compared gets
exactly the same matrix, without a database in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
        artist_col = tagged["artistID"].astype(np.int64).to_numpy()
        tag_col = tagged["tagID"].astype(np.int64).to_numpy()
        a_pos = np.searchsorted(artist_ids, artist_col).clip(max=artist_ids.size - 1)
        t_pos = np.searchsorted(tag_codes, tag_col).clip(max=tag_codes.size - 1)
        known = (artist_ids[a_pos] == artist_col) & (tag_codes[t_pos] == tag_col)
        side.artist_tags = sp.csr_matrix(
            (np.ones(int(known.sum()), dtype=np.float32), (a_pos[known], t_pos[known])),
            shape=(artist_ids.size, tag_codes.size),
        )
        side.artist_tags.sum_duplicates()
        side.tag_names = [str(tag_name[int(t)]) for t in tag_codes]
    friends_path = folder / "user_friends.dat"
    if friends_path.exists():
        friends = _read_tsv(friends_path)
        a = friends["userID"].astype(np.int64).to_numpy()
        b = friends["friendID"].astype(np.int64).to_numpy()
        a_pos = np.searchsorted(user_ids, a).clip(max=user_ids.size - 1)
        b_pos = np.searchsorted(user_ids, b).clip(max=user_ids.size - 1)
        known = (user_ids[a_pos] == a) & (user_ids[b_pos] == b)
        adjacency = sp.csr_matrix(
            (np.ones(int(known.sum()), dtype=np.float32), (a_pos[known], b_pos[known])),
            shape=(user_ids.size, user_ids.size),
        )
        adjacency = ((adjacency + adjacency.T) > 0).astype(np.float32).tocsr()
        side.friends = adjacency
    return side
