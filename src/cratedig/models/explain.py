"""Explanations: which of a user's artists led to a recommendation, in one sentence.

A model that scores a candidate as a sum over the user's history (EASE, item-kNN, the
listener-set cosine of the base class, ALS's factor-space similarity) explains it with
the history artists whose terms are largest. :func:`top_contributors` picks them from a
``history x candidates`` block of terms, so a model computes the block for all of a
user's candidates at once (one slice of its item-item weights) instead of once per
(user, artist) pair; :func:`because_sentence` turns them into words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from cratedig.matrix.side import SideInfo

#: History artists named in one explanation.
REASONS = 2
#: The sentence when no artist of the user's history supports the candidate.
NO_REASON = "popular with listeners on the site"


def artist_label(side: SideInfo | None, artist_idx: int) -> str:
    """The display name of an artist, or ``"artist #i"`` when names are unknown."""
    if side is not None and 0 <= artist_idx < len(side.artist_names):
        name = side.artist_names[artist_idx]
        if name:
            return str(name)
    return f"artist #{artist_idx}"


def join_names(names: Sequence[str]) -> str:
    """``"A"``, ``"A and B"``, ``"A, B and C"``."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def top_contributors(
    history: npt.NDArray[np.int64], terms: npt.NDArray[np.floating], n: int = REASONS
) -> npt.NDArray[np.int64]:
    """The ``n`` history artists with the largest positive terms, for each candidate.

    Parameters
    ----------
    history
        The user's artists, ascending (ties go to the lower artist index).
    terms
        ``len(history) x n_candidates``: what each history artist adds to each
        candidate's score.
    n
        Artists named per candidate.

    Returns
    -------
    ndarray of int64
        ``n_candidates x n`` artist indices, best first, ``-1`` where fewer than ``n``
        terms are positive.
    """
    out = np.full((terms.shape[1], n), -1, dtype=np.int64)
    if len(history) == 0 or terms.shape[1] == 0:
        return out
    order = np.argsort(-terms, axis=0, kind="stable")[:n]
    best = np.take_along_axis(terms, order, axis=0)
    out[:, : order.shape[0]] = np.where(best > 0, history[order], -1).T
    return out


def because_sentence(side: SideInfo | None, reasons: Sequence[int]) -> str:
    """``"because you listen to A and B"``, or :data:`NO_REASON` when there are none."""
    names = [artist_label(side, int(a)) for a in reasons if a >= 0]
    if not names:
        return NO_REASON
    return f"because you listen to {join_names(names)}"


def sentences(
    side: SideInfo | None, items: npt.NDArray[np.int64], reasons: npt.NDArray[np.int64]
) -> list[list[str | None]]:
    """One sentence per item of ``items`` (``-1``: None) from ``reasons`` (n x m x REASONS)."""
    return [
        [
            None if item < 0 else because_sentence(side, reasons[row, col].tolist())
            for col, item in enumerate(items[row].tolist())
        ]
        for row in range(items.shape[0])
    ]


def similarity_reasons(
    histories: Sequence[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]],
    similar_scores: Callable[[int], npt.NDArray[np.float32]],
    items: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """Top contributors when a history artist adds ``similarity x |weight|``.

    Parameters
    ----------
    histories
        Per row of ``items``: the user's artists (ascending) and their weights.
    similar_scores
        One artist's similarity to every artist (``-inf``: none), called once per
        distinct candidate.
    items
        ``n x m`` candidates, ``-1`` padding.

    Returns
    -------
    ndarray of int64
        ``n x m x REASONS``, ``-1`` padded.
    """
    out = np.full((*items.shape, REASONS), -1, dtype=np.int64)
    pairs_of: dict[int, list[tuple[int, int]]] = {}
    for row, col in zip(*np.nonzero(items >= 0), strict=True):
        if len(histories[row][0]):
            pairs_of.setdefault(int(items[row, col]), []).append((int(row), int(col)))
    for artist, pairs in pairs_of.items():
        similarity = similar_scores(artist)
        for row, col in pairs:
            seen, weights = histories[row]
            sim = similarity[seen]
            terms = np.where(np.isfinite(sim), sim * np.abs(weights), 0.0)
            out[row, col] = top_contributors(seen, terms[:, None])[0]
    return out
