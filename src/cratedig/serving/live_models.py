"""The served version's fitted model, loaded once per worker, scoring current histories.

Between retrains, a user who did something since the version's snapshot gets a list
scored from their *current* history: their row of the training matrix with the new
events folded in (weighed with the version's recorded engagement configuration), run
through :meth:`cratedig.models.base.Recommender.history_scores` (EASE and item-kNN: one
sparse row times the item-item weights; ALS: the user's factors recomputed; the default
hybrid: each component, blended). Users without new events keep the precomputed list.

The model is read from the version's ``artifact_path`` (``model/``, ``users.txt``,
``artists.txt``, as :func:`cratedig.pipeline.train.train` writes them; no pickle) on
first use and kept per version; a version without artifacts is remembered as such and
its users get the precomputed list re-ranked as before.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from cratedig.matrix.idmap import IdMap
from cratedig.models.explain import top_contributors
from cratedig.models.ranking import normalise_rows
from cratedig.models.registry import load_model, make_model

log = logging.getLogger(__name__)

#: Versions whose model a worker keeps (the served one and one being swapped in).
KEPT_MODELS = 2
#: Share of the blended score that comes from the recent activity alone; the rest comes
#: from the whole current history (long-term taste plus the new events). Short- and
#: long-term interests blended, as in session-aware recommenders (e.g. Jannach &
#: Ludewig, "When recurrent neural networks meet the neighborhood", RecSys 2017).
RECENT_SHARE = 0.5
#: Within the recent-activity part, the share of content similarity (artist tags,
#: :class:`cratedig.models.tag_content.TagContent`) beside the model's own scores: a
#: new interest is about the kind of music as much as about who co-listens (on the
#: demo site the model's neighbours of a genre's top artists alone are ~4 of 10 of
#: that genre, see ``benchmarks/personalisation.py``).
CONTENT_SHARE = 0.5


@dataclass
class LiveModel:
    """One version's fitted model and its id maps."""

    model: Any
    users: IdMap
    artists: IdMap
    #: Tag-content model over the same data (None without artist tags).
    content: Any = None


@dataclass
class Scored:
    """A list scored from a current history (artist ids, best first)."""

    artist_ids: list[str]
    scores: list[float]
    #: Per item: the recent artists (ids) that contributed most; empty if none did.
    recent_reasons: list[list[str]]
    #: Per item: the other history artists (ids) that contributed most.
    other_reasons: list[list[str]]


class LiveModels:
    """Each served version's model, loaded lazily and kept (a few versions per worker)."""

    def __init__(self, kept: int = KEPT_MODELS) -> None:
        self._kept: OrderedDict[str, LiveModel | None] = OrderedDict()
        self._kept_size = kept
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def get(self, version_id: str, artifact_path: str | None) -> LiveModel | None:
        """The version's model, or None when it has no readable artifacts."""
        with self._lock:
            if version_id in self._kept:
                self._kept.move_to_end(version_id)
                return self._kept[version_id]
            loading = self._loading.setdefault(version_id, threading.Lock())
        with loading:  # one load per version per worker, however many requests wait
            with self._lock:
                if version_id in self._kept:
                    return self._kept[version_id]
            live = _load(artifact_path)
            with self._lock:
                self._kept[version_id] = live
                self._loading.pop(version_id, None)
                while len(self._kept) > self._kept_size:
                    self._kept.popitem(last=False)
            return live


def _load(artifact_path: str | None) -> LiveModel | None:
    if not artifact_path:
        return None
    folder = Path(artifact_path)
    try:
        model = load_model(folder / "model")
        live = LiveModel(
            model=model,
            users=IdMap.load(folder / "users.txt"),
            artists=IdMap.load(folder / "artists.txt"),
        )
    except Exception:  # a missing or unreadable artifact: serve precomputed lists
        log.warning("no usable model artifacts at %s", folder, exc_info=True)
        return None
    side = getattr(model, "side_", None)
    if (
        getattr(model, "uses_history", True)
        and side is not None
        and side.artist_tags is not None
        and side.artist_tags.nnz
    ):
        live.content = make_model("tag_content").fit(model.X_, side)
    return live


def fold_value(old: float, added: float, transform: str | None) -> float:
    """A matrix entry after ``added`` raw weight, under the engagement's ``transform``.

    The matrix holds ``transform(raw)``: without a transform the weight adds; under
    ``log1p`` the raw value is recovered first; ``binary`` stays 1. BM25 and TF-IDF
    depend on the whole matrix, so there the added weight is damped with ``log1p``
    (an approximation until the next retrain).
    """
    if transform is None:
        return old + added
    if transform == "binary":
        return 1.0 if old + added > 0 else 0.0
    if transform == "log1p":
        return math.log1p(math.expm1(max(old, 0.0)) + added)
    return old + math.log1p(max(added, 0.0))


def score_current(
    live: LiveModel,
    user_id: str,
    positive: Mapping[str, float],
    removed: set[str],
    k: int,
    transform: str | None,
    recent_share: float = RECENT_SHARE,
    content_share: float = CONTENT_SHARE,
) -> Scored | None:
    """Score a user's current history: the snapshot row plus recent positive weights.

    Parameters
    ----------
    live
        The version's model and id maps.
    positive
        Artist id -> summed recent positive weight.
    removed
        Artists unfollowed since (taken out of the history, never recommended).
    k
        Items wanted.
    transform
        The engagement's transform (see :func:`fold_value`).
    recent_share, content_share
        See :data:`RECENT_SHARE` and :data:`CONTENT_SHARE`.

    Returns
    -------
    Scored or None
        None when none of the recent artists is known to the model.
    """
    model = live.model
    n = model.n_artists_
    recent = {live.artists.get(a): w for a, w in positive.items() if a not in removed}
    recent.pop(-1, None)
    gone = [i for i in live.artists.indices(removed) if i >= 0]
    if not recent and not gone:
        return None
    user = live.users.get(user_id)
    values: dict[int, float] = {}
    if user >= 0:
        X = model.X_
        span = slice(X.indptr[user], X.indptr[user + 1])
        values = dict(zip(X.indices[span].tolist(), X.data[span].tolist(), strict=True))
    for idx, weight in recent.items():
        values[idx] = fold_value(values.get(idx, 0.0), weight, transform)
    for idx in gone:
        values.pop(int(idx), None)
    current = _row(values, n)
    if not getattr(model, "uses_history", True):
        return _unpersonalised(live, user, values, gone, k)
    scores = model.history_scores(current)
    recent_row = _row({i: values[i] for i in recent}, n)
    if recent and recent_share > 0:
        short = model.history_scores(recent_row)
        if live.content is not None and content_share > 0:
            short = _blend(short, live.content.history_scores(recent_row), content_share)
        scores = _blend(scores, short, recent_share)
    known = np.fromiter(values, dtype=np.int64, count=len(values))
    scores[known] = -np.inf
    scores[np.asarray(gone, dtype=np.int64)] = -np.inf
    if user >= 0:  # pairs the snapshot blocked (unfollows) stay out
        X = model.X_
        span = slice(X.indptr[user], X.indptr[user + 1])
        scores[X.indices[span][X.data[span] <= 0]] = -np.inf
    order = np.argsort(-scores, kind="stable")[:k]
    order = order[np.isfinite(scores[order])]
    reasons = model.history_reasons(current, order) if len(order) else np.empty((0, 0))
    by_tags = _content_reasons(live.content, recent_row, order)
    recent_ids = set(recent)
    recent_reasons, other_reasons = [], []
    for row, tag_row in zip(reasons, by_tags, strict=True):
        named = [int(a) for a in row if a >= 0]
        mine = [a for a in named if a in recent_ids]
        if not mine:  # lifted by the recent artists' tags rather than co-listening
            mine = [int(a) for a in tag_row if a >= 0]
        recent_reasons.append([live.artists.id(a) for a in mine])
        other_reasons.append([live.artists.id(a) for a in named if a not in recent_ids])
    return Scored(
        artist_ids=live.artists.to_ids(order),
        scores=[float(s) for s in scores[order]],
        recent_reasons=recent_reasons,
        other_reasons=other_reasons,
    )


def _unpersonalised(
    live: LiveModel, user: int, values: Mapping[int, float], gone: list[int], k: int
) -> Scored:
    """A model whose scores ignore the history (popularity): its own ranking for the
    user, without the artists the user knows now (nor unfollowed ones), no reasons.

    Neither the model's similar artists nor the tag content are added: that would
    personalise a baseline that is meant not to be (an experiment's popularity arm).
    """
    model = live.model
    if user >= 0:
        scores = model.scores(np.array([user]))[0].astype(np.float64)
    else:
        scores = model.history_scores(_row({}, model.n_artists_)).astype(np.float64)
    known = np.fromiter(values, dtype=np.int64, count=len(values))
    scores[known] = -np.inf
    scores[np.asarray(gone, dtype=np.int64)] = -np.inf
    order = np.argsort(-scores, kind="stable")[:k]
    order = order[np.isfinite(scores[order])]
    return Scored(
        artist_ids=live.artists.to_ids(order),
        scores=[float(s) for s in scores[order]],
        recent_reasons=[[] for _ in order],
        other_reasons=[[] for _ in order],
    )


def _content_reasons(content: Any, recent_row: sp.csr_matrix, items: np.ndarray) -> np.ndarray:
    """The recent artists whose tags are most like each item's (``len(items) x REASONS``).

    One tag-similarity row per recent artist (a handful), not one per candidate.
    """
    if content is None or recent_row.nnz == 0 or len(items) == 0:
        return np.full((len(items), 0), -1, dtype=np.int64)
    history = recent_row.indices.astype(np.int64)
    sims = np.stack([content._similar_scores(int(a)) for a in history])[:, items]
    terms = np.where(np.isfinite(sims), sims, 0.0) * recent_row.data[:, None]
    return top_contributors(history, terms)


def _row(values: Mapping[int, float], n: int) -> sp.csr_matrix:
    cols = np.fromiter(values, dtype=np.int64, count=len(values))
    data = np.fromiter(values.values(), dtype=np.float32, count=len(values))
    order = np.argsort(cols)
    return sp.csr_matrix(
        (data[order], cols[order], np.array([0, len(cols)])), shape=(1, n), dtype=np.float32
    )


def _blend(long: np.ndarray, short: np.ndarray, share: float) -> np.ndarray:
    """``(1 - share) * minmax(long) + share * minmax(short)``; -inf only where both are."""
    normalised, finite = normalise_rows(np.vstack([long, short]), "minmax")
    out = (1.0 - share) * normalised[0] + share * normalised[1]
    return np.where(finite.any(axis=0), out, -np.inf).astype(np.float32)
