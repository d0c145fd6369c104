"""Assembling the lists a user sees: a version's precomputed list (or its cold-start
fallback), re-ranked by recent activity, with names and explanation sentences.

Every function takes the model version to read: the service chooses it per request
(:meth:`cratedig.serving.versions.Versions.for_user`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from typing import Any

import orjson
from sqlalchemy import Connection, Engine

from cratedig.config import Settings
from cratedig.experiments.interleaving import team_draft
from cratedig.matrix.recent import RecentEvent
from cratedig.models.explain import join_names
from cratedig.pipeline.registry import ModelVersion
from cratedig.serving import live_models, personalise
from cratedig.serving.cache import LocalLRU
from cratedig.serving.catalogue import NAMES_TTL_SECONDS, Catalogue
from cratedig.store import lists
from cratedig.store.prepared import Prepared

LIST_TYPES = ("may_like", "hidden_gems")
#: What a cold-start list was drawn from (the response's ``fallback``), by stored scope.
FALLBACK_NAMES = {"country": "country", "country_cluster": "cluster", "global": "global"}
#: The explanation of a list item that carries none of its own.
DEFAULT_EXPLANATION = "Popular with listeners like you"
#: Recent activity already read in this block of :meth:`ListAssembler.shared_activity`.
_SHARED: ContextVar[dict[tuple[str, str], list[Any]] | None] = ContextVar(
    "cratedig_shared_activity", default=None
)
#: Personalised lists kept per worker (see :attr:`ListAssembler.personalised`).
PERSONALISED_ENTRIES = 10_000


def because_explanation(liked: str) -> str:
    """The explanation of an item lifted by the user's recent activity."""
    return f"Because you recently liked {liked}"


def listens_explanation(artists: str) -> str:
    """The explanation of an item the user's (older) history led to."""
    return f"Because you listen to {artists}"


def fans_explanation(artist: str) -> str:
    """The explanation of an item of an artist's similar-artists list."""
    return f"Fans of {artist} also listen to them"


class ListAssembler:
    """Reads and assembles lists, caching the immutable parts per version.

    Parameters
    ----------
    engine, catalogue
        The store and the cached artist names.
    settings
        The settings: recent activity is weighed with each version's recorded
        engagement configuration, these settings' only for versions without one.
    """

    def __init__(self, engine: Engine, catalogue: Catalogue, settings: Settings):
        self.engine = engine
        self.catalogue = catalogue
        self.immutable = LocalLRU(max_entries=50_000)
        # precomputed lists as raw JSON (a few kB each), immutable per version
        self.base_lists = LocalLRU(max_entries=5_000)
        self.engagement = personalise.VersionEngagement(settings)
        # the served versions' fitted models, for users with events since the snapshot
        self.live = live_models.LiveModels()
        self.live_rescoring = settings.live_rescoring
        # Personalised candidates (live-scored or re-ranked), keyed by the version, the
        # user and the user's recent activity itself: a repeat (the per-user cache's
        # entry expired, another k-independent reader, an invalidation that changed
        # nothing since the snapshot) costs the activity read, not a model scoring
        # (~10 ms); any new event changes the key. Immutable per key: no TTL.
        self.personalised = LocalLRU(max_entries=PERSONALISED_ENTRIES)
        self._recent = LocalLRU(max_entries=personalise.KEPT_VERSIONS)
        # assembled similar-artist listings (they carry names, so they expire with them)
        self.similar_lists = LocalLRU(max_entries=20_000, ttl_seconds=NAMES_TTL_SECONDS)

    def _recent_sql(self, version_id: str, statement: Any) -> Prepared:
        """The version's recent-activity query compiled once (see :mod:`store.prepared`)."""
        found = self._recent.get(version_id)
        if found is None:
            found = Prepared(statement, self.engine.dialect, ("user_id", "since_ms"))
            self._recent.set(version_id, found)
        return found

    def _immutable_json(
        self, key: tuple[Any, ...], read: Callable[[Any], str | None]
    ) -> list[dict[str, Any]] | None:
        cached = self.immutable.get(key)
        if cached is not None:
            return cached[0]
        with self.engine.connect() as conn:
            raw = read(conn)
        value = None if raw is None else orjson.loads(raw)
        self.immutable.set(key, (value,))
        return value

    def similar_items(self, version_id: str, artist_id: str) -> list[dict[str, Any]]:
        """The precomputed similar artists of one artist in a version (maybe empty)."""
        return (
            self._immutable_json(
                ("sim", version_id, artist_id),
                lambda conn: lists.read_similar(conn, version_id, artist_id),
            )
            or []
        )

    def fallback(
        self, version_id: str, country: str | None
    ) -> tuple[str | None, list[dict[str, Any]]]:
        """A cold-start list and its scope: the country's, its taste cluster's, or global."""
        scopes = [("country", country), ("country_cluster", country)] if country else []
        for scope, key in [*scopes, ("global", "")]:
            items = self._immutable_json(
                ("fb", version_id, scope, key),
                partial(lists.read_fallback, version_id=version_id, scope=scope, scope_key=key),
            )
            if items:
                return FALLBACK_NAMES[scope], items
        return None, []

    def user_list(
        self,
        version: ModelVersion,
        user_id: str,
        list_type: str,
        k: int,
        personalised: bool = True,
        holdout: bool = False,
    ) -> dict[str, Any]:
        """A user's list of ``k`` items from ``version`` (without ``list_id``).

        ``personalised=False`` serves the precomputed list without re-ranking by recent
        activity; ``holdout`` serves the version's global popular list to everyone
        (experiment arms, :mod:`cratedig.experiments.spec`).
        """
        vid = version.version_id
        if holdout:
            _, candidates = self.fallback(vid, None)
            return {
                "user_id": user_id,
                "list": list_type,
                "model_version": vid,
                "cold_start": False,
                "fallback": "global",
                "personalised": False,
                "items": self._items(candidates[:k]),
            }
        key = (vid, list_type, user_id)
        cached = self.base_lists.get(key)
        with self.engine.connect() as conn:
            if cached is None:
                raw = lists.read_user_list(conn, vid, list_type, user_id)
                if raw is not None:  # cold-start users are not cached: they may appear
                    self.base_lists.set(key, (raw,))
            else:
                raw = cached[0]
            config, rows = (
                self.recent_activity(conn, version, user_id)
                if personalised
                else (self.engagement.get(version)[0], [])
            )
        activity = [RecentEvent(*row) for row in rows]
        cold_start = raw is None
        fallback, country = None, None
        if raw is None:
            country = self.catalogue.user_country(user_id)
            fallback, candidates = self.fallback(vid, country)
        else:
            candidates = orjson.loads(raw)
        signals = personalise.fold_signals(activity)
        if signals:
            # the activity rows (artist, type, weight, time; plain tuples) are part of the key
            mine = (vid, list_type, user_id, k, country, tuple(rows))
            kept = self.personalised.get(mine)
            if kept is None:
                kept = self._personalise(
                    version, user_id, list_type, k, signals, candidates, config, cold_start
                )
                self.personalised.set(mine, kept)
            candidates = kept
        return {
            "user_id": user_id,
            "list": list_type,
            "model_version": vid,
            "cold_start": cold_start,
            "fallback": fallback,
            "personalised": bool(signals),
            "items": self._items(candidates[:k]),
        }

    def _personalise(
        self,
        version: ModelVersion,
        user_id: str,
        list_type: str,
        k: int,
        signals: personalise.Signals,
        candidates: list[dict[str, Any]],
        config: Any,
        cold_start: bool,
    ) -> list[dict[str, Any]]:
        """The first ``k`` candidates after the user's recent ``signals``: scored from the
        current history by the version's model (may_like, :meth:`_rescore`), else the
        precomputed candidates re-ranked (:func:`personalise.rerank`)."""
        rescored = None
        if list_type == "may_like" and self.live_rescoring:
            rescored = self._rescore(version, user_id, signals, candidates, k, config.transform)
        if rescored is not None:
            return rescored[:k]
        return personalise.rerank(
            candidates,
            signals,
            lambda a: self.similar_items(version.version_id, a),
            config.weights,
            # New artists only for cold-start users: anyone else's candidates
            # already exclude what they knew, while a neighbour might not.
            allow_new=cold_start and list_type == "may_like",
        )[:k]

    @contextmanager
    def shared_activity(self) -> Iterator[None]:
        """Within the block, :meth:`recent_activity` reads each user's events once.

        For one request that needs them several times: the home page serves two
        lists and shows the same events in its recent-listening panel. Not longer:
        the next request must see the events posted meanwhile.
        """
        token = _SHARED.set({})
        try:
            yield
        finally:
            _SHARED.reset(token)

    def recent_activity(
        self, conn: Connection, version: ModelVersion, user_id: str
    ) -> tuple[personalise.EngagementConfig, list[Any]]:
        """The engagement configuration of ``version`` and the user's weighted events
        since its snapshot (``(artist_id, event_type, weight, occurred_at_ms)``, newest
        first), as :class:`~cratedig.serving.personalise.VersionEngagement` reads them."""
        config, recent = self.engagement.get(version)
        if recent is None:
            return config, []
        memo = _SHARED.get()
        key = (version.version_id, user_id)
        if memo is not None and key in memo:
            return config, memo[key]
        rows = self._recent_sql(version.version_id, recent).all(
            conn, user_id=user_id, since_ms=version.snapshot_ms + 1
        )
        if memo is not None:
            memo[key] = rows
        return config, rows

    def interleaved_list(
        self,
        version_a: ModelVersion,
        version_b: ModelVersion,
        salt: str,
        user_id: str,
        list_type: str,
        k: int,
    ) -> dict[str, Any]:
        """Team-draft interleaving of two versions' lists (Radlinski et al. 2008).

        The result's ``teams`` holds the team (``A``/``B``) of each position; the coin
        flips are seeded by (salt, user, list type), so the list is stable per user.
        """
        a = self.user_list(version_a, user_id, list_type, k)
        b = self.user_list(version_b, user_id, list_type, k)
        by_id = {i["artist_id"]: i for i in b["items"]} | {i["artist_id"]: i for i in a["items"]}
        ids, teams = team_draft(
            [i["artist_id"] for i in a["items"]],
            [i["artist_id"] for i in b["items"]],
            k,
            salt,
            user_id,
            list_type,
        )
        items = [{**by_id[str(aid)], "position": p} for p, aid in enumerate(ids, start=1)]
        return {
            **a,
            "cold_start": a["cold_start"] and b["cold_start"],
            "personalised": a["personalised"] or b["personalised"],
            "items": items,
            "teams": "".join("AB"[int(t)] for t in teams),
        }

    def _rescore(
        self,
        version: ModelVersion,
        user_id: str,
        signals: personalise.Signals,
        candidates: list[dict[str, Any]],
        k: int,
        transform: str | None,
    ) -> list[dict[str, Any]] | None:
        """The list scored by the version's model from the user's current history
        (:mod:`cratedig.serving.live_models`); None when that is not possible."""
        live = self.live.get(version.version_id, version.artifact_path)
        if live is None:
            return None
        removed = set(signals.unfollowed)
        scored = live_models.score_current(
            live, user_id, signals.positive, removed, max(k, len(candidates)), transform
        )
        if scored is None or not scored.artist_ids:
            return None
        known = {c["artist_id"]: c for c in candidates}
        out = []
        for i, artist_id in enumerate(scored.artist_ids):
            item: dict[str, Any] = {"artist_id": artist_id, "score": round(scored.scores[i], 6)}
            if scored.recent_reasons[i]:
                item["because"] = scored.recent_reasons[i]
            elif artist_id in known and known[artist_id].get("explanation"):
                item["explanation"] = known[artist_id]["explanation"]
            elif scored.other_reasons[i]:
                item["listens"] = scored.other_reasons[i]
            out.append(item)
        return out

    def _items(self, chosen: list[dict[str, Any]]) -> list[dict[str, Any]]:
        named: list[str] = []
        for c in chosen:
            named.append(c["artist_id"])
            for key in ("because", "listens"):
                value = c.get(key)
                named.extend([value] if isinstance(value, str) else value or [])
        names = self.catalogue.artist_names(named)

        def label(ids: str | list[str]) -> str:
            ids = [ids] if isinstance(ids, str) else ids
            return join_names([names.get(a) or a for a in ids])

        items = []
        for position, c in enumerate(chosen, start=1):
            explanation = c.get("explanation")
            if "because" in c:
                explanation = because_explanation(label(c["because"]))
            elif "listens" in c:
                explanation = listens_explanation(label(c["listens"]))
            items.append(
                {
                    "position": position,
                    "artist_id": c["artist_id"],
                    "name": names.get(c["artist_id"]),
                    "score": float(c.get("score", 0.0)),
                    "explanation": explanation or DEFAULT_EXPLANATION,
                }
            )
        return items

    def similar_list(self, version: ModelVersion, artist_id: str, k: int) -> dict[str, Any]:
        """An artist's ``k`` similar artists from ``version`` (without ``list_id``).

        Kept per (version, artist, k) for as long as names are: the result is shared,
        so callers copy rather than change it.
        """
        key = (version.version_id, artist_id, k)
        kept = self.similar_lists.get(key)
        if kept is not None:
            return kept
        chosen = self.similar_items(version.version_id, artist_id)[:k]
        names = self.catalogue.artist_names([artist_id, *(c["artist_id"] for c in chosen)])
        because = fans_explanation(names.get(artist_id) or artist_id)
        listing = {
            "artist_id": artist_id,
            "name": names.get(artist_id),
            "model_version": version.version_id,
            "items": [
                {
                    "position": p,
                    "artist_id": c["artist_id"],
                    "name": names.get(c["artist_id"]),
                    "score": float(c["score"]),
                    "explanation": because,
                }
                for p, c in enumerate(chosen, start=1)
            ],
        }
        self.similar_lists.set(key, listing)
        return listing
