"""Reading the simulator's ground truth back, to score recommendations against it.

The ground truth file (``ground_truth.csv|parquet|jsonl``) has one row per user and
artist the user could meet: ``user_id, artist_id, affinity, discovered_at``;
``affinity`` in (0, 1) is how much the user really likes the artist. Pairs absent
from the file are artists the user would never meet on the simulated site.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp

from cratedig.exceptions import ValidationError


class IndexMap(Protocol):
    """What is needed of an id map (``cratedig.matrix.idmap.IdMap`` fits)."""

    def __len__(self) -> int: ...

    def indices(self, idents: Iterable[str], missing: int = -1) -> npt.NDArray[np.int64]: ...


def read_ground_truth(path: str | Path) -> pl.DataFrame:
    """Read a ground truth file (CSV, Parquet or JSON Lines, by extension)."""
    path = Path(path)
    if path.suffix == ".csv":
        return pl.read_csv(path)
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    if path.suffix == ".jsonl":
        return pl.read_ndjson(path)
    raise ValidationError("path", str(path), "a .csv, .parquet or .jsonl file")


def ground_truth_matrix(
    truth: pl.DataFrame | str | Path, users: IndexMap, artists: IndexMap
) -> sp.csr_matrix:
    """The true affinities as a users x artists CSR matrix (float32) in the maps' indices.

    Pairs whose user or artist is not in the maps are left out; a zero means the user
    would never meet the artist.
    """
    frame = truth if isinstance(truth, pl.DataFrame) else read_ground_truth(truth)
    rows = users.indices(frame["user_id"].cast(pl.String).to_list())
    cols = artists.indices(frame["artist_id"].cast(pl.String).to_list())
    keep = (rows >= 0) & (cols >= 0)
    values = frame["affinity"].to_numpy().astype(np.float32)[keep]
    matrix = sp.csr_matrix(
        (values, (rows[keep], cols[keep])), shape=(len(users), len(artists)), dtype=np.float32
    )
    matrix.sort_indices()
    return matrix
