"""Hand-made stores and a tiny model for the serving and pipeline tests.

The store has two taste groups: rock fans (``u01``..``u06``, country GB) who play
rock artists ``r1``..``r6``, and jazz fans (``u07``..``u12``, country FR) who play
``j1``..``j6``. Artist ``xss`` is named ``<script>alert(1)</script>`` and played by
everyone once, so it appears in lists and pages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sqlalchemy import Engine

from cratedig.store.schema import artists, tracks, user_events, users
from cratedig.store.writes import insert_ignore

T0 = 1_700_000_000_000
XSS = "<script>alert(1)</script>"
ROCK = [f"r{i}" for i in range(1, 7)]
JAZZ = [f"j{i}" for i in range(1, 7)]
ROCK_FANS = [f"u{i:02d}" for i in range(1, 7)]
JAZZ_FANS = [f"u{i:02d}" for i in range(7, 13)]


def fill_store(engine: Engine) -> None:
    """Write the hand-made users, artists, tracks and events (all before ``T0 + 1h``)."""
    artist_rows = [
        {"artist_id": a, "name": f"Artist {a.upper()}", "is_stub": False} for a in ROCK + JAZZ
    ] + [{"artist_id": "xss", "name": XSS, "is_stub": False}]
    track_rows = [
        {
            "track_id": f"{a['artist_id']}-t{n}",
            "artist_id": a["artist_id"],
            "title": f"Song {n}",
            "duration_ms": 200_000,
            "is_stub": False,
        }
        for a in artist_rows
        for n in (1, 2)
    ]
    user_rows = [
        {"user_id": u, "country": "GB" if u in ROCK_FANS else "FR", "is_stub": False}
        for u in ROCK_FANS + JAZZ_FANS
    ]
    events: list[dict[str, Any]] = []
    t = T0
    for fans, group in ((ROCK_FANS, ROCK), (JAZZ_FANS, JAZZ)):
        for i, user in enumerate(fans):
            # each fan plays 4 of the 6 artists of the group (a rotating window)
            liked = [group[(i + j) % 6] for j in range(4)]
            for a in [*liked, "xss"]:
                reps = 1 if a == "xss" else 3
                for _n in range(reps):
                    t += 1000
                    events.append(
                        {
                            "event_id": f"e{len(events)}",
                            "user_id": user,
                            "event_type": "play_track",
                            "occurred_at_ms": t,
                            "artist_id": a,
                            "track_id": f"{a}-t1",
                            "duration_ms": 200_000,
                            "count": 1,
                            "source": "organic",
                        }
                    )
    with engine.begin() as conn:
        insert_ignore(conn, artists, artist_rows)
        insert_ignore(conn, tracks, track_rows)
        insert_ignore(conn, users, user_rows)
        insert_ignore(conn, user_events, events)


class TinyModel:
    """Item-item cosine co-occurrence on binary engagement (follows the contract)."""

    sign = 1.0

    def fit(self, X: sp.csr_matrix, side: Any = None) -> TinyModel:
        B = (sp.csr_matrix(X) > 0).astype(np.float32)
        C = (B.T @ B).toarray()
        norms = np.sqrt(np.diag(C)) + 1e-9
        S = C / norms[:, None] / norms[None, :]
        np.fill_diagonal(S, 0.0)
        self.S_ = S.astype(np.float32)
        self.X_ = B.tocsr()
        return self

    def recommend(self, user_idx: Any, k: int = 10, exclude_seen: bool = True):
        idx = np.atleast_1d(np.asarray(user_idx, dtype=np.int64))
        scores = self.sign * np.asarray(self.X_[idx] @ self.S_, dtype=np.float32)
        if exclude_seen:
            scores[self.X_[idx].toarray() > 0] = -np.inf
        return _top(scores, k)

    def similar_artists(self, artist_idx: Any, k: int = 10):
        idx = np.atleast_1d(np.asarray(artist_idx, dtype=np.int64))
        scores = self.S_[idx].copy()
        scores[np.arange(len(idx)), idx] = -np.inf
        return _top(scores, k)

    def explain(self, user_idx: int, artist_idx: int) -> str:
        return f"Fans of what you play like artist #{artist_idx}"

    def explain_batch(self, user_idx: Any, artist_idx: Any) -> list[list[str | None]]:
        return [[None if a < 0 else self.explain(0, a) for a in row] for row in artist_idx.tolist()]

    def save(self, path: Path) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        np.save(Path(path) / "S.npy", self.S_)


class ReverseModel(TinyModel):
    """Recommends the least similar artists first: a deliberately bad model."""

    sign = -1.0


def _top(scores: np.ndarray, k: int):
    n, _m = scores.shape
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(scores, order, axis=1)
    out_idx = np.full((n, k), -1, dtype=np.int64)
    out_s = np.full((n, k), -np.inf, dtype=np.float32)
    out_idx[:, : order.shape[1]] = np.where(np.isfinite(top), order, -1)
    out_s[:, : order.shape[1]] = top
    return out_idx, out_s


def tiny_gems(base: Any, X: Any, side: Any) -> Any:
    """The base model as a stand-in Hidden Gems list (for tests of the pipeline only)."""
    return base


def served_thumb(client: Any, user_id: str = "u01", **headers: str) -> dict[str, Any]:
    """A thumb-up body on the first artist of a list just served to ``user_id``
    (feedback must name a list served to its user, and an artist of that list)."""
    listing = client.get(f"/api/v1/users/{user_id}/recommendations", headers=headers).get_json()
    artist = listing["items"][0]["artist_id"]
    return {"user_id": user_id, "list_id": listing["list_id"], "artist_id": artist, "thumb": "up"}
