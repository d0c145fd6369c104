"""Top-k accuracy metrics, vectorised over users.

Every function takes a block of recommendation lists and the relevant (held-out)
items of the same users:

- ``recs``: an int array of shape ``(n_users, k)``, best first, padded with ``-1``
  where fewer than ``k`` items were recommended (the model contract's padding);
- ``relevant``: a CSR matrix with one row per row of ``recs`` (users x items); any
  stored non-zero entry marks an item as relevant (binary relevance).

Each returns one value per user. Users without any relevant item get ``NaN`` (every
metric is undefined for them); callers average with :func:`numpy.nanmean` or drop
those users first, as :func:`cratedig.evaluation.protocol.evaluate_model` does.
The scores are hand-written rather than taken from scikit-learn because
``sklearn.metrics.ndcg_score`` needs dense score matrices over the whole catalogue,
which is wasteful when only the top ``k`` indices are known.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cratedig.exceptions import ValidationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def _check_k(k: int) -> int:
    if int(k) < 1:
        raise ValidationError("k", k, "an integer >= 1")
    return int(k)


def _as_recs(recs: npt.ArrayLike, k: int) -> IntArray:
    """The first ``k`` columns of ``recs`` as a 2-D int64 array."""
    arr = np.asarray(recs)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValidationError("recs", f"array of shape {arr.shape}", "a 2-D (users x k) array")
    return arr[:, :k].astype(np.int64, copy=False)


def _as_csr(relevant: sp.spmatrix | sp.sparray, n_rows: int) -> sp.csr_matrix:
    csr = sp.csr_matrix(relevant)
    if csr.shape[0] != n_rows:
        raise ValidationError(
            "relevant", f"{csr.shape[0]} rows", f"{n_rows} rows, one per recommendation list"
        )
    csr.eliminate_zeros()
    return csr


def hit_matrix(recs: npt.ArrayLike, relevant: sp.spmatrix | sp.sparray) -> BoolArray:
    """Which recommended items are relevant.

    Parameters
    ----------
    recs
        ``(n_users, k)`` item indices, ``-1`` for padding.
    relevant
        ``(n_users, n_items)`` sparse matrix; non-zero means relevant.

    Returns
    -------
    numpy.ndarray
        Boolean ``(n_users, k)``; padding and out-of-range indices are never hits.
    """
    arr = np.asarray(recs)
    arr = arr[None, :] if arr.ndim == 1 else arr
    arr = arr.astype(np.int64, copy=False)
    rel = _as_csr(relevant, arr.shape[0])
    n_rows, width = arr.shape
    if n_rows == 0 or width == 0:
        return np.zeros((n_rows, width), dtype=bool)
    valid = (arr >= 0) & (arr < rel.shape[1])
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), width)
    cols = np.where(valid, arr, 0).ravel()
    # CSR element lookup (binary search per entry, in C): no dense users x items matrix.
    values = np.asarray(rel[rows, cols]).ravel()
    return (values != 0).reshape(n_rows, width) & valid


def n_relevant(relevant: sp.spmatrix | sp.sparray) -> IntArray:
    """Number of relevant items of each user (stored non-zeros per row)."""
    csr = sp.csr_matrix(relevant)
    csr.eliminate_zeros()
    return np.diff(csr.indptr).astype(np.int64)


def _undefined_where_empty(values: FloatArray, n_rel: IntArray) -> FloatArray:
    values = values.astype(np.float64, copy=False)
    values[n_rel == 0] = np.nan
    return values


def _hits_and_counts(
    recs: npt.ArrayLike, relevant: sp.spmatrix | sp.sparray, k: int
) -> tuple[BoolArray, IntArray]:
    k = _check_k(k)
    arr = _as_recs(recs, k)
    rel = _as_csr(relevant, arr.shape[0])
    return hit_matrix(arr, rel), n_relevant(rel)


def _precision(hits: BoolArray, k: int) -> FloatArray:
    return hits.sum(axis=1) / float(k)


def _recall(hits: BoolArray, n_rel: IntArray) -> FloatArray:
    return hits.sum(axis=1) / np.maximum(n_rel, 1)


def _f1(precision: FloatArray, recall: FloatArray) -> FloatArray:
    total = precision + recall
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, 2.0 * precision * recall / np.where(total > 0, total, 1), 0.0)


def _discounts(k: int) -> FloatArray:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def _ndcg(hits: BoolArray, n_rel: IntArray, k: int) -> FloatArray:
    discounts = _discounts(k)
    dcg = hits.astype(np.float64) @ discounts[: hits.shape[1]]
    idcg = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(n_rel, k)]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1), 0.0)


def _average_precision(hits: BoolArray, n_rel: IntArray, k: int) -> FloatArray:
    hit_float = hits.astype(np.float64)
    positions = np.arange(1, hits.shape[1] + 1, dtype=np.float64)
    precision_at_i = np.cumsum(hit_float, axis=1) / positions
    return (precision_at_i * hit_float).sum(axis=1) / np.maximum(np.minimum(n_rel, k), 1)


def _hit_rate(hits: BoolArray) -> FloatArray:
    return np.asarray(hits.any(axis=1), dtype=np.float64)


def precision_at_k(
    recs: npt.ArrayLike, relevant: sp.spmatrix | sp.sparray, k: int = 10
) -> FloatArray:
    """Hits among the first ``k`` recommendations divided by ``k``.

    The denominator is always ``k``, also when a list is shorter (padding counts as
    a miss), so that models cannot gain by recommending less.
    """
    hits, n_rel = _hits_and_counts(recs, relevant, k)
    return _undefined_where_empty(_precision(hits, k), n_rel)


def recall_at_k(recs: npt.ArrayLike, relevant: sp.spmatrix | sp.sparray, k: int = 10) -> FloatArray:
    """Hits among the first ``k`` recommendations divided by the number of relevant items."""
    hits, n_rel = _hits_and_counts(recs, relevant, k)
    return _undefined_where_empty(_recall(hits, n_rel), n_rel)


def f1_at_k(recs: npt.ArrayLike, relevant: sp.spmatrix | sp.sparray, k: int = 10) -> FloatArray:
    """Harmonic mean of precision@k and recall@k (0 where both are 0)."""
    hits, n_rel = _hits_and_counts(recs, relevant, k)
    return _undefined_where_empty(_f1(_precision(hits, k), _recall(hits, n_rel)), n_rel)


def ndcg_at_k(recs: npt.ArrayLike, relevant: sp.spmatrix | sp.sparray, k: int = 10) -> FloatArray:
    """Normalised discounted cumulative gain with binary relevance.

    ``DCG = sum_i hit_i / log2(i + 2)`` over positions ``i = 0..k-1``; the ideal DCG
    puts ``min(k, |relevant|)`` hits first.
    """
    hits, n_rel = _hits_and_counts(recs, relevant, k)
    return _undefined_where_empty(_ndcg(hits, n_rel, _check_k(k)), n_rel)


def average_precision_at_k(
    recs: npt.ArrayLike, relevant: sp.spmatrix | sp.sparray, k: int = 10
) -> FloatArray:
    """AP@k: the mean of precision@i at each hit position, over ``min(k, |relevant|)``.

    The mean of this over users is MAP@k.
    """
    hits, n_rel = _hits_and_counts(recs, relevant, k)
    return _undefined_where_empty(_average_precision(hits, n_rel, _check_k(k)), n_rel)


def hit_rate_at_k(
    recs: npt.ArrayLike, relevant: sp.spmatrix | sp.sparray, k: int = 10
) -> FloatArray:
    """1 when at least one of the first ``k`` recommendations is relevant, else 0."""
    hits, n_rel = _hits_and_counts(recs, relevant, k)
    return _undefined_where_empty(_hit_rate(hits), n_rel)


ACCURACY_METRICS = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "f1": f1_at_k,
    "ndcg": ndcg_at_k,
    "map": average_precision_at_k,
    "hit_rate": hit_rate_at_k,
}
"""The accuracy metrics by short name; reported as ``"<name>@<k>"``."""


def accuracy_metrics(
    recs: npt.ArrayLike, relevant: sp.spmatrix | sp.sparray, k: int = 10
) -> dict[str, FloatArray]:
    """All accuracy metrics per user, computing the hit matrix once.

    Returns
    -------
    dict
        ``{"precision@k": per-user array, "recall@k": ..., "f1@k", "ndcg@k", "map@k",
        "hit_rate@k"}`` (``NaN`` for users without relevant items).
    """
    k = _check_k(k)
    hits, n_rel = _hits_and_counts(recs, relevant, k)
    precision, recall = _precision(hits, k), _recall(hits, n_rel)
    per_user = {
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "ndcg": _ndcg(hits, n_rel, k),
        "map": _average_precision(hits, n_rel, k),
        "hit_rate": _hit_rate(hits),
    }
    return {
        f"{name}@{k}": _undefined_where_empty(np.asarray(v, dtype=np.float64), n_rel)
        for name, v in per_user.items()
    }
