"""Internal clustering quality (for the user-cluster models), via scikit-learn."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

from cratedig.exceptions import ValidationError


def clustering_scores(
    features: npt.ArrayLike | sp.spmatrix,
    labels: npt.ArrayLike,
    *,
    sample_size: int | None = 5000,
    seed: int = 0,
    noise_label: int | None = -1,
) -> dict[str, float]:
    """Silhouette, Davies-Bouldin and Calinski-Harabasz scores of a clustering.

    Parameters
    ----------
    features
        ``(n_points, n_features)`` array (sparse is densified only for Davies-Bouldin
        and Calinski-Harabasz, which scikit-learn computes on dense data).
    labels
        Cluster of each point.
    sample_size
        Silhouette is quadratic in points: compute it on this many (seeded) points;
        ``None`` uses all.
    noise_label
        Label of points in no cluster (DBSCAN's ``-1``); they are left out.

    Returns
    -------
    dict
        ``silhouette`` (higher is better, in [-1, 1]), ``davies_bouldin`` (lower is
        better), ``calinski_harabasz`` (higher is better), ``n_clusters``,
        ``noise_share``. Scores are ``NaN`` with fewer than two clusters.
    """
    label_arr = np.asarray(labels)
    data_all: Any = features if sp.issparse(features) else np.asarray(features)
    n_points = data_all.shape[0]
    if label_arr.shape != (n_points,):
        raise ValidationError(
            "labels", f"shape {label_arr.shape}", f"one label per point ({n_points})"
        )
    keep = np.ones(n_points, dtype=bool) if noise_label is None else label_arr != noise_label
    data: Any = data_all[keep]
    kept_labels = label_arr[keep]
    n_clusters = int(np.unique(kept_labels).size)
    result = {
        "n_clusters": float(n_clusters),
        "noise_share": float(1.0 - keep.mean()) if n_points else 0.0,
        "silhouette": float("nan"),
        "davies_bouldin": float("nan"),
        "calinski_harabasz": float("nan"),
    }
    if n_clusters < 2 or n_clusters >= len(kept_labels):
        return result
    size = None if sample_size is None or sample_size >= len(kept_labels) else sample_size
    result["silhouette"] = float(
        silhouette_score(data, kept_labels, sample_size=size, random_state=seed)
    )
    dense = data.toarray() if sp.issparse(data) else data
    result["davies_bouldin"] = float(davies_bouldin_score(dense, kept_labels))
    result["calinski_harabasz"] = float(calinski_harabasz_score(dense, kept_labels))
    return result
