"""Ranking helpers shared by the models: top-k of score rows, per-row normalisation."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

#: Per-user score normalisations (see :func:`normalise_rows`).
NORMALISATIONS = ("minmax", "zscore")


def top_k(scores: FloatArray, k: int) -> tuple[IntArray, FloatArray]:
    """Best ``k`` columns of each row, best first, padded with ``-1`` / ``-inf``.

    Ties are broken by the lower artist index, so results do not depend on the batch.
    """
    n, n_items = scores.shape
    idx = np.full((n, k), -1, dtype=np.int64)
    out = np.full((n, k), -np.inf, dtype=np.float32)
    kk = min(k, n_items)
    for row in range(n):
        s = scores[row]
        if kk < n_items:
            threshold = s[np.argpartition(-s, kk - 1)[kk - 1]]
            cand = np.flatnonzero(s >= threshold)
        else:
            cand = np.arange(n_items)
        cand = cand[np.isfinite(s[cand])]
        order = np.lexsort((cand, -s[cand]))[:kk]
        chosen = cand[order]
        idx[row, : len(chosen)] = chosen
        out[row, : len(chosen)] = s[chosen]
    return idx, out


def normalise_rows(scores: FloatArray, how: str) -> tuple[FloatArray, np.ndarray]:
    """Per-row normalised scores (non-candidates -> 0) and the candidate mask.

    ``how`` is ``"minmax"`` (to [0, 1]) or ``"zscore"`` (mean 0, standard deviation 1),
    both over each row's finite scores.
    """
    finite = np.isfinite(scores)
    if how == "minmax":
        # nanmin/nanmax/nan_to_num over the block cost several times this; same values
        every = bool(finite.all())
        with np.errstate(all="ignore"):
            low = (scores if every else np.where(finite, scores, np.inf)).min(axis=1, keepdims=True)
            high = (scores if every else np.where(finite, scores, -np.inf)).max(
                axis=1, keepdims=True
            )
            out = scores - low
            out /= np.maximum(high - low, 1e-9)
            if not every:
                np.copyto(out, 0.0, where=~finite)
            if not np.isfinite(out).all():  # an overflow: as nan_to_num would
                np.nan_to_num(out, copy=False, nan=0.0)
        return out.astype(np.float32, copy=False), finite
    masked = np.where(finite, scores, np.nan)
    with np.errstate(all="ignore"):
        mean = np.nanmean(masked, axis=1, keepdims=True)
        std = np.nanstd(masked, axis=1, keepdims=True)
        out = (masked - mean) / np.maximum(std, 1e-9)
    return np.nan_to_num(out, nan=0.0).astype(np.float32), finite


def mean_ndcg_of_scores(scores: FloatArray, truth: sp.csr_matrix, k: int = 10) -> float:
    """Mean binary NDCG@k of the top-``k`` of already-masked score rows against truth rows.

    The NDCG of :func:`cratedig.evaluation.metrics.ndcg_at_k` (which scores finished
    lists, user by user), taken straight from a score block for the hybrid's weight
    search; rows with no truth count as 0.
    """
    lists, _ = top_k(scores, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    total = 0.0
    for row in range(scores.shape[0]):
        relevant = truth.indices[truth.indptr[row] : truth.indptr[row + 1]]
        gains = np.isin(lists[row], relevant) & (lists[row] >= 0)
        ideal = discounts[: min(len(relevant), k)].sum()
        total += float((gains * discounts).sum() / ideal) if ideal else 0.0
    return total / max(scores.shape[0], 1)
