"""Beyond-accuracy metrics: coverage, novelty, diversity and the long tail.

``recs`` is always an ``(n_users, k)`` int array of item indices padded with ``-1``
(the model contract); padding is ignored everywhere.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cratedig.evaluation.metrics import BoolArray, FloatArray
from cratedig.exceptions import ValidationError
from cratedig.models.hidden_gems import head_artists


def _valid_recs(recs: npt.ArrayLike, n_items: int) -> tuple[npt.NDArray[np.int64], BoolArray]:
    arr = np.asarray(recs)
    arr = arr[None, :] if arr.ndim == 1 else arr
    arr = arr.astype(np.int64, copy=False)
    return arr, (arr >= 0) & (arr < n_items)


def _recs_indicator(recs: npt.ArrayLike, n_items: int) -> sp.csr_matrix:
    """Users x items 0/1 CSR matrix of the (valid, de-duplicated) recommended items."""
    arr, valid = _valid_recs(recs, n_items)
    rows = np.repeat(np.arange(arr.shape[0]), arr.shape[1]).reshape(arr.shape)[valid]
    matrix = sp.csr_matrix((np.ones(rows.size), (rows, arr[valid])), shape=(arr.shape[0], n_items))
    matrix.data[:] = 1.0  # duplicates in a list were summed; count each item once
    return matrix


def item_popularity(interactions: sp.spmatrix | sp.sparray) -> FloatArray:
    """Share of users who interacted with each item (column non-zeros / rows)."""
    csc = sp.csc_matrix(interactions)
    csc.eliminate_zeros()
    n_users = max(csc.shape[0], 1)
    return np.diff(csc.indptr).astype(np.float64) / n_users


def catalogue_coverage(recs: npt.ArrayLike, n_items: int) -> float:
    """Share of the catalogue that appears in at least one list."""
    if n_items < 1:
        raise ValidationError("n_items", n_items, "an integer >= 1")
    arr, valid = _valid_recs(recs, n_items)
    return float(np.unique(arr[valid]).size / n_items)


def novelty(recs: npt.ArrayLike, popularity: npt.ArrayLike, n_users: int | None = None) -> float:
    """Mean self-information ``-log2(p_i)`` of the recommended items, in bits.

    Parameters
    ----------
    recs
        ``(n_users, k)`` recommended items.
    popularity
        Share of (training) users who interacted with each item, see
        :func:`item_popularity`.
    n_users
        Number of users behind ``popularity``. Items nobody interacted with get
        ``p = 1 / n_users`` (as if one user had) so that the value stays finite; without
        it the smallest positive share is used.

    Returns
    -------
    float
        Mean over all recommended items (``NaN`` when no list recommends anything).
    """
    share = np.asarray(popularity, dtype=np.float64)
    arr, valid = _valid_recs(recs, share.size)
    if not valid.any():
        return float("nan")
    positive = share[share > 0]
    floor = 1.0 / n_users if n_users else (positive.min() if positive.size else 1.0)
    p = np.maximum(share[arr[valid]], floor)
    return float(np.mean(-np.log2(p)))


def intra_list_diversity(recs: npt.ArrayLike, item_tags: sp.spmatrix | sp.sparray) -> FloatArray:
    """Per list, ``1 -`` the mean pairwise cosine similarity of the items' tag vectors.

    Items without tags are left out (a zero vector has no direction; counting it as
    dissimilar to everything would reward recommending untagged items). Lists with
    fewer than two tagged items get ``NaN``.

    Computed without forming pairs: with unit rows ``v_i`` and ``s = sum_i v_i``,
    the sum of ``cos(i, j)`` over ordered pairs ``i != j`` is ``|s|^2 - m``.
    """
    tags = sp.csr_matrix(item_tags, dtype=np.float64)
    norms = np.sqrt(np.asarray(tags.multiply(tags).sum(axis=1)).ravel())
    tagged = norms > 0
    unit = sp.diags(np.where(tagged, 1.0 / np.where(tagged, norms, 1.0), 0.0)) @ tags
    indicator = _recs_indicator(recs, tags.shape[0])
    indicator = indicator @ sp.diags(tagged.astype(np.float64))
    m = np.asarray(indicator.sum(axis=1)).ravel()
    summed = indicator @ unit
    squared = np.asarray(summed.multiply(summed).sum(axis=1)).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_cos = (squared - m) / (m * (m - 1))
    result = 1.0 - mean_cos
    result[m < 2] = np.nan
    return np.clip(result, 0.0, 1.0, out=result, where=~np.isnan(result))


def popular_head_mask(
    interactions: sp.spmatrix | sp.sparray, head_fraction: float = 0.1
) -> BoolArray:
    """The popular head: the ``ceil(head_fraction * n_items)`` items with most users.

    The hidden-gems model's head (:func:`cratedig.models.hidden_gems.head_artists`)
    over the number of interacting users: most first, ties broken by the lower index.
    Everything else is the long tail.
    """
    counts = np.diff(sp.csc_matrix(interactions).indptr).astype(np.float64)
    mask = np.zeros(counts.size, dtype=bool)
    mask[head_artists(counts, head_fraction)] = True
    return mask


def long_tail_share(recs: npt.ArrayLike, head_mask: npt.ArrayLike) -> float:
    """Share of recommended items that are outside the popular head."""
    head = np.asarray(head_mask, dtype=bool)
    arr, valid = _valid_recs(recs, head.size)
    if not valid.any():
        return float("nan")
    return float(np.mean(~head[arr[valid]]))


def restrict_to_items(relevant: sp.spmatrix | sp.sparray, keep: npt.ArrayLike) -> sp.csr_matrix:
    """A copy of ``relevant`` keeping only the columns where ``keep`` is true."""
    csr = sp.csr_matrix(relevant, copy=True)
    keep_mask = np.asarray(keep, dtype=bool)
    csr.data = csr.data * keep_mask[csr.indices]
    csr.eliminate_zeros()
    return csr
