"""Which model version a request reads.

The registry may serve several versions at once (an A/B experiment's arms), so
nothing in serving holds "the" version: every list reader takes a ``version_id``,
and :meth:`Versions.for_user` chooses it per request. Today it chooses the active
version; an experiment router will choose by the user's assignment.
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
        """The active version (``None`` before the first promotion)."""
        read_at, version = self._active
        if fresh or time.monotonic() - read_at > self.ttl_seconds:
            version = registry.active_version(self.engine)
            with self._lock:
                self._active = (time.monotonic(), version)
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
