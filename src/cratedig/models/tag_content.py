"""Content-based recommendations from artist tags (TF-IDF profiles, cosine scores).

Artists are TF-IDF vectors over their tags (``side.artist_tags``); a user's profile is
the weighted sum of the vectors of the artists they engage with. Because only tags are
needed, artists nobody listens to yet can be recommended.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.preprocessing import normalize

from cratedig.matrix.side import SideInfo
from cratedig.matrix.transforms import reweight
from cratedig.models.base import FloatArray, IntArray, Recommender
from cratedig.models.checks import invalid
from cratedig.models.explain import join_names


class TagContent(Recommender):
    """Cosine between a user's tag profile and each artist's TF-IDF tag vector.

    Artists without tags are not candidates. Users whose artists carry no tags get the
    popularity fallback.

    Parameters
    ----------
    sublinear_tf
        Use ``1 + log(tf)`` for tag counts (many users tagging the same thing saturates).
    weighting
        Re-weighting of ``X`` when summing a user's artist vectors.
    """

    name = "tag_content"

    def __init__(self, *, sublinear_tf: bool = True, weighting: str = "log1p") -> None:
        self.sublinear_tf = sublinear_tf
        self.weighting = weighting

    def _fit(self, X: sp.csr_matrix, side: SideInfo | None) -> None:
        if side is None or side.artist_tags is None:
            raise invalid("side.artist_tags", None, "an artists x tags matrix (SideInfo)")
        tags = sp.csr_matrix(side.artist_tags, dtype=np.float32)
        transformer = TfidfTransformer(sublinear_tf=self.sublinear_tf, norm="l2")
        self.artist_profiles_ = sp.csr_matrix(transformer.fit_transform(tags), dtype=np.float32)
        weighted = reweight(X, self.weighting)
        users = normalize(weighted @ self.artist_profiles_)
        self.user_profiles_ = sp.csr_matrix(users, dtype=np.float32)
        self.tagged_ = np.diff(self.artist_profiles_.indptr) > 0

    def _score(self, users: IntArray) -> FloatArray:
        scores = (self.user_profiles_[users] @ self.artist_profiles_.T).toarray()
        scores = scores.astype(np.float32)
        scores[:, ~self.tagged_] = -np.inf
        untagged_users = np.diff(self.user_profiles_[users].indptr) == 0
        if untagged_users.any():
            scores[untagged_users] = self._cold_scores(users[untagged_users])
        return scores

    def _similar_scores(self, artist: int) -> FloatArray:
        sims = (self.artist_profiles_ @ self.artist_profiles_[artist].T).toarray().ravel()
        sims = sims.astype(np.float32)
        sims[~self.tagged_] = -np.inf
        return sims

    def _explain(self, user: int, artist: int) -> str:
        tags = self.side_.tag_names if self.side_ is not None else []
        overlap = self.user_profiles_[user].multiply(self.artist_profiles_[artist]).tocsr()
        if overlap.nnz == 0:
            return super()._explain(user, artist)
        best = overlap.indices[np.lexsort((overlap.indices, -overlap.data))[:2]]
        names = [tags[t] if t < len(tags) else f"tag #{t}" for t in best]
        return f"tagged {join_names(names)} like your favourites"

    def _state(self) -> dict[str, Any]:
        return {
            "artist_profiles_": self.artist_profiles_,
            "user_profiles_": self.user_profiles_,
            "tagged_": self.tagged_,
        }
