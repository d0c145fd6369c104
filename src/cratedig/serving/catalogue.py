"""Artists and users as the API and pages show them, with per-worker caches of names.

The queries are in :mod:`cratedig.store.catalogue`; the user profile is the one of
the ``user-profile`` command (:func:`cratedig.analytics.profile.top_artists_for_user`:
top artists by weighted engagement), so the CLI and the API agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine

from cratedig.analytics.profile import top_artists_for_user
from cratedig.exceptions import NotFoundError
from cratedig.serving.cache import LocalLRU
from cratedig.store import catalogue

#: How long a worker keeps an artist's name (a renamed artist shows within this).
NAMES_TTL_SECONDS = 60.0


class Catalogue:
    """Cached reads of artists and users.

    Parameters
    ----------
    engine
        The store.
    weights
        Event weights that rank a user's top artists (``Settings.weights``).
    """

    def __init__(self, engine: Engine, weights: Mapping[str, float]) -> None:
        self.engine = engine
        self.weights = weights
        self.names = LocalLRU(max_entries=100_000, ttl_seconds=NAMES_TTL_SECONDS)
        self._known = LocalLRU(max_entries=100_000)

    def artist_names(self, artist_ids: Sequence[str]) -> dict[str, str | None]:
        """Display names of artists (``None`` when unknown or unnamed)."""
        out: dict[str, str | None] = {}
        missing = []
        for a in artist_ids:
            cached = self.names.get(a)
            if cached is None:
                missing.append(a)
            else:
                out[a] = cached[0]
        if missing:
            with self.engine.connect() as conn:
                found = catalogue.artist_names(conn, missing)
            for a in missing:
                out[a] = found.get(a)
                self.names.set(a, (found.get(a),))
        return out

    def artist_exists(self, artist_id: str) -> bool:
        """Whether the artist is known (only positive answers are cached: an artist
        may be added at any time)."""
        if self._known.get(artist_id) is not None:
            return True
        with self.engine.connect() as conn:
            found = catalogue.artist_exists(conn, artist_id)
        if found:
            self._known.set(artist_id, (True,))
        return found

    def artist(self, artist_id: str) -> dict[str, Any]:
        """An artist's details: name, tags, tracks and listener counts.

        Raises
        ------
        NotFoundError
            When the artist is unknown.
        """
        with self.engine.connect() as conn:
            details = catalogue.artist_details(conn, artist_id)
        if details is None:
            raise NotFoundError("artist", artist_id)
        return details

    def user_exists(self, user_id: str) -> bool:
        """Whether the user has a ``users`` row (positive answers cached, as artists)."""
        if self._known.get(("user", user_id)) is not None:
            return True
        with self.engine.connect() as conn:
            found = catalogue.user_row(conn, user_id) is not None
        if found:
            self._known.set(("user", user_id), (True,))
        return found

    def user_country(self, user_id: str) -> str | None:
        """A user's country (``None`` when the user or the country is unknown)."""
        with self.engine.connect() as conn:
            row = catalogue.user_row(conn, user_id)
        return row.country if row is not None else None

    def profile(self, user_id: str, top: int = 10) -> dict[str, Any]:
        """A user's details, event counts, top artists (by weighted engagement) and
        followed artists.

        Raises
        ------
        NotFoundError
            When the user has neither a users row nor any event.
        """
        with self.engine.connect() as conn:
            row = catalogue.user_row(conn, user_id)
            counts = catalogue.event_counts(conn, user_id)
            if row is None and not counts:
                raise NotFoundError("user", user_id)
            following = catalogue.followed_artists(conn, user_id)
        top_artists = top_artists_for_user(self.engine, user_id, top, self.weights).to_dicts()
        names = self.artist_names(following)
        m = row._mapping if row is not None else {}
        return {
            "user_id": user_id,
            "country": m.get("country"),
            "city": m.get("city"),
            "timezone": m.get("timezone"),
            "signup_at_ms": m.get("signup_at_ms"),
            "event_counts": counts,
            "top_artists": top_artists,
            "following": [{"artist_id": a, "name": names.get(a)} for a in following],
        }
