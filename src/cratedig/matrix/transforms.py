"""Transforms of an engagement matrix, and the interaction-count filters.

Every transform takes and returns a CSR matrix with the *same sparsity structure*
(same ``indptr``/``indices``), so a matching matrix (such as the last-interaction
times) stays aligned. Negative values must have been clipped to 0 (and the zeros
dropped) before a transform; :func:`build_engagement` does so.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp
from implicit.nearest_neighbours import bm25_weight, tfidf_weight

from cratedig.exceptions import ValidationError

#: BM25 and TF-IDF give an artist that (nearly) every user engaged with an IDF <= 0;
#: such entries are floored at this tiny positive value so the pair stays "seen".
IDF_FLOOR = 1e-6


def _with_data(X: sp.csr_matrix, data: npt.NDArray[np.floating]) -> sp.csr_matrix:
    out = X.copy()
    out.data = np.asarray(data, dtype=X.dtype)
    return out


def log1p(X: sp.csr_matrix) -> sp.csr_matrix:
    """``log(1 + x)`` of every stored value (dampens heavy listeners)."""
    return _with_data(X, np.log1p(X.data))


def root4(X: sp.csr_matrix) -> sp.csr_matrix:
    """The fourth root ``x ** 0.25`` (tames play counts a little less than ``log1p``)."""
    return _with_data(X, np.sqrt(np.sqrt(X.data)))


def binary(X: sp.csr_matrix) -> sp.csr_matrix:
    """1 for every stored (positive) value: the "did engage" view."""
    return _with_data(X, np.ones_like(X.data))


def bm25(X: sp.csr_matrix, k1: float = 100.0, b: float = 0.8) -> sp.csr_matrix:
    """Okapi BM25 item weighting, exactly ``implicit.nearest_neighbours.bm25_weight``.

    With ``N`` users, ``df[j]`` the users of artist ``j`` and ``len[u]`` the row sum of
    user ``u``: ``x * (k1 + 1) / (k1 * (1 - b + b * len[u] / mean(len)) + x)
    * (log N - log(1 + df[j]))``, floored at :data:`IDF_FLOOR`.
    """
    weighted = bm25_weight(X.tocoo(), K1=k1, B=b)  # COO in CSR's row-major order
    return _with_data(X, np.maximum(weighted.data, IDF_FLOOR))


def tfidf(X: sp.csr_matrix) -> sp.csr_matrix:
    """TF-IDF as ``implicit.nearest_neighbours.tfidf_weight``: ``sqrt(x) * (log N - log(1 + df))``.

    Floored at :data:`IDF_FLOOR` like :func:`bm25`.
    """
    weighted = tfidf_weight(X.tocoo())
    return _with_data(X, np.maximum(weighted.data, IDF_FLOOR))


#: Transforms by name; ``"none"`` (or None) leaves the values as they are.
TRANSFORMS = ("none", "log1p", "root4", "binary", "bm25", "tfidf")


def apply_transform(
    X: sp.csr_matrix,
    transform: str | None,
    k1: float = 100.0,
    b: float = 0.8,
    field: str = "transform",
) -> sp.csr_matrix:
    """Apply a transform by name (``None`` or ``"none"`` returns ``X`` unchanged).

    ``field`` names the setting in the error raised for an unknown name.
    """
    if transform is None or transform == "none":
        return X
    named = {"log1p": log1p, "root4": root4, "binary": binary, "tfidf": tfidf}
    if transform in named:
        return named[transform](X)
    if transform == "bm25":
        return bm25(X, k1, b)
    raise ValidationError(field, transform, f"one of: {', '.join(TRANSFORMS)}")


def reweight(
    X: sp.csr_matrix, scheme: str | None, k1: float = 100.0, b: float = 0.8
) -> sp.csr_matrix:
    """A model's re-weighting of any matrix: negatives clipped to 0 and dropped, then a
    transform (a new CSR float32 matrix; unknown names are a ``weighting`` error).

    The models' ``weighting`` hyperparameter; the same transforms, with the same
    :data:`IDF_FLOOR`, as the engagement's ``transform``.
    """
    if scheme is not None and scheme not in TRANSFORMS:
        raise ValidationError("weighting", scheme, f"one of: {', '.join(TRANSFORMS)}")
    out = sp.csr_matrix(X, dtype=np.float32, copy=True)
    np.maximum(out.data, 0.0, out=out.data)
    out.eliminate_zeros()
    out.sum_duplicates()
    return sp.csr_matrix(apply_transform(out, scheme, k1, b), dtype=np.float32)


def filter_min_interactions(
    pairs: pl.DataFrame,
    min_user: int = 1,
    min_artist: int = 1,
    until_stable: bool = True,
    user_col: str = "user_id",
    artist_col: str = "artist_id",
) -> pl.DataFrame:
    """Drop users and artists with too few distinct partners from a pairs table.

    Parameters
    ----------
    pairs
        One row per nonzero (user, artist) pair, in columns ``user_col`` and ``artist_col``.
    min_user, min_artist
        Minimum distinct artists per user and distinct users per artist.
    until_stable
        Repeat until a round drops nothing (a k-core); else exactly one round. In each
        round both counts are taken on the current table and both drops happen at once.
    """
    if min_user <= 1 and min_artist <= 1:
        return pairs
    while True:
        kept = pairs.filter(
            (pl.len().over(user_col) >= min_user) & (pl.len().over(artist_col) >= min_artist)
        )
        if not until_stable or kept.height == pairs.height:
            return kept
        pairs = kept
