"""User clusters: K-means or DBSCAN on taste embeddings, optionally with geography.

A user's taste embedding is the TruncatedSVD of the row-normalised (re-weighted)
engagement matrix, L2-normalised; geography is a one-hot country block scaled by
``country_weight``. A user is recommended what their cluster engages with that they have
not. Users with no history but a known country get the cluster most of their compatriots
belong to. :func:`cluster_report` sizes and scores clusterings for a range of k or eps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import DBSCAN, KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.preprocessing import normalize

from cratedig.matrix.side import SideInfo
from cratedig.matrix.transforms import reweight
from cratedig.models.base import FloatArray, IntArray, Recommender
from cratedig.models.checks import check_positive_int, invalid
from cratedig.models.explain import artist_label
from cratedig.models.ranking import top_k

METHODS = ("kmeans", "dbscan")


def user_features(
    X: sp.csr_matrix,
    side: SideInfo | None = None,
    n_components: int = 32,
    country_weight: float = 0.0,
    weighting: str = "log1p",
    random_state: int = 0,
) -> FloatArray:
    """Taste embedding of every user (rows of zeros for users without history)."""
    weighted = normalize(reweight(X, weighting))
    components = max(1, min(n_components, X.shape[1] - 1, X.shape[0] - 1))
    svd = TruncatedSVD(n_components=components, random_state=random_state)
    embedding = normalize(svd.fit_transform(weighted)).astype(np.float32)
    if country_weight > 0 and side is not None and side.user_country is not None:
        country = np.asarray(side.user_country, dtype=np.int64)
        n_countries = int(country.max()) + 1 if (country >= 0).any() else 0
        onehot = np.zeros((X.shape[0], n_countries), dtype=np.float32)
        known = country >= 0
        onehot[np.flatnonzero(known), country[known]] = country_weight
        embedding = np.hstack([embedding, onehot])
    return embedding


def cluster_labels(
    features: FloatArray,
    method: str = "kmeans",
    n_clusters: int = 8,
    eps: float = 0.5,
    min_samples: int = 5,
    random_state: int = 0,
) -> IntArray:
    """Cluster label of each row (``-1``: DBSCAN noise)."""
    if method == "kmeans":
        k = min(check_positive_int("n_clusters", n_clusters), len(features))
        model = KMeans(n_clusters=k, n_init=4, random_state=random_state)
        return model.fit_predict(features).astype(np.int64)
    if method == "dbscan":
        if not eps > 0:
            raise invalid("eps", eps, "a distance > 0")
        return DBSCAN(eps=eps, min_samples=min_samples).fit_predict(features).astype(np.int64)
    raise invalid("method", method, f"one of: {', '.join(METHODS)}")


def cluster_profiles(X: sp.csr_matrix, labels: IntArray, n_clusters: int) -> FloatArray:
    """Share of each cluster's users who engaged with each artist (clusters x artists)."""
    members = labels >= 0
    onehot = sp.csr_matrix(
        (np.ones(int(members.sum()), np.float32), (labels[members], np.flatnonzero(members))),
        shape=(n_clusters, X.shape[0]),
    )
    binary = sp.csr_matrix(X > 0, dtype=np.float32)
    counts = np.asarray((onehot @ binary).todense(), dtype=np.float32)
    sizes = np.bincount(labels[members], minlength=n_clusters).astype(np.float32)
    return (counts / np.maximum(sizes, 1.0)[:, None]).astype(np.float32)


def country_clusters(labels: IntArray, country: IntArray | None, n_clusters: int) -> IntArray:
    """For each country, the cluster most of its (clustered) users belong to, else -1."""
    if country is None or not (country >= 0).any() or n_clusters == 0:
        return np.empty(0, dtype=np.int64)
    n_countries = int(country.max()) + 1
    ok = (labels >= 0) & (country >= 0)
    table = np.zeros((n_countries, n_clusters), dtype=np.int64)
    np.add.at(table, (country[ok], labels[ok]), 1)
    best = table.argmax(axis=1)
    return np.where(table.max(axis=1) > 0, best, -1).astype(np.int64)


class UserClusters(Recommender):
    """Recommend what the user's taste cluster engages with.

    Parameters
    ----------
    method
        ``"kmeans"`` or ``"dbscan"``.
    n_clusters
        K-means' k.
    eps, min_samples
        DBSCAN's neighbourhood radius and core size (noise users get their country's
        cluster or global popularity).
    n_components
        Dimensions of the taste embedding (TruncatedSVD).
    country_weight
        Weight of the one-hot country block joined to the embedding (0: taste only).
    weighting
        Re-weighting of ``X`` before the embedding.
    random_state
        Seed of the SVD and K-means.
    """

    name = "user_clusters"
    fallback = "the cluster most users of the same country belong to, else global popularity"

    def __init__(
        self,
        *,
        method: str = "kmeans",
        n_clusters: int = 8,
        eps: float = 0.5,
        min_samples: int = 5,
        n_components: int = 32,
        country_weight: float = 0.0,
        weighting: str = "log1p",
        random_state: int = 0,
    ) -> None:
        self.method = method
        self.n_clusters = n_clusters
        self.eps = eps
        self.min_samples = min_samples
        self.n_components = n_components
        self.country_weight = country_weight
        self.weighting = weighting
        self.random_state = random_state

    def _fit(self, X: sp.csr_matrix, side: SideInfo | None) -> None:
        features = user_features(
            X, side, self.n_components, self.country_weight, self.weighting, self.random_state
        )
        warm = np.flatnonzero(np.diff(X.indptr) > 0)
        labels = np.full(X.shape[0], -1, dtype=np.int64)
        labels[warm] = cluster_labels(
            features[warm],
            self.method,
            self.n_clusters,
            self.eps,
            self.min_samples,
            self.random_state,
        )
        n_clusters = int(labels.max()) + 1
        self.labels_ = labels
        self.profiles_ = cluster_profiles(X, labels, n_clusters)
        country = (
            None if side is None or side.user_country is None else np.asarray(side.user_country)
        )
        self.user_country_ = country if country is not None else np.full(X.shape[0], -1, np.int64)
        self.country_cluster_ = country_clusters(labels, country, n_clusters)

    def _tiebreak(self) -> FloatArray:
        return (self.popularity_ / (self.popularity_.max() * 1e3 + 1.0)).astype(np.float32)

    def _cluster_of(self, user: int) -> int:
        label = int(self.labels_[user])
        if label >= 0:
            return label
        country = int(self.user_country_[user])
        if 0 <= country < len(self.country_cluster_):
            return int(self.country_cluster_[country])
        return -1

    def _row(self, cluster: int) -> FloatArray:
        if cluster < 0:
            return self.popularity_.copy()
        return self.profiles_[cluster] + self._tiebreak()

    def _score(self, users: IntArray) -> FloatArray:
        return np.vstack([self._row(self._cluster_of(int(u))) for u in users])

    def _cold_scores(self, users: IntArray) -> FloatArray:
        return self._score(users)

    def recommend_for_country(self, country_idx: int, k: int = 10) -> tuple[IntArray, FloatArray]:
        """Top ``k`` artists for a new listener who only has a country."""
        self._check_fitted()
        k = check_positive_int("k", k)
        cluster = -1
        if 0 <= country_idx < len(self.country_cluster_):
            cluster = int(self.country_cluster_[country_idx])
        idx, scores = top_k(self._row(cluster)[None, :], k)
        return idx[0], scores[0]

    def _explain(self, user: int, artist: int) -> str:
        cluster = self._cluster_of(user)
        if cluster < 0:
            return "one of the most popular artists with listeners on the site"
        share = round(100 * float(self.profiles_[cluster, artist]))
        if self.labels_[user] < 0:
            return f"popular with listeners in your country ({share}% of its taste group)"
        return f"popular with listeners who share your taste ({share}% of them listen)"

    def _state(self) -> dict[str, Any]:
        return {
            "labels_": self.labels_,
            "profiles_": self.profiles_,
            "user_country_": self.user_country_,
            "country_cluster_": self.country_cluster_,
        }


@dataclass
class ClusterSummary:
    """One cluster: its size, its most engaged artists and its commonest countries."""

    label: int
    size: int
    top_artists: list[str] = field(default_factory=list)
    top_countries: list[str] = field(default_factory=list)


@dataclass
class ClusteringRun:
    """One clustering (one k or eps) with its quality metrics (NaN when undefined)."""

    method: str
    parameter: float
    n_clusters: int
    n_noise: int
    silhouette: float
    davies_bouldin: float
    calinski_harabasz: float
    clusters: list[ClusterSummary] = field(default_factory=list)


def _metrics(
    features: FloatArray, labels: IntArray, random_state: int
) -> tuple[float, float, float]:
    ok = labels >= 0
    if len(np.unique(labels[ok])) < 2 or len(np.unique(labels[ok])) >= ok.sum():
        return float("nan"), float("nan"), float("nan")
    x, y = features[ok], labels[ok]
    sample = min(2000, len(x))
    silhouette = silhouette_score(x, y, sample_size=sample, random_state=random_state)
    return (
        float(silhouette),
        float(davies_bouldin_score(x, y)),
        float(calinski_harabasz_score(x, y)),
    )


def _summaries(
    X: sp.csr_matrix, side: SideInfo | None, labels: IntArray, top: int
) -> list[ClusterSummary]:
    n_clusters = int(labels.max()) + 1 if len(labels) else 0
    profiles = cluster_profiles(X, labels, n_clusters)
    country = None if side is None else side.user_country
    names = [] if side is None else side.country_names
    out = []
    for label in range(n_clusters):
        members = labels == label
        best = top_k(profiles[label][None, :], top)[0][0]
        artists = [artist_label(side, int(a)) for a in best if a >= 0 and profiles[label, a] > 0]
        countries: list[str] = []
        if country is not None:
            codes = np.asarray(country)[members]
            codes = codes[codes >= 0]
            if len(codes):
                counts = np.bincount(codes)
                order = np.lexsort((np.arange(len(counts)), -counts))[:top]
                countries = [
                    names[c] if c < len(names) else f"#{c}" for c in order if counts[c] > 0
                ]
        out.append(ClusterSummary(label, int(members.sum()), artists, countries))
    return out


def cluster_report(
    X: sp.csr_matrix,
    side: SideInfo | None = None,
    *,
    method: str = "kmeans",
    ks: tuple[int, ...] | list[int] = (4, 8, 16),
    eps_values: tuple[float, ...] | list[float] = (0.3, 0.5, 0.7),
    min_samples: int = 5,
    n_components: int = 32,
    country_weight: float = 0.0,
    top: int = 5,
    random_state: int = 0,
) -> list[ClusteringRun]:
    """Cluster users for each k (K-means) or eps (DBSCAN) and describe the result.

    Metrics are computed on the users with history (DBSCAN noise excluded): silhouette
    (higher is better, on a sample of at most 2,000 users), Davies-Bouldin (lower is
    better) and Calinski-Harabasz (higher is better).
    """
    if method not in METHODS:
        raise invalid("method", method, f"one of: {', '.join(METHODS)}")
    features = user_features(X, side, n_components, country_weight, random_state=random_state)
    warm = np.flatnonzero(np.diff(sp.csr_matrix(X).indptr) > 0)
    grid: list[float] = [float(v) for v in (ks if method == "kmeans" else eps_values)]
    runs = []
    for value in grid:
        labels = np.full(X.shape[0], -1, dtype=np.int64)
        labels[warm] = cluster_labels(
            features[warm], method, int(value), value, min_samples, random_state
        )
        silhouette, davies, calinski = _metrics(features, labels, random_state)
        summaries = _summaries(sp.csr_matrix(X), side, labels, top)
        runs.append(
            ClusteringRun(
                method=method,
                parameter=value,
                n_clusters=len(summaries),
                n_noise=int((labels[warm] < 0).sum()),
                silhouette=silhouette,
                davies_bouldin=davies,
                calinski_harabasz=calinski,
                clusters=summaries,
            )
        )
    return runs
