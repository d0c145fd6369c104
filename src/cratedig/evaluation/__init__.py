"""Offline evaluation: top-k metrics, the full-ranking protocol, tuning and reports.

- :mod:`cratedig.evaluation.metrics`: precision, recall, F1, NDCG, MAP, hit rate at k;
- :mod:`cratedig.evaluation.beyond`: coverage, novelty, diversity, the long tail;
- :mod:`cratedig.evaluation.protocol`: :func:`evaluate_model`, :func:`evaluate_recommendations`;
- :mod:`cratedig.evaluation.tuning`: grid / random search on validation, then one test;
- :mod:`cratedig.evaluation.clustering`: silhouette, Davies-Bouldin, Calinski-Harabasz;
- :mod:`cratedig.evaluation.report`: rich table, JSON, self-contained HTML;
- :mod:`cratedig.evaluation.datasets`: benchmark datasets read from their files.
"""

from cratedig.evaluation.metrics import (
    accuracy_metrics,
    average_precision_at_k,
    f1_at_k,
    hit_rate_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)
from cratedig.evaluation.protocol import evaluate_model, evaluate_recommendations

__all__ = [
    "accuracy_metrics",
    "average_precision_at_k",
    "evaluate_model",
    "evaluate_recommendations",
    "f1_at_k",
    "hit_rate_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
]
