"""Precompute every user's lists and every artist's similar artists into the store.

All rows are written under a new ``version_id`` in chunks (one transaction each), so
a run killed midway leaves only rows of a version that nothing serves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sqlalchemy import Engine, Table

from cratedig.matrix.idmap import IdMap
from cratedig.models.base import BATCH_USERS
from cratedig.models.clusters import country_clusters
from cratedig.models.contract import RecommenderLike
from cratedig.store.schema import (
    fallback_lists,
    precomputed_lists,
    similar_artist_lists,
)

Progress = Callable[[int], None]


_dumps = json.JSONEncoder(separators=(",", ":")).encode


def items_json(items: Sequence[dict[str, Any]]) -> str:
    """The compact JSON stored for one list."""
    return json.dumps(list(items), separators=(",", ":"))


def _chunks(n: int, size: int) -> Iterator[npt.NDArray[np.int64]]:
    for start in range(0, n, size):
        yield np.arange(start, min(n, start + size), dtype=np.int64)


def _write(engine: Engine, table: Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        with engine.begin() as conn:
            conn.execute(table.insert(), rows)


def _as_2d(a: Any, n: int) -> npt.NDArray[Any]:
    arr = np.asarray(a)
    return arr.reshape(n, -1) if arr.ndim == 1 else arr


def precompute_user_lists(
    engine: Engine,
    version_id: str,
    list_type: str,
    model: RecommenderLike,
    users: IdMap,
    artists: IdMap,
    k: int,
    blocked: sp.csr_matrix | None = None,
    explain_top: int = 20,
    chunk_users: int = 500,
    progress: Progress | None = None,
) -> int:
    """Write each user's top-``k`` candidates of one list type.

    Parameters
    ----------
    blocked
        Users x artists pairs never to recommend (e.g. unfollowed artists).
    explain_top
        Explanations are computed for this many best items of each list; the rest
        get none (serving fills in a generic one).

    Returns
    -------
    int
        The number of lists written.
    """
    written = 0
    extra = 0
    if blocked is not None and blocked.nnz:
        extra = int(np.diff(blocked.indptr).max())
    artist_json = [json.dumps(a) for a in artists.ids]
    user_ids = users.ids
    for chunk in _chunks(len(users), chunk_users):
        rows = []
        # rank and explain a model batch at a time: the hybrid explains with the blocks
        # it has just ranked (models.hybrid), and small blocks stay in the CPU cache
        for start in range(0, len(chunk), BATCH_USERS):
            idx = chunk[start : start + BATCH_USERS]
            rows += _user_rows(
                version_id,
                list_type,
                model,
                idx,
                user_ids,
                artist_json,
                k,
                extra,
                blocked,
                explain_top,
            )
        _write(engine, precomputed_lists, rows)
        written += len(rows)
        if progress is not None:
            progress(len(rows))
    return written


def _user_rows(
    version_id: str,
    list_type: str,
    model: RecommenderLike,
    idx: npt.NDArray[np.int64],
    user_ids: list[str],
    artist_json: list[str],
    k: int,
    extra: int,
    blocked: sp.csr_matrix | None,
    explain_top: int,
) -> list[dict[str, Any]]:
    """The rows of one batch of users' lists (top ``k``, the first ``explain_top``
    explained)."""
    top, scores = model.recommend(idx, k=k + extra, exclude_seen=True)
    top, scores = _as_2d(top, len(idx)), _as_2d(scores, len(idx))
    keep = (top >= 0) & np.isfinite(scores)
    if extra and blocked is not None:
        banned = sp.csr_matrix(blocked[idx] != 0).toarray()
        keep &= ~np.take_along_axis(banned, np.maximum(top, 0), axis=1)
    kept = [top[row][keep[row]][:k] for row in range(len(idx))]
    kept_scores = [scores[row][keep[row]][:k] for row in range(len(idx))]
    explained = np.full((len(idx), min(k, explain_top)), -1, dtype=np.int64)
    for row, items in enumerate(kept):
        explained[row, : min(len(items), explained.shape[1])] = items[: explained.shape[1]]
    texts = model.explain_batch(idx, explained) if explained.size else []
    rows = []
    for row, u in enumerate(idx.tolist()):
        pairs = zip(kept[row].tolist(), kept_scores[row].tolist(), strict=True)
        rows.append(
            {
                "version_id": version_id,
                "list_type": list_type,
                "user_id": user_ids[u],
                "entries": entries_json(artist_json, pairs, texts[row] if texts else []),
            }
        )
    return rows


def entries_json(
    artist_json: Sequence[str],
    pairs: Iterable[tuple[int, float]],
    texts: Sequence[str | None],
) -> str:
    """:func:`items_json` of ``{"artist_id", "score" (6 decimals), "explanation"}``
    entries (an explanation for the first ``len(texts)``), written straight as text:
    the same string, without building a dict per entry. ``artist_json`` holds each
    artist id already JSON-encoded."""
    parts = []
    for col, (a, s) in enumerate(pairs):
        head = f'{{"artist_id":{artist_json[a]},"score":{round(s, 6)!r}'
        if col < len(texts):
            parts.append(f'{head},"explanation":{_dumps(texts[col])}}}')
        else:
            parts.append(head + "}")
    return "[" + ",".join(parts) + "]"


def precompute_similar_artists(
    engine: Engine,
    version_id: str,
    model: RecommenderLike,
    artists: IdMap,
    k: int,
    chunk_artists: int = 1000,
    progress: Progress | None = None,
) -> int:
    """Write each artist's ``k`` most similar artists; returns the lists written."""
    written = 0
    artist_ids = artists.ids
    for idx in _chunks(len(artists), chunk_artists):
        top, scores = model.similar_artists(idx, k=k)
        top, scores = _as_2d(top, len(idx)), _as_2d(scores, len(idx))
        rows = []
        for row, a in enumerate(idx):
            items = [
                {"artist_id": artist_ids[b], "score": round(float(s), 6)}
                for b, s in zip(top[row].tolist(), scores[row].tolist(), strict=True)
                if b >= 0 and b != a and np.isfinite(s)
            ]
            rows.append(
                {
                    "version_id": version_id,
                    "artist_id": artist_ids[int(a)],
                    "entries": items_json(items),
                }
            )
        _write(engine, similar_artist_lists, rows)
        written += len(rows)
        if progress is not None:
            progress(len(rows))
    return written


def _popular(
    listeners: npt.NDArray[np.float64], artist_ids: list[str], k: int, why: str = "Popular"
) -> str:
    order = np.argsort(-listeners, kind="stable")[:k]
    items = [
        {
            "artist_id": artist_ids[int(a)],
            "score": float(listeners[a]),
            "explanation": f"{why}: {int(listeners[a])} listeners",
        }
        for a in order
        if listeners[a] > 0
    ]
    return items_json(items)


#: Countries with fewer listeners than this get their taste cluster's list instead of
#: their own (a handful of users make a noisy "popular in your country" list).
MIN_COUNTRY_LISTENERS = 5


def precompute_fallbacks(
    engine: Engine,
    version_id: str,
    X: sp.csr_matrix,
    artists: IdMap,
    k: int,
    user_country: npt.NDArray[np.int64] | None = None,
    country_names: Sequence[str] = (),
    user_cluster: npt.NDArray[np.int64] | None = None,
    min_country_listeners: int = MIN_COUNTRY_LISTENERS,
) -> int:
    """Write the cold-start lists: most-listened artists overall, per country and cluster.

    An artist's popularity is its number of listeners (users with positive
    engagement), which no single heavy user can inflate. Scopes (``scope``,
    ``scope_key``):

    - ``("global", "")``: everyone;
    - ``("country", name)``: a country with at least ``min_country_listeners`` users
      with history;
    - ``("country_cluster", name)``: a smaller country, served the list of the taste
      cluster (``user_cluster``, ``-1`` for none) most of its users belong to.

    Returns
    -------
    int
        The number of lists written.
    """
    positive = (X > 0).astype(np.float64).tocsr()
    artist_ids = artists.ids
    rows = [
        {
            "version_id": version_id,
            "scope": "global",
            "scope_key": "",
            "entries": _popular(np.asarray(positive.sum(axis=0)).ravel(), artist_ids, k),
        }
    ]
    if user_country is None or not len(country_names):
        _write(engine, fallback_lists, rows)
        return len(rows)
    country = np.asarray(user_country)
    warm = np.diff(positive.indptr) > 0
    clusters = None if user_cluster is None else np.asarray(user_cluster)
    country_cluster = (
        np.zeros(0, dtype=np.int64)
        if clusters is None
        else country_clusters(clusters, country, int(clusters.max()) + 1)
    )
    for c, name in enumerate(country_names):
        members = (country == c) & warm
        n_members = int(members.sum())
        if n_members == 0:
            continue
        if n_members >= min_country_listeners or clusters is None:
            listeners = np.asarray(positive[members].sum(axis=0)).ravel()
            scope, why = "country", f"Popular in {name}"
        else:
            cluster = int(country_cluster[c]) if c < len(country_cluster) else -1
            if cluster < 0:
                continue
            listeners = np.asarray(positive[clusters == cluster].sum(axis=0)).ravel()
            scope, why = "country_cluster", f"Popular with listeners of a taste common in {name}"
        rows.append(
            {
                "version_id": version_id,
                "scope": scope,
                "scope_key": str(name),
                "entries": _popular(listeners, artist_ids, k, why),
            }
        )
    _write(engine, fallback_lists, rows)
    return len(rows)
