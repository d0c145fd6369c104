"""What the API and the pages share: reading lists, artists and users from the store.

:class:`Service` is built once per app (one per gunicorn worker) and holds the engine,
the caches and the impression writer. Lists come from the precomputed tables of the
active model version, re-ranked by the user's recent activity
(:mod:`cratedig.serving.personalise`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select

from cratedig.config import Settings
from cratedig.exceptions import NotFoundError, StoreError, ValidationError
from cratedig.pipeline import registry
from cratedig.serving import personalise
from cratedig.serving.cache import LocalLRU, UserCache, make_user_cache
from cratedig.serving.event_writes import BatchResult, store_events
from cratedig.serving.impressions import ImpressionWriter
from cratedig.store.schema import (
    artist_tags,
    artists,
    cache_invalidations,
    fallback_lists,
    precomputed_lists,
    similar_artist_lists,
    tracks,
    user_events,
    users,
)
from cratedig.store.writes import upsert_rows

LIST_TYPES = ("may_like", "hidden_gems")
#: What a cold-start list was drawn from (the response's ``fallback``), by stored scope.
FALLBACK_NAMES = {"country": "country", "country_cluster": "cluster", "global": "global"}
MAX_K = 100
#: How long a worker trusts its idea of the active version (promotion shows after it).
VERSION_TTL_SECONDS = 1.0
#: How often a worker with an in-process cache polls other workers' invalidations.
SYNC_SECONDS = 0.25
SYNC_OVERLAP_MS = 5_000


class NotReadyError(StoreError):
    """No model version has been promoted yet."""


def check_k(value: Any, default: int = 10) -> int:
    """Read ``k`` (a list length) from a query string value.

    Raises
    ------
    ValidationError
        When it is not an integer in ``1..MAX_K``.
    """
    if value is None or value == "":
        return default
    try:
        k = int(value)
    except (TypeError, ValueError):
        raise ValidationError("k", value, f"an integer in 1..{MAX_K}") from None
    if not 1 <= k <= MAX_K:
        raise ValidationError("k", value, f"an integer in 1..{MAX_K}")
    return k


class Service:
    """Reads for the API and pages, with caching and impression logging.

    Parameters
    ----------
    engine, settings
        The store and the settings (``redis_url``, ``weights``).
    cache_ttl_seconds
        Lifetime of in-process per-user cache entries.
    """

    def __init__(self, engine: Engine, settings: Settings, cache_ttl_seconds: float = 60.0):
        self.engine = engine
        self.settings = settings
        self.user_cache: UserCache = make_user_cache(settings.redis_url, cache_ttl_seconds)
        self.immutable = LocalLRU(max_entries=50_000)
        self.names = LocalLRU(max_entries=100_000, ttl_seconds=60.0)
        # precomputed lists as raw JSON (a few kB each), immutable per version
        self.base_lists = LocalLRU(max_entries=5_000)
        self.impressions = ImpressionWriter(engine)
        self._version: tuple[float, registry.ModelVersion | None] = (0.0, None)
        self._engagement = personalise.VersionEngagement(settings)
        self._sync_lock = threading.Lock()
        self._synced_at = 0.0  # monotonic time of the last poll
        self._seen_ms = registry.now_ms()  # invalidations older than this are applied
        self._applied: dict[str, int] = {}
        self._pruned_at = 0.0

    # -- cache invalidation -------------------------------------------------------
    def post_events(self, raws: Sequence[Any]) -> BatchResult:
        """Store posted events and drop their users' cached lists, in every worker.

        With Redis the shared entries are deleted. With the in-process cache the local
        entries are dropped and the users are written to ``cache_invalidations`` in
        the events' own transaction; every other worker polls it (:meth:`sync_cache`).
        """
        result = store_events(self.engine, raws, self.record_invalidations)
        if result.user_ids:
            self.user_cache.invalidate(sorted(result.user_ids))
        return result

    def record_invalidations(self, conn: Connection, user_ids: Iterable[str]) -> None:
        """Write users to ``cache_invalidations`` for the other workers (in-process cache)."""
        if self.user_cache.backend != "memory":
            return
        at = registry.now_ms()
        upsert_rows(
            conn,
            cache_invalidations,
            ("user_id", "invalidated_at_ms"),
            [(u, at) for u in sorted(set(user_ids))],
            ("invalidated_at_ms",),
        )

    def sync_cache(self) -> None:
        """Apply other workers' invalidations (at most every ``SYNC_SECONDS``)."""
        if self.user_cache.backend != "memory":
            return
        now = time.monotonic()
        if now - self._synced_at < SYNC_SECONDS or not self._sync_lock.acquire(blocking=False):
            return
        try:
            self._synced_at = now
            since = self._seen_ms - SYNC_OVERLAP_MS  # rows committed late are not missed
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(
                        cache_invalidations.c.user_id, cache_invalidations.c.invalidated_at_ms
                    ).where(cache_invalidations.c.invalidated_at_ms >= since)
                ).all()
            stale = [u for u, at in rows if self._applied.get(u, -1) < at]
            self.user_cache.invalidate(stale)
            for u, at in rows:
                self._applied[u] = max(at, self._applied.get(u, -1))
                self._seen_ms = max(self._seen_ms, int(at))
            self._prune(now)
        finally:
            self._sync_lock.release()

    def _prune(self, now: float) -> None:
        if now - self._pruned_at < 60.0:
            return
        self._pruned_at = now
        horizon = registry.now_ms() - 600_000
        self._applied = {
            u: at for u, at in self._applied.items() if at >= horizon - SYNC_OVERLAP_MS
        }
        with self.engine.begin() as conn:
            conn.execute(
                delete(cache_invalidations).where(cache_invalidations.c.invalidated_at_ms < horizon)
            )

    # -- versions -----------------------------------------------------------------
    def active_version(self, fresh: bool = False) -> registry.ModelVersion | None:
        """The version being served (re-read at most every ``VERSION_TTL_SECONDS``)."""
        read_at, version = self._version
        if fresh or time.monotonic() - read_at > VERSION_TTL_SECONDS:
            version = registry.active_version(self.engine)
            self._version = (time.monotonic(), version)
        return version

    def require_version(self) -> registry.ModelVersion:
        version = self.active_version()
        if version is None:
            raise NotReadyError("no model version is being served yet; run `cratedig train` first.")
        return version

    # -- store reads --------------------------------------------------------------
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
                rows = conn.execute(
                    select(artists.c.artist_id, artists.c.name).where(
                        artists.c.artist_id.in_(sorted(set(missing)))
                    )
                ).all()
            found = {r.artist_id: r.name for r in rows}
            for a in missing:
                out[a] = found.get(a)
                self.names.set(a, (found.get(a),))
        return out

    def artist(self, artist_id: str) -> dict[str, Any]:
        """An artist's details: name, tags, tracks and listener counts.

        Raises
        ------
        NotFoundError
            When the artist is unknown.
        """
        with self.engine.connect() as conn:
            row = conn.execute(select(artists).where(artists.c.artist_id == artist_id)).first()
            if row is None:
                raise NotFoundError("artist", artist_id)
            tags = conn.execute(
                select(artist_tags.c.tag)
                .where(artist_tags.c.artist_id == artist_id)
                .order_by(artist_tags.c.weight.desc(), artist_tags.c.tag)
                .limit(20)
            ).scalars()
            track_rows = conn.execute(
                select(tracks.c.track_id, tracks.c.title, tracks.c.duration_ms)
                .where(tracks.c.artist_id == artist_id)
                .order_by(tracks.c.title, tracks.c.track_id)
                .limit(50)
            ).all()
            listeners = conn.execute(
                select(func.count(func.distinct(user_events.c.user_id))).where(
                    user_events.c.artist_id == artist_id
                )
            ).scalar_one()
        return {
            "artist_id": row.artist_id,
            "name": row.name,
            "tags": list(tags),
            "listeners": int(listeners),
            "tracks": [
                {"track_id": t.track_id, "title": t.title, "duration_ms": t.duration_ms}
                for t in track_rows
            ],
        }

    def user_row(self, user_id: str) -> Any | None:
        with self.engine.connect() as conn:
            return conn.execute(select(users).where(users.c.user_id == user_id)).first()

    def profile(self, user_id: str, top: int = 10) -> dict[str, Any]:
        """A user's details, event counts, top artists and followed artists.

        Raises
        ------
        NotFoundError
            When the user has neither a users row nor any event.
        """
        row = self.user_row(user_id)
        with self.engine.connect() as conn:
            counts = conn.execute(
                select(user_events.c.event_type, func.count())
                .where(user_events.c.user_id == user_id)
                .group_by(user_events.c.event_type)
            ).all()
            if row is None and not counts:
                raise NotFoundError("user", user_id)
            top_rows = conn.execute(
                select(user_events.c.artist_id, func.count().label("n"))
                .where(user_events.c.user_id == user_id, user_events.c.artist_id.is_not(None))
                .group_by(user_events.c.artist_id)
                .order_by(func.count().desc(), user_events.c.artist_id)
                .limit(top)
            ).all()
            follow_rows = conn.execute(
                select(
                    user_events.c.artist_id,
                    user_events.c.event_type,
                    user_events.c.occurred_at_ms,
                )
                .where(
                    user_events.c.user_id == user_id,
                    user_events.c.event_type.in_(["follow_artist", "unfollow_artist"]),
                )
                .order_by(user_events.c.occurred_at_ms)
            ).all()
        state: dict[str, bool] = {}
        for f in follow_rows:
            state[f.artist_id] = f.event_type == "follow_artist"
        following = sorted(a for a, on in state.items() if on)
        names = self.artist_names([r.artist_id for r in top_rows] + following)
        m = row._mapping if row is not None else {}
        return {
            "user_id": user_id,
            "country": m.get("country"),
            "city": m.get("city"),
            "timezone": m.get("timezone"),
            "signup_at_ms": m.get("signup_at_ms"),
            "event_counts": {r[0]: int(r[1]) for r in counts},
            "top_artists": [
                {"artist_id": r.artist_id, "name": names.get(r.artist_id), "events": int(r.n)}
                for r in top_rows
            ],
            "following": [{"artist_id": a, "name": names.get(a)} for a in following],
        }

    def _immutable_json(self, key: tuple[Any, ...], stmt: Any) -> list[dict[str, Any]] | None:
        cached = self.immutable.get(key)
        if cached is not None:
            return cached[0]
        with self.engine.connect() as conn:
            raw = conn.execute(stmt).scalar_one_or_none()
        value = None if raw is None else json.loads(raw)
        self.immutable.set(key, (value,))
        return value

    def similar_items(self, version_id: str, artist_id: str) -> list[dict[str, Any]]:
        """The precomputed similar artists of one artist in a version (maybe empty)."""
        stmt = select(similar_artist_lists.c.entries).where(
            similar_artist_lists.c.version_id == version_id,
            similar_artist_lists.c.artist_id == artist_id,
        )
        return self._immutable_json(("sim", version_id, artist_id), stmt) or []

    def _fallback(
        self, version_id: str, country: str | None
    ) -> tuple[str | None, list[dict[str, Any]]]:
        """A cold-start list and its scope: the country's, its taste cluster's, or global."""
        scopes = [("country", country), ("country_cluster", country)] if country else []
        for scope, key in [*scopes, ("global", "")]:
            stmt = select(fallback_lists.c.entries).where(
                fallback_lists.c.version_id == version_id,
                fallback_lists.c.scope == scope,
                fallback_lists.c.scope_key == key,
            )
            items = self._immutable_json(("fb", version_id, scope, key), stmt)
            if items:
                return FALLBACK_NAMES[scope], items
        return None, []

    # -- lists ----------------------------------------------------------------------
    def recommendations(self, user_id: str, list_type: str, k: int) -> dict[str, Any]:
        """A user's list (cached), without ``list_id``; see :meth:`serve_list`.

        Raises
        ------
        ValidationError
            For an unknown list type.
        NotReadyError
            When no version is served yet.
        """
        if list_type not in LIST_TYPES:
            raise ValidationError("list", list_type, "one of: " + ", ".join(LIST_TYPES))
        version = self.require_version()
        self.sync_cache()
        field = f"{version.version_id}:{list_type}:{k}"
        cached = self.user_cache.get(user_id, field)
        if cached is not None:
            return dict(cached)
        payload = self._compute(version, user_id, list_type, k)
        self.user_cache.set(user_id, field, payload)
        return payload

    def _compute(
        self, version: registry.ModelVersion, user_id: str, list_type: str, k: int
    ) -> dict[str, Any]:
        vid = version.version_id
        key = (vid, list_type, user_id)
        cached = self.base_lists.get(key)
        with self.engine.connect() as conn:
            if cached is None:
                raw = conn.execute(
                    select(precomputed_lists.c.entries).where(
                        precomputed_lists.c.version_id == vid,
                        precomputed_lists.c.list_type == list_type,
                        precomputed_lists.c.user_id == user_id,
                    )
                ).scalar_one_or_none()
                if raw is not None:  # cold-start users are not cached: they may appear
                    self.base_lists.set(key, (raw,))
            else:
                raw = cached[0]
            config, recent = self._engagement.get(version)
            activity = (
                conn.execute(
                    recent, {"user_id": user_id, "since_ms": version.snapshot_ms + 1}
                ).all()
                if recent is not None
                else []
            )
        cold_start = raw is None
        fallback = None
        if raw is None:
            row = self.user_row(user_id)
            country = row.country if row is not None else None
            fallback, candidates = self._fallback(vid, country)
        else:
            candidates = json.loads(raw)
        signals = personalise.fold_signals(activity)
        if signals:
            candidates = personalise.rerank(
                candidates,
                signals,
                lambda a: self.similar_items(vid, a),
                config.weights,
                # New artists only for cold-start users: anyone else's candidates
                # already exclude what they knew, while a neighbour might not.
                allow_new=cold_start and list_type == "may_like",
            )
        chosen = candidates[:k]
        names = self.artist_names(
            [c["artist_id"] for c in chosen] + [c["because"] for c in chosen if "because" in c]
        )
        items = []
        for position, c in enumerate(chosen, start=1):
            explanation = c.get("explanation")
            if "because" in c:
                liked = names.get(c["because"]) or c["because"]
                explanation = f"Because you recently liked {liked}"
            items.append(
                {
                    "position": position,
                    "artist_id": c["artist_id"],
                    "name": names.get(c["artist_id"]),
                    "score": float(c.get("score", 0.0)),
                    "explanation": explanation or "Popular with listeners like you",
                }
            )
        return {
            "user_id": user_id,
            "list": list_type,
            "model_version": vid,
            "cold_start": cold_start,
            "fallback": fallback,
            "personalised": bool(signals),
            "items": items,
        }

    def serve_list(self, user_id: str, list_type: str, k: int) -> dict[str, Any]:
        """A user's list with a fresh ``list_id``, logged as an impression."""
        payload = self.recommendations(user_id, list_type, k)
        payload["list_id"] = new_list_id()
        self.impressions.log(
            payload["list_id"],
            user_id,
            list_type,
            [i["artist_id"] for i in payload["items"]],
            payload["model_version"],
        )
        return payload

    def similar(self, artist_id: str, k: int, user_id: str | None = None) -> dict[str, Any]:
        """An artist's similar artists ("Fans also like"), logged as an impression.

        Raises
        ------
        NotFoundError
            When the artist is unknown.
        """
        if not self._artist_exists(artist_id):
            raise NotFoundError("artist", artist_id)
        names = self.artist_names([artist_id])
        version = self.require_version()
        chosen = self.similar_items(version.version_id, artist_id)[:k]
        item_names = self.artist_names([c["artist_id"] for c in chosen])
        name = names.get(artist_id) or artist_id
        payload: dict[str, Any] = {
            "artist_id": artist_id,
            "name": names.get(artist_id),
            "model_version": version.version_id,
            "list_id": new_list_id(),
            "items": [
                {
                    "position": p,
                    "artist_id": c["artist_id"],
                    "name": item_names.get(c["artist_id"]),
                    "score": float(c["score"]),
                    "explanation": f"Fans of {name} also listen to them",
                }
                for p, c in enumerate(chosen, start=1)
            ],
        }
        self.impressions.log(
            payload["list_id"],
            user_id or "anonymous",
            "similar_artists",
            [i["artist_id"] for i in payload["items"]],
            version.version_id,
        )
        return payload

    def _artist_exists(self, artist_id: str) -> bool:
        cached = self.names.get(("exists", artist_id))
        if cached is not None:
            return bool(cached[0])
        with self.engine.connect() as conn:
            found = (
                conn.execute(
                    select(artists.c.artist_id).where(artists.c.artist_id == artist_id)
                ).first()
                is not None
            )
        if found:  # only positive answers are cached: an artist may be added any time
            self.names.set(("exists", artist_id), (True,))
        return found

    def close(self) -> None:
        """Write pending impressions."""
        self.impressions.close()


def new_list_id() -> str:
    """A new unique id for one served list (events from it carry it as ``source``)."""
    return "L" + os.urandom(10).hex()  # 80 random bits, like uuid4 but a tenth of the cost
