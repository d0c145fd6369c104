"""What the API and the pages share: one object per app (one per gunicorn worker).

:class:`Service` wires the parts together and chooses, per request, the model
version to read (:class:`~cratedig.serving.versions.Versions`):

* lists and similar artists: :mod:`cratedig.serving.lists` (the version's
  precomputed lists, re-ranked by recent activity, with explanations);
* artists and profiles: :mod:`cratedig.serving.catalogue`;
* the per-user cache and its cross-worker invalidation:
  :mod:`cratedig.serving.cache` and :mod:`cratedig.serving.cache_sync`;
* impressions: :mod:`cratedig.serving.impressions`;
* posted events: the one write path, :mod:`cratedig.ingest.write_path`; in stream
  mode (``ingest_mode = "stream"``) the event stream, :mod:`cratedig.ingest.stream`,
  which ``cratedig consume`` workers drain into the write path.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine

from cratedig.config import MAX_K, Settings
from cratedig.exceptions import NotFoundError, ValidationError
from cratedig.ingest.feedback import check_against_list, store_feedback
from cratedig.ingest.stream import EventStream, Lag, open_stream, queue_events
from cratedig.ingest.write_path import BatchResult, store_events
from cratedig.pipeline.registry import ModelVersion
from cratedig.serving.cache import UserCache, make_user_cache
from cratedig.serving.cache_sync import CacheSync
from cratedig.serving.catalogue import Catalogue
from cratedig.serving.impressions import ImpressionWriter
from cratedig.serving.lists import LIST_TYPES, ListAssembler
from cratedig.serving.versions import Route, Versions
from cratedig.store.feedback import served_list

#: The shape of the list ids :func:`new_list_id` makes.
SERVED_LIST_ID = re.compile(r"L[0-9a-f]{20}")

#: The list length served when a request names none (shorter when the version's lists are).
DEFAULT_K = 10


def check_k(value: Any, default: int | None = None) -> int | None:
    """Read ``k`` (a list length) from a query string value.

    ``None`` (the default when the value is absent) lets the service choose:
    :data:`DEFAULT_K`, or the served version's list length when that is shorter.
    The service also checks ``k`` against the version's list length
    (:meth:`Service.k_limits`).

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


def check_list_type(list_type: str) -> str:
    """``list_type`` when it is one of :data:`LIST_TYPES`.

    Raises
    ------
    ValidationError
        Naming the ``list`` parameter.
    """
    if list_type not in LIST_TYPES:
        raise ValidationError("list", list_type, "one of: " + ", ".join(LIST_TYPES))
    return list_type


class _RandomIds:
    """80-bit random ids cut from a buffer of :func:`os.urandom` bytes.

    One system call per 400 ids rather than one per id: each call let go of the GIL,
    and in a threaded worker getting it back could wait on another request thread.
    The buffer is dropped in a forked child, so no two processes share ids.
    """

    SIZE = 4000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._at = 0
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._buffer, self._at = b"", 0

    def next_hex(self) -> str:
        """20 hex digits (80 random bits)."""
        with self._lock:
            if self._at + 10 > len(self._buffer):
                self._buffer, self._at = os.urandom(self.SIZE), 0
            chunk = self._buffer[self._at : self._at + 10]
            self._at += 10
        return chunk.hex()


_IDS = _RandomIds()


def new_list_id() -> str:
    """A new unique id for one served list (events from it carry it as ``source``)."""
    return "L" + _IDS.next_hex()  # 80 random bits, like uuid4 but a tenth of the cost


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
        self.cache_sync = CacheSync(engine, self.user_cache)
        self.versions = Versions(engine)
        self.catalogue = Catalogue(engine, settings.weights)
        self.lists = ListAssembler(engine, self.catalogue, settings)
        self.impressions = ImpressionWriter(engine)
        self.stream: EventStream | None = None
        if settings.ingest_mode == "stream":
            url = settings.stream_url or settings.redis_url
            assert url is not None  # load_settings checks it
            self.stream = open_stream(url, settings.stream_name, settings.stream_group)
        self._k_limits: dict[str, tuple[int, int]] = {}

    # -- writes -------------------------------------------------------------------
    def post_events(self, raws: Sequence[Any]) -> BatchResult:
        """Store posted events and drop their users' cached lists, in every worker.

        With Redis the shared entries are deleted. With the in-process cache the local
        entries are dropped and the users are recorded for the other workers in the
        events' own transaction (:class:`~cratedig.serving.cache_sync.CacheSync`).
        In stream mode the valid events are appended to the stream instead (the
        consumers store them and drop the cached lists).
        """
        tolerance_ms = round(self.settings.future_tolerance_seconds * 1000)
        if self.stream is not None:
            return queue_events(self.engine, self.stream, raws, tolerance_ms)
        result = store_events(self.engine, raws, self.cache_sync.record, tolerance_ms)
        if result.user_ids:
            self.user_cache.invalidate(sorted(result.user_ids))
        return result

    def post_feedback(self, row: Mapping[str, Any]) -> int:
        """Store a parsed feedback row once it is checked against its list
        (:func:`~cratedig.ingest.feedback.check_against_list`); returns its id.

        Raises
        ------
        NotFoundError
            For an unknown list or a list of another user (field ``list_id``).
        ValidationError
            For a thumb on an artist that is not in the list (field ``artist_id``).
        """
        list_id = row.get("list_id")
        if list_id is not None:
            check_against_list(row, self.served_list(list_id))
        feedback_id = store_feedback(self.engine, row, self.cache_sync.record)
        self.user_cache.invalidate([str(row["user_id"])])
        return feedback_id

    def served_list(self, list_id: str) -> tuple[str, list[str]] | None:
        """Who a list was served to and its artists, from this worker's impressions
        not yet written, else from the store.

        Another worker writes the lists it served within its writer's
        ``flush_seconds``: an id this service could have made (:data:`SERVED_LIST_ID`)
        that is not found is looked up again for that long before it counts as unknown.
        """
        found = self.impressions.pending(list_id)
        deadline = time.monotonic() + self.impressions.flush_seconds + 0.5
        while found is None:
            with self.engine.connect() as conn:
                found = served_list(conn, list_id)
            if found is not None or not SERVED_LIST_ID.fullmatch(list_id):
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        return found

    def stream_lag(self) -> Lag | None:
        """The event stream's lag (``None`` in sync mode).

        Raises
        ------
        StreamUnavailableError
            When the stream cannot be reached.
        """
        return None if self.stream is None else self.stream.lag()

    def sync_cache(self) -> None:
        """Apply other workers' invalidations (see :meth:`CacheSync.sync`)."""
        self.cache_sync.sync()

    # -- versions -----------------------------------------------------------------
    def active_version(self, fresh: bool = False) -> ModelVersion | None:
        """The active version (re-read at most every ``VERSION_TTL_SECONDS``)."""
        return self.versions.active(fresh)

    # -- reads --------------------------------------------------------------------
    def artist(self, artist_id: str) -> dict[str, Any]:
        """An artist's details (see :meth:`Catalogue.artist`)."""
        return self.catalogue.artist(artist_id)

    def profile(self, user_id: str, top: int = 10) -> dict[str, Any]:
        """A user's profile (see :meth:`Catalogue.profile`)."""
        return self.catalogue.profile(user_id, top)

    def k_limits(self, version: ModelVersion) -> tuple[int, int]:
        """The largest ``k`` of a user list and of a similar-artists list from ``version``.

        The ``max_k`` setting, lowered to what the version precomputed (its recorded
        ``k_lists`` and ``k_fallback``, and ``k_similar``): a larger ``k`` would silently
        get a shorter list, so it is refused instead.
        """
        kept = self._k_limits.get(version.version_id)
        if kept is not None:
            return kept
        params = version.params or {}
        lists = min(
            [self.settings.max_k]
            + [int(params[name]) for name in ("k_lists", "k_fallback") if name in params]
        )
        similar = min(self.settings.max_k, int(params.get("k_similar", self.settings.max_k)))
        kept = (max(1, lists), max(1, similar))
        self._k_limits[version.version_id] = kept  # a version's params never change
        return kept

    @staticmethod
    def _resolve_k(k: int | None, limit: int, what: str) -> int:
        if k is None:
            return min(DEFAULT_K, limit)
        if k > limit:
            raise ValidationError(
                "k",
                k,
                f"an integer in 1..{limit} (the served model version holds {limit} {what})",
            )
        return k

    def recommendations(
        self, user_id: str, list_type: str, k: int | None, cache: bool = True
    ) -> dict[str, Any]:
        """A user's list (cached unless ``cache`` is false), without ``list_id``; see
        :meth:`serve_list`.

        Raises
        ------
        ValidationError
            For an unknown list type, or ``k`` above :meth:`k_limits`.
        NotReadyError
            When no version is served yet.
        """
        check_list_type(list_type)
        route = self.versions.for_user(user_id, list_type)
        k = self._resolve_k(k, self.k_limits(route.version)[0], "items per list")
        field = self._cache_field(route, list_type, k)
        cached = self.user_cache.get(user_id, field)
        if cached is not None:
            return dict(cached)
        if list_type == "hidden_gems" and route.gems == "off":
            # the arm does not show Hidden Gems: nothing to list, so no impression
            payload = {"user_id": user_id, "list": list_type,
                       "model_version": route.version.version_id, "cold_start": False,
                       "fallback": None, "personalised": False, "items": []}  # fmt: skip
        elif route.interleave_with is not None:
            payload = self.lists.interleaved_list(
                route.version, route.interleave_with, route.salt, user_id, list_type, k
            )
        else:
            payload = self.lists.user_list(
                route.version, user_id, list_type, k, route.personalise, route.holdout
            )
        payload["variant"] = route.label
        if list_type == "hidden_gems":
            payload["placement"] = route.gems or "last"
        if cache:
            self.user_cache.set(user_id, field, payload)
        return dict(payload)

    def _cache_field(self, route: Route, list_type: str, k: int) -> str:
        """The per-user cache's field of a list (after applying other workers'
        invalidations, so that a cached entry read next is current)."""
        self.sync_cache()
        return f"{route.cache_key}:{list_type}:{k}"

    def cached_list(self, user_id: str, list_type: str, k: int | None) -> dict[str, Any] | None:
        """:meth:`serve_list` for a list in the per-user cache, else ``None``.

        The fast path of :mod:`cratedig.serving.hot_path`: ``list_type`` must be valid
        and ``k`` in ``1..MAX_K``; a ``k`` above the version's list length also gives
        ``None`` (the full path answers its 400). Only known users' lists are cached,
        so a hit is served and logged exactly as :meth:`serve_list` would.
        """
        route = self.versions.for_user(user_id, list_type)
        try:
            k = self._resolve_k(k, self.k_limits(route.version)[0], "items per list")
        except ValidationError:
            return None
        cached = self.user_cache.get(user_id, self._cache_field(route, list_type, k))
        if cached is None:
            return None
        return self._issue(dict(cached), user_id, list_type, log=True)

    def user_known(self, user_id: str) -> bool:
        """Whether the store knows the user (a ``users`` row: imported, or created by an
        earlier event). Only known users' lists are logged as impressions."""
        return self.catalogue.user_exists(user_id)

    def serve_list(
        self, user_id: str, list_type: str, k: int | None, log: bool = True
    ) -> dict[str, Any]:
        """A user's list with a fresh ``list_id``, logged as an impression when ``log``.

        A list that is not logged is not cached either (an unknown user's cold-start
        list), so requests for made-up ids leave nothing behind.
        """
        payload = self.recommendations(user_id, list_type, k, cache=log)
        return self._issue(payload, user_id, list_type, log)

    def _issue(
        self, payload: dict[str, Any], user_id: str, list_type: str, log: bool
    ) -> dict[str, Any]:
        """``payload`` (a copy of a list) with a fresh ``list_id``, logged when ``log``."""
        payload["list_id"] = new_list_id()
        teams = payload.pop("teams", None)
        if log:
            self._log(payload, user_id, list_type, teams)
        return payload

    def similar(
        self, artist_id: str, k: int | None, user_id: str | None = None, log: bool = True
    ) -> dict[str, Any]:
        """An artist's similar artists ("Fans also like"), logged as an impression
        (for ``user_id``, or ``anonymous``) when ``log``.

        Raises
        ------
        NotFoundError
            When the artist is unknown.
        """
        if not self.catalogue.artist_exists(artist_id):
            raise NotFoundError("artist", artist_id)
        version = self.versions.for_user(user_id).version
        k = self._resolve_k(k, self.k_limits(version)[1], "similar artists per artist")
        listing = self.lists.similar_list(version, artist_id, k)
        payload = {**listing, "list_id": new_list_id()}
        if log:
            self._log(payload, user_id or "anonymous", "similar_artists")
        return payload

    def _log(
        self, payload: dict[str, Any], user_id: str, list_type: str, teams: str | None = None
    ) -> None:
        self.impressions.log(
            payload["list_id"],
            user_id,
            list_type,
            [i["artist_id"] for i in payload["items"]],
            payload["model_version"],
            variant=payload.get("variant"),
            teams=teams,
        )

    def close(self) -> None:
        """Write pending impressions; close the stream's connections."""
        self.impressions.close()
        if self.stream is not None:
            self.stream.close()
