"""Association rules over user-artist baskets ("listeners of A (and B) also listen to C").

Everything is sparse matrix algebra on the binary users x artists matrix ``B``: the
co-occurrence ``B^T B`` gives every one-antecedent rule at once, and for two-antecedent
rules the users holding each frequent pair form a sparse users x pairs matrix ``P``
(element-wise products of ``B``'s columns) whose product ``P^T B`` counts pair -> artist.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cratedig.matrix.side import SideInfo
from cratedig.models.base import FloatArray, IntArray, Recommender
from cratedig.models.checks import invalid
from cratedig.models.explain import artist_label, join_names

STRENGTHS = ("confidence", "lift", "confidence_lift")
AGGREGATES = ("max", "sum")
RULE_FIELDS = ("antecedent_a", "antecedent_b", "consequent", "support", "confidence", "lift")


def _binary(X: sp.csr_matrix) -> sp.csr_matrix:
    binary = sp.csr_matrix(X > 0, dtype=np.float32)
    binary.eliminate_zeros()
    return binary


def _rule_arrays(
    counts: sp.csr_matrix,
    antecedent_counts: np.ndarray,
    item_counts: np.ndarray,
    n_users: int,
    min_count: int,
    min_confidence: float,
    min_lift: float,
) -> tuple[IntArray, IntArray, FloatArray, FloatArray, FloatArray]:
    """Rows (antecedent), consequents and measures of the rules passing every threshold."""
    counts = sp.csr_matrix(counts)
    rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
    cols = counts.indices.astype(np.int64)
    together = counts.data.astype(np.float64)
    support = together / n_users
    confidence = together / antecedent_counts[rows]
    lift = confidence * n_users / item_counts[cols]
    keep = (together >= min_count) & (confidence >= min_confidence) & (lift >= min_lift)
    return (
        rows[keep].astype(np.int64),
        cols[keep],
        support[keep].astype(np.float32),
        confidence[keep].astype(np.float32),
        lift[keep].astype(np.float32),
    )


class AssociationRules(Recommender):
    """Recommend the consequents of rules whose antecedents the user already has.

    Parameters
    ----------
    min_support
        Minimum fraction of users holding antecedents and consequent together.
    min_confidence
        Minimum P(consequent | antecedents).
    min_lift
        Minimum confidence / P(consequent).
    max_antecedents
        1 (pairwise rules) or 2 (also rules with two antecedents).
    max_pairs
        Cap on the frequent antecedent pairs considered (most frequent first).
    strength
        A rule's score: ``"confidence"``, ``"lift"`` or ``"confidence_lift"`` (product).
    aggregate
        How the rules firing for one candidate combine: ``"max"`` or ``"sum"``.

    Users whose rules fire for fewer than ``k`` artists get padded lists.
    """

    name = "association_rules"

    def __init__(
        self,
        *,
        min_support: float = 0.005,
        min_confidence: float = 0.05,
        min_lift: float = 1.0,
        max_antecedents: int = 2,
        max_pairs: int = 20_000,
        strength: str = "confidence",
        aggregate: str = "max",
    ) -> None:
        self.min_support = min_support
        self.min_confidence = min_confidence
        self.min_lift = min_lift
        self.max_antecedents = max_antecedents
        self.max_pairs = max_pairs
        self.strength = strength
        self.aggregate = aggregate

    def _check_params(self) -> None:
        if not 0.0 <= self.min_support <= 1.0:
            raise invalid("min_support", self.min_support, "a fraction in [0, 1]")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise invalid("min_confidence", self.min_confidence, "a fraction in [0, 1]")
        if self.max_antecedents not in (1, 2):
            raise invalid("max_antecedents", self.max_antecedents, "1 or 2")
        if self.strength not in STRENGTHS:
            raise invalid("strength", self.strength, f"one of: {', '.join(STRENGTHS)}")
        if self.aggregate not in AGGREGATES:
            raise invalid("aggregate", self.aggregate, f"one of: {', '.join(AGGREGATES)}")

    def _fit(self, X: sp.csr_matrix, side: SideInfo | None) -> None:
        self._check_params()
        binary = _binary(X)
        n_users = X.shape[0]
        min_count = max(1, math.ceil(self.min_support * n_users - 1e-9))
        item_counts = np.asarray(binary.sum(axis=0)).ravel().astype(np.float64)
        co = sp.csr_matrix(binary.T @ binary)
        co.setdiag(0.0)
        co.eliminate_zeros()
        a, c, support, confidence, lift = _rule_arrays(
            co, item_counts, item_counts, n_users, min_count, self.min_confidence, self.min_lift
        )
        parts = [(a, np.full(len(a), -1, np.int64), c, support, confidence, lift)]
        if self.max_antecedents == 2:
            parts.append(self._pair_rules(binary, co, item_counts, min_count))
        columns = [np.concatenate(values) for values in zip(*parts, strict=True)]
        self.rules_ = dict(zip(RULE_FIELDS, columns, strict=True))
        self._build_scoring()

    def _pair_rules(
        self, binary: sp.csr_matrix, co: sp.csr_matrix, item_counts: np.ndarray, min_count: int
    ) -> tuple[IntArray, IntArray, IntArray, FloatArray, FloatArray, FloatArray]:
        upper = sp.triu(co, k=1).tocoo()
        frequent = upper.data >= min_count
        first, second, together = upper.row[frequent], upper.col[frequent], upper.data[frequent]
        order = np.lexsort((second, first, -together))[: self.max_pairs]
        first, second, together = first[order], second[order], together[order]
        if len(first) == 0:
            empty_i, empty_f = np.empty(0, np.int64), np.empty(0, np.float32)
            return empty_i, empty_i, empty_i, empty_f, empty_f, empty_f
        columns = binary.tocsc()
        holders = sp.csr_matrix(columns[:, first].multiply(columns[:, second]))  # users x pairs
        counts = sp.csr_matrix(holders.T @ binary)  # pairs x artists
        pair_rows, c, support, confidence, lift = _rule_arrays(
            counts,
            together.astype(np.float64),
            item_counts,
            binary.shape[0],
            min_count,
            self.min_confidence,
            self.min_lift,
        )
        a, b = first[pair_rows].astype(np.int64), second[pair_rows].astype(np.int64)
        keep = (c != a) & (c != b)
        return a[keep], b[keep], c[keep], support[keep], confidence[keep], lift[keep]

    def _strength(self) -> FloatArray:
        rules = self.rules_
        if self.strength == "confidence":
            return rules["confidence"]
        if self.strength == "lift":
            return rules["lift"]
        return (rules["confidence"] * rules["lift"]).astype(np.float32)

    def _build_scoring(self) -> None:
        """Sparse rule matrices: antecedent artist x consequent, antecedent pair x consequent."""
        rules, n = self.rules_, self.n_artists_
        strength = self._strength()
        single = rules["antecedent_b"] < 0
        self.single_ = sp.csr_matrix(
            (strength[single], (rules["antecedent_a"][single], rules["consequent"][single])),
            shape=(n, n),
        )
        pair_a, pair_b = rules["antecedent_a"][~single], rules["antecedent_b"][~single]
        pairs, pair_rows = np.unique(
            np.stack([pair_a, pair_b], axis=1), axis=0, return_inverse=True
        )
        pairs = pairs.reshape(-1, 2)
        self.pairs_ = pairs.astype(np.int64)
        self.double_ = sp.csr_matrix(
            (strength[~single], (pair_rows.ravel(), rules["consequent"][~single])),
            shape=(len(pairs), n),
        )

    def _fired(self, users: IntArray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        binary = _binary(self.X_[users])
        if len(self.pairs_) == 0:
            return binary, sp.csr_matrix((len(users), 0), dtype=np.float32)
        columns = binary.tocsc()
        pairs = columns[:, self.pairs_[:, 0]].multiply(columns[:, self.pairs_[:, 1]])
        return binary, sp.csr_matrix(pairs)

    def _score(self, users: IntArray) -> FloatArray:
        binary, pairs = self._fired(users)
        if self.aggregate == "sum":
            total = sp.csr_matrix(binary @ self.single_ + pairs @ self.double_)
            out = np.full(total.shape, -np.inf, dtype=np.float32)
            rows = np.repeat(np.arange(total.shape[0]), np.diff(total.indptr))
            out[rows, total.indices] = total.data
            return out
        # max over the fired rules, for every user at once: each (user, fired antecedent)
        # pair expands into its rule row's (consequent, strength) entries, and
        # np.maximum.at keeps the strongest per (user, consequent)
        rules = sp.vstack([self.single_, self.double_]).tocsr()
        fired = sp.hstack([binary, pairs]).tocsr()
        user_of = np.repeat(np.arange(fired.shape[0]), np.diff(fired.indptr))
        starts = rules.indptr[fired.indices]
        lengths = rules.indptr[fired.indices + 1] - starts
        ends = np.cumsum(lengths)
        positions = np.repeat(starts - (ends - lengths), lengths) + np.arange(
            int(ends[-1]) if len(ends) else 0
        )
        rows, cols, vals = (
            np.repeat(user_of, lengths),
            rules.indices[positions],
            rules.data[positions],
        )
        keep = vals > 0
        out = np.full((len(users), self.n_artists_), -np.inf, dtype=np.float32)
        np.maximum.at(out, (rows[keep], cols[keep]), vals[keep].astype(np.float32))
        return out

    def _similar_scores(self, artist: int) -> FloatArray:
        row = self.single_[artist]
        out = np.full(self.n_artists_, -np.inf, dtype=np.float32)
        out[row.indices] = row.data
        return out

    def rules_for(self, artist_idx: int, role: str = "antecedent") -> pd.DataFrame:
        """The rules in which an artist is an antecedent (or, ``role="consequent"``, the
        consequent), strongest first.

        Returns
        -------
        DataFrame
            Columns ``antecedents`` (tuple of artist indices), ``consequent``, ``support``,
            ``confidence``, ``lift``; plus ``antecedent_names`` and ``consequent_name``
            when the side information has artist names.
        """
        self._check_fitted()
        artist = int(self._check_indices(artist_idx, "artist_idx", self.n_artists_)[0])
        rules = self.rules_
        if role == "antecedent":
            mask = (rules["antecedent_a"] == artist) | (rules["antecedent_b"] == artist)
        elif role == "consequent":
            mask = rules["consequent"] == artist
        else:
            raise invalid("role", role, "'antecedent' or 'consequent'")
        antecedents = [
            (int(a),) if b < 0 else (int(a), int(b))
            for a, b in zip(rules["antecedent_a"][mask], rules["antecedent_b"][mask], strict=True)
        ]
        table = pd.DataFrame(
            {
                "antecedents": antecedents,
                "consequent": rules["consequent"][mask],
                "support": rules["support"][mask],
                "confidence": rules["confidence"][mask],
                "lift": rules["lift"][mask],
            }
        )
        if self.side_ is not None and self.side_.artist_names:
            table["antecedent_names"] = [
                tuple(artist_label(self.side_, a) for a in pair) for pair in antecedents
            ]
            table["consequent_name"] = [artist_label(self.side_, int(c)) for c in table.consequent]
        return table.sort_values(
            ["confidence", "lift"], ascending=False, kind="stable"
        ).reset_index(drop=True)

    def _explain(self, user: int, artist: int) -> str:
        seen = set(self._seen(user).tolist())
        rules = self.rules_
        fires = (rules["consequent"] == artist) & np.isin(rules["antecedent_a"], list(seen))
        fires &= (rules["antecedent_b"] < 0) | np.isin(rules["antecedent_b"], list(seen))
        if not fires.any():
            return super()._explain(user, artist)
        best = np.flatnonzero(fires)[np.argmax(self._strength()[fires])]
        names = [artist_label(self.side_, int(rules["antecedent_a"][best]))]
        if rules["antecedent_b"][best] >= 0:
            names.append(artist_label(self.side_, int(rules["antecedent_b"][best])))
        share = round(100 * float(rules["confidence"][best]))
        return f"because you listen to {join_names(names)} ({share}% of their listeners also do)"

    def _state(self) -> dict[str, Any]:
        return {f"rule_{name}": values for name, values in self.rules_.items()}

    def _set_state(self, state: dict[str, Any], meta: dict[str, Any]) -> None:
        self.rules_ = {name: state[f"rule_{name}"] for name in RULE_FIELDS}
        self._build_scoring()
