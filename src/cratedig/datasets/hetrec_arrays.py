"""The HetRec 2011 Last.fm 2K files as plain integer arrays, without a database.

The same readers as the store importer (:func:`cratedig.datasets.hetrec_parse.read_int_rows`
and :func:`cratedig.datasets.common.read_tsv`), so there is one parser of these files;
lines those readers cannot parse are left out here (the store importer quarantines
them). :func:`cratedig.evaluation.datasets.load_hetrec_lastfm` turns the arrays into a
matrix with id maps and side information.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cratedig.datasets.common import read_tsv
from cratedig.datasets.hetrec_parse import HETREC_FILES, read_int_rows
from cratedig.exceptions import NotFoundError
from cratedig.ingest.quarantine import BadRow

_NO_ROWS = np.zeros((0, 2), dtype=np.int64)


@dataclass
class HetrecArrays:
    """The dataset's own numeric ids, unprefixed (user ``2``, artist ``51``).

    ``plays`` has columns ``userID, artistID, weight``; ``tagged`` has ``userID,
    artistID, tagID`` (one row per tag assignment; dates dropped); ``friends`` has
    ``userID, friendID``. ``artist_names`` and ``tag_names`` map ids to text.
    """

    plays: npt.NDArray[np.int64]
    tagged: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 3), np.int64))
    friends: npt.NDArray[np.int64] = field(default_factory=lambda: _NO_ROWS.copy())
    artist_names: dict[int, str] | None = None
    tag_names: dict[int, str] | None = None


def _id_text(path: Path, n_fields: int, problems: list[BadRow]) -> dict[int, str]:
    """``{id: text}`` from the first two fields of a file such as ``artists.dat``."""
    by_id: dict[int, str] = {}
    for _number, fields in read_tsv(path, HETREC_FILES[path.name], n_fields, problems):
        if fields[0].strip().isdigit():
            by_id[int(fields[0])] = fields[1]
    return by_id


def read_hetrec_arrays(data_dir: str | Path, with_side: bool = True) -> HetrecArrays:
    """Read a HetRec 2011 Last.fm 2K folder into integer arrays.

    Parameters
    ----------
    data_dir
        The folder with ``user_artists.dat`` (and, for side information,
        ``artists.dat``, ``tags.dat``, ``user_taggedartists.dat``, ``user_friends.dat``;
        each side file is optional).
    with_side
        Also read names, tags and friendships.

    Raises
    ------
    NotFoundError
        When ``user_artists.dat`` is missing.
    """
    folder = Path(data_dir)
    plays_path = folder / "user_artists.dat"
    if not plays_path.exists():
        raise NotFoundError("dataset file", str(plays_path))
    problems: list[BadRow] = []
    plays, _ = read_int_rows(plays_path, ["userID", "artistID", "weight"], problems)
    data = HetrecArrays(plays=plays)
    if not with_side:
        return data
    if (folder / "artists.dat").exists():
        data.artist_names = _id_text(folder / "artists.dat", 4, problems)
    tagged_path, tags_path = folder / "user_taggedartists.dat", folder / "tags.dat"
    if tagged_path.exists() and tags_path.exists():
        data.tag_names = _id_text(tags_path, 2, problems)
        names = ["userID", "artistID", "tagID", "day", "month", "year"]
        tagged, _ = read_int_rows(tagged_path, names, problems)
        data.tagged = tagged[:, :3]
    if (folder / "user_friends.dat").exists():
        data.friends, _ = read_int_rows(
            folder / "user_friends.dat", ["userID", "friendID"], problems
        )
    return data
