"""Popularity baselines: global, and per country with a global fallback."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from cratedig.matrix.side import SideInfo
from cratedig.models.base import FloatArray, IntArray, Recommender
from cratedig.models.checks import check_positive_int, invalid
from cratedig.models.ranking import top_k

POPULARITY_BY = ("listeners", "weight")


def artist_popularity(X: sp.csr_matrix, by: str) -> FloatArray:
    """Listeners per artist (``by="listeners"``) or summed positive weight (``"weight"``)."""
    if by not in POPULARITY_BY:
        raise invalid("by", by, f"one of: {', '.join(POPULARITY_BY)}")
    if by == "listeners":
        return np.bincount(X.indices, minlength=X.shape[1]).astype(np.float32)
    positive = X.copy()
    np.maximum(positive.data, 0.0, out=positive.data)
    return np.asarray(positive.sum(axis=0), dtype=np.float32).ravel()


class Popularity(Recommender):
    """The most popular artists for everyone.

    Parameters
    ----------
    by
        ``"listeners"`` (number of users who engaged) or ``"weight"`` (summed weight).
    """

    name = "popularity"
    fallback = "the same global popularity list"
    uses_history = False

    def __init__(self, *, by: str = "listeners") -> None:
        self.by = by

    def _fit(self, X: sp.csr_matrix, side: SideInfo | None) -> None:
        self.scores_ = artist_popularity(X, self.by)

    def _score(self, users: IntArray) -> FloatArray:
        return np.tile(self.scores_, (len(users), 1))

    def _cold_scores(self, users: IntArray) -> FloatArray:
        return self._score(users)

    def _score_history(self, row: sp.csr_matrix) -> FloatArray:
        """Global popularity whatever the history (as :meth:`_score`)."""
        return self.scores_.copy()

    def _explain(self, user: int, artist: int) -> str:
        return "one of the most popular artists with listeners on the site"

    def _state(self) -> dict[str, Any]:
        return {"scores_": self.scores_}


class CountryPopularity(Recommender):
    """The most popular artists among listeners of the user's country.

    Countries come from ``side.user_country``. Users with an unknown country, or from a
    country with fewer than ``min_country_users`` users, get global popularity. Within a
    country, ties are broken by global popularity. Cold users with a known country get
    their country's list (the point of this model).

    Parameters
    ----------
    by
        ``"listeners"`` or ``"weight"`` (see :class:`Popularity`).
    min_country_users
        Countries with fewer users fall back to the global list.
    """

    name = "popularity_country"
    fallback = "the popularity list of the user's country, else global popularity"
    uses_history = False

    def __init__(self, *, by: str = "listeners", min_country_users: int = 5) -> None:
        self.by = by
        self.min_country_users = min_country_users

    def _fit(self, X: sp.csr_matrix, side: SideInfo | None) -> None:
        check_positive_int("min_country_users", self.min_country_users)
        self.global_scores_ = artist_popularity(X, self.by)
        country = self._user_country(side)
        n_countries = int(country.max()) + 1 if (country >= 0).any() else 0
        known = country >= 0
        onehot = sp.csr_matrix(
            (np.ones(int(known.sum()), np.float32), (country[known], np.flatnonzero(known))),
            shape=(n_countries, X.shape[0]),
        )
        source = X.copy()
        if self.by == "listeners":
            source.data = (source.data != 0).astype(np.float32)
        else:
            np.maximum(source.data, 0.0, out=source.data)
        # Country x artists popularity: one sparse product instead of a loop over users.
        counts = np.asarray((onehot @ source).todense(), dtype=np.float32)
        users_per_country = np.bincount(country[known], minlength=n_countries)
        self.country_scores_ = counts
        self.country_ok_ = users_per_country >= self.min_country_users
        self.user_country_ = country

    @staticmethod
    def _user_country(side: SideInfo | None) -> IntArray:
        if side is None or side.user_country is None:
            raise invalid("side.user_country", None, "a country index per user (SideInfo)")
        return np.asarray(side.user_country, dtype=np.int64)

    def country_scores(self, country_idx: int) -> FloatArray:
        """Scores of every artist for a listener of one country (global when too few users)."""
        tiebreak = self.global_scores_ / (self.global_scores_.max() + 1.0)
        if 0 <= country_idx < len(self.country_ok_) and self.country_ok_[country_idx]:
            return (self.country_scores_[country_idx] + tiebreak).astype(np.float32)
        return self.global_scores_.copy()

    def _score(self, users: IntArray) -> FloatArray:
        return np.vstack([self.country_scores(int(self.user_country_[u])) for u in users])

    def _cold_scores(self, users: IntArray) -> FloatArray:
        return self._score(users)

    def recommend_for_country(self, country_idx: int, k: int = 10) -> tuple[IntArray, FloatArray]:
        """Top ``k`` artists for a new listener from a country (no history needed)."""
        self._check_fitted()
        k = check_positive_int("k", k)
        idx, scores = top_k(self.country_scores(int(country_idx))[None, :], k)
        return idx[0], scores[0]

    def _explain(self, user: int, artist: int) -> str:
        country = int(self.user_country_[user])
        if 0 <= country < len(self.country_ok_) and self.country_ok_[country]:
            names = self.side_.country_names if self.side_ is not None else []
            where = names[country] if country < len(names) else "your country"
            return f"popular with listeners in {where}"
        return "one of the most popular artists with listeners on the site"

    def _state(self) -> dict[str, Any]:
        return {
            "global_scores_": self.global_scores_,
            "country_scores_": self.country_scores_,
            "country_ok_": self.country_ok_,
            "user_country_": self.user_country_,
        }
