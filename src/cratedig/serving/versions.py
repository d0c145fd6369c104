"""Which model version a request reads.

The registry may serve several versions at once (an A/B experiment's arms), so
nothing in serving holds "the" version: every list reader takes a ``version_id``,
and :meth:`Versions.for_user` chooses it per request. Today it chooses the active
version; an experiment router will choose by the user's assignment.

**Swapping versions.** A promotion flips the registry's ``active_version`` pointer in
one transaction, after every list of the new version was written; the old version's
lists stay in the store, so a request still reading them completes normally and no
request fails across a swap. Each worker re-reads the pointer when its copy is older
than :data:`VERSION_TTL_SECONDS`, and a copy's age counts from when its read *began*:
so every request that starts more than ``VERSION_TTL_SECONDS`` after the promotion
committed is served by the new version (the bound that ``docs/scheduler.md`` states
and ``tests/serving/test_swap.py`` checks on a real gunicorn under load). Per-user cache
entries carry the version id in their key, so none of the old version's is served
after the flip.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine

from cratedig.exceptions import StoreError
from cratedig.pipeline import registry

#: How long a worker trusts its idea of the active version (promotion shows after it).
VERSION_TTL_SECONDS = 1.0


class NotReadyError(StoreError):
    """No model version has been promoted yet."""


class Versions:
    """The served versions, re-read from the registry at most every ``ttl_seconds``."""

    def __init__(self, engine: Engine, ttl_seconds: float = VERSION_TTL_SECONDS) -> None:
        self.engine = engine
        self.ttl_seconds = ttl_seconds
        self._lock = threading.Lock()
        self._active: tuple[float, registry.ModelVersion | None] = (-ttl_seconds - 1.0, None)

    def active(self, fresh: bool = False) -> registry.ModelVersion | None:
        """The active version (``None`` before the first promotion).

        A copy is stamped with the time its read began, and a slower concurrent read
        that began earlier never replaces a newer one, so no thread sees the pointer
        go back to an older version once another thread has seen the new one.
        """
        read_at, version = self._active
        if fresh or time.monotonic() - read_at > self.ttl_seconds:
            began = time.monotonic()
            version = registry.active_version(self.engine)
            with self._lock:
                if began > self._active[0]:
                    self._active = (began, version)
                else:
                    version = self._active[1]
        return version

    def for_user(self, user_id: str | None) -> registry.ModelVersion:
        """The version whose lists ``user_id`` (``None``: anonymous) is served.

        Raises
        ------
        NotReadyError
            When no version is served yet.
        """
        version = self.active()
        if version is None:
            raise NotReadyError("no model version is being served yet; run `cratedig train` first.")
        return version
