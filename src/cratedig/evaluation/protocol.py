"""Offline evaluation protocols: full ranking over the catalogue, history masked.

:func:`evaluate_model` fits a model on the training matrix (unless told not to), asks
it for the top ``k`` of every evaluated user with ``exclude_seen=True`` (so the
user's training history is masked) and scores the lists against the held-out
matrix. :func:`evaluate_recommendations` scores lists that were computed elsewhere
(another library, a precomputed table). Only users with at least one held-out item
are averaged over.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cratedig.evaluation import beyond
from cratedig.evaluation.metrics import accuracy_metrics, hit_matrix
from cratedig.exceptions import ValidationError
from cratedig.matrix.side import SideInfo
from cratedig.models.contract import RecommenderLike

DEFAULT_BATCH_SIZE = 1024
"""Users asked for recommendations at once."""


def users_with_items(matrix: sp.spmatrix | sp.sparray) -> npt.NDArray[np.int64]:
    """Indices of the rows that hold at least one non-zero."""
    csr = sp.csr_matrix(matrix)
    csr.eliminate_zeros()
    return np.flatnonzero(np.diff(csr.indptr) > 0).astype(np.int64)


def _check_shapes(train: sp.spmatrix | None, test: sp.spmatrix) -> None:
    if train is not None and train.shape != test.shape:
        raise ValidationError("test", f"shape {test.shape}", f"the shape of train, {train.shape}")


def _eval_users(test: sp.csr_matrix, users: Sequence[int] | npt.ArrayLike | None) -> np.ndarray:
    with_items = users_with_items(test)
    if users is None:
        return with_items
    chosen = np.unique(np.asarray(users, dtype=np.int64))
    if chosen.size and (chosen.min() < 0 or chosen.max() >= test.shape[0]):
        raise ValidationError("users", int(chosen.max()), f"user indices in 0..{test.shape[0] - 1}")
    return np.intersect1d(chosen, with_items)


def evaluate_recommendations(
    recs: npt.ArrayLike,
    test: sp.spmatrix | sp.sparray,
    k: int = 10,
    *,
    users: npt.ArrayLike | None = None,
    train: sp.spmatrix | sp.sparray | None = None,
    item_tags: sp.spmatrix | sp.sparray | None = None,
    head_mask: npt.ArrayLike | None = None,
    head_fraction: float = 0.1,
) -> dict[str, float]:
    """Score precomputed top-k lists.

    Parameters
    ----------
    recs
        ``(len(users), k)`` item indices, best first, ``-1`` padding; row ``i`` is the
        list of user ``users[i]``.
    test
        Users x items held-out matrix (any non-zero is relevant).
    k
        The cut-off.
    users
        The user index of each row of ``recs``; default ``0..len(recs)-1``. Rows of
        users without held-out items are ignored.
    train
        The matrix the lists were made from. Needed for novelty and the long-tail
        metrics (popularity is measured on it); recommended training items are
        counted as misses (they should have been masked).
    item_tags
        Items x tags matrix; adds ``diversity@k`` (intra-list, over tags).
    head_mask
        Which items are the popular head; default :func:`beyond.popular_head_mask` of
        ``train`` with ``head_fraction`` (the most-listened 10% of the catalogue).

    Returns
    -------
    dict
        ``precision@k``, ``recall@k``, ``f1@k``, ``ndcg@k``, ``map@k``, ``hit_rate@k``,
        ``coverage@k``, ``users``, and with ``train``: ``novelty@k``,
        ``long_tail_share@k``, ``ndcg_long_tail@k``, ``recall_long_tail@k``,
        ``long_tail_users``; with ``item_tags``: ``diversity@k``.
    """
    test_csr = sp.csr_matrix(test)
    _check_shapes(train, test_csr)
    arr = np.asarray(recs, dtype=np.int64)
    arr = arr[None, :] if arr.ndim == 1 else arr
    arr = arr[:, :k]
    row_users = np.arange(arr.shape[0]) if users is None else np.asarray(users, dtype=np.int64)
    if row_users.shape[0] != arr.shape[0]:
        raise ValidationError(
            "users", f"{row_users.shape[0]} users", f"{arr.shape[0]}, one per list"
        )
    keep = np.diff(test_csr.indptr)[row_users] > 0
    arr, row_users = arr[keep], row_users[keep]
    n_items = test_csr.shape[1]
    if train is not None:
        train_csr = sp.csr_matrix(train)
        leaked = hit_matrix(arr, train_csr[row_users])
        arr = np.where(leaked, -1, arr)
    relevant = test_csr[row_users]
    result: dict[str, float] = {"users": float(len(row_users))}
    if len(row_users) == 0:
        return result
    for name, values in accuracy_metrics(arr, relevant, k).items():
        result[name] = float(np.nanmean(values))
    result[f"coverage@{k}"] = beyond.catalogue_coverage(arr, n_items)
    if train is not None:
        popularity = beyond.item_popularity(train_csr)
        result[f"novelty@{k}"] = beyond.novelty(arr, popularity, n_users=train_csr.shape[0])
        head = (
            beyond.popular_head_mask(train_csr, head_fraction)
            if head_mask is None
            else np.asarray(head_mask, dtype=bool)
        )
        result[f"long_tail_share@{k}"] = beyond.long_tail_share(arr, head)
        tail_relevant = beyond.restrict_to_items(relevant, ~head)
        tail_users = np.diff(tail_relevant.indptr) > 0
        result["long_tail_users"] = float(tail_users.sum())
        if tail_users.any():
            tail = accuracy_metrics(arr[tail_users], tail_relevant[tail_users], k)
            result[f"ndcg_long_tail@{k}"] = float(np.nanmean(tail[f"ndcg@{k}"]))
            result[f"recall_long_tail@{k}"] = float(np.nanmean(tail[f"recall@{k}"]))
    if item_tags is not None:
        diversity = beyond.intra_list_diversity(arr, item_tags)
        if np.isfinite(diversity).any():
            result[f"diversity@{k}"] = float(np.nanmean(diversity))
    return result


def recommend_all(
    model: RecommenderLike,
    users: npt.ArrayLike,
    k: int,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> npt.NDArray[np.int64]:
    """Top-k lists of many users, asked in batches, training history masked."""
    user_arr = np.asarray(users, dtype=np.int64)
    if batch_size < 1:
        raise ValidationError("batch_size", batch_size, "an integer >= 1")
    parts = []
    for start in range(0, len(user_arr), batch_size):
        idx, _ = model.recommend(user_arr[start : start + batch_size], k=k, exclude_seen=True)
        block = np.full((idx.shape[0], k), -1, dtype=np.int64)
        block[:, : min(k, idx.shape[1])] = idx[:, :k]
        parts.append(block)
    if not parts:
        return np.empty((0, k), dtype=np.int64)
    return np.vstack(parts)


def evaluate_model(
    model: RecommenderLike,
    train: sp.spmatrix | sp.sparray,
    test: sp.spmatrix | sp.sparray,
    k: int = 10,
    side: SideInfo | None = None,
    users: npt.ArrayLike | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    *,
    fit: bool = True,
    head_mask: npt.ArrayLike | None = None,
    head_fraction: float = 0.1,
) -> dict[str, float]:
    """Fit on ``train`` and score full-catalogue top-k lists against ``test``.

    Parameters
    ----------
    model
        A cratedig ``Recommender`` (or anything with its ``fit``/``recommend``).
    train, test
        Users x items matrices of the same shape with disjoint entries (a split from
        :mod:`cratedig.matrix.split`).
    k
        The cut-off (>= 1).
    side
        Side information passed to ``fit``; its ``artist_tags`` also give
        ``diversity@k``.
    users
        Evaluate only these users (default: every user with a held-out item).
    batch_size
        Users per ``recommend`` call.
    fit
        ``False`` when ``model`` was already fitted on ``train``.
    head_mask, head_fraction
        The popular head for the long-tail metrics (see
        :func:`evaluate_recommendations`).

    Returns
    -------
    dict
        The metrics of :func:`evaluate_recommendations` plus ``fit_seconds`` (0 when not
        fitted here) and ``recommend_seconds``.
    """
    if int(k) < 1:
        raise ValidationError("k", k, "an integer >= 1")
    k = int(k)
    test_csr = sp.csr_matrix(test)
    _check_shapes(train, test_csr)
    fit_seconds = 0.0
    if fit:
        start = time.perf_counter()
        model.fit(sp.csr_matrix(train, dtype=np.float32), side)
        fit_seconds = time.perf_counter() - start
    eval_users = _eval_users(test_csr, users)
    start = time.perf_counter()
    recs = recommend_all(model, eval_users, k, batch_size)
    recommend_seconds = time.perf_counter() - start
    result = evaluate_recommendations(
        recs,
        test_csr,
        k,
        users=eval_users,
        train=train,
        item_tags=side.artist_tags if side is not None else None,
        head_mask=head_mask,
        head_fraction=head_fraction,
    )
    result["fit_seconds"] = fit_seconds
    result["recommend_seconds"] = recommend_seconds
    return result
