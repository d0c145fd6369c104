"""Rate limits (Flask-Limiter): writes, failed credentials, lists for unknown users.

One :class:`Guard` per app. Its counters live in Redis when ``Settings.redis_url`` is
set (shared by every worker and host), in process memory otherwise. The limits are
settings in Flask-Limiter's syntax (``"120/minute"``, several joined by ``;``;
``"none"`` turns one off):

* ``rate_limit_api_writes``: writes per API key;
* ``rate_limit_page_writes``: page writes (``/ui/*``) per client address;
* ``rate_limit_failed_auth``: failed credentials (API key, basic auth, page token) per
  client address; once over it, that address gets 429 on every credentialed request,
  right or wrong, until the window passes;
* ``rate_limit_unknown_lists``: lists served for ids the store does not know (which
  are not logged as impressions) per client address.

A request over a limit gets the JSON error envelope with status 429, code
``rate_limited`` and a ``Retry-After`` header. When the counters' store fails, requests
are let through (and the failure logged): a broken Redis must not close the site.
"""

from __future__ import annotations

import hashlib
import logging
import time

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many

from cratedig.config import Settings
from cratedig.exceptions import ConfigError
from cratedig.serving.errors import ApiError

log = logging.getLogger(__name__)

_OFF = {"", "none", "off", "0"}


def parse_limits(name: str, value: str) -> list[RateLimitItem]:
    """The limits of one setting (empty for ``"none"``).

    Raises
    ------
    ConfigError
        Naming the setting when the value is not Flask-Limiter syntax.
    """
    if value.strip().lower() in _OFF:
        return []
    try:
        return list(parse_many(value))
    except ValueError:
        raise ConfigError(
            f"{name}: {value!r} is not valid; expected limits such as '120/minute' "
            "(several joined by ';') or 'none'."
        ) from None


class Guard:
    """The app's rate limits (see the module docstring)."""

    def __init__(self, app: Flask, settings: Settings) -> None:
        self.limiter = Limiter(
            get_remote_address,
            app=app,
            storage_uri=settings.redis_url or "memory://",
            key_prefix="cratedig-limits",
            strategy="fixed-window",
            swallow_errors=True,
            default_limits=[],
        )
        self.api_writes = parse_limits("rate_limit_api_writes", settings.rate_limit_api_writes)
        self.page_writes = parse_limits("rate_limit_page_writes", settings.rate_limit_page_writes)
        self.failed_auth = parse_limits("rate_limit_failed_auth", settings.rate_limit_failed_auth)
        self.unknown_lists = parse_limits(
            "rate_limit_unknown_lists", settings.rate_limit_unknown_lists
        )

    def _hit(self, items: list[RateLimitItem], scope: str, who: str, what: str) -> None:
        for item in items:
            try:
                allowed = self.limiter.limiter.hit(item, scope, who)
            except Exception as exc:  # the counters' store is down: let it through
                log.warning("rate limit store failed (%s); not limiting", exc)
                return
            if not allowed:
                self._refuse(item, scope, who, what)

    def _refuse(self, item: RateLimitItem, scope: str, who: str, what: str) -> None:
        try:
            reset = self.limiter.limiter.get_window_stats(item, scope, who).reset_time
            retry = max(1, int(reset - time.time()) + 1)
        except Exception:
            retry = item.get_expiry()
        raise ApiError(
            429,
            "rate_limited",
            f"Too many {what}: at most {item} from one client; retry in {retry} s.",
            headers={"Retry-After": str(retry)},
        )

    def api_write(self, key: str) -> None:
        """Count one write made with ``key`` (raises 429 over the limit)."""
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
        self._hit(self.api_writes, "api-writes", digest, "writes with this API key")

    def page_write(self) -> None:
        """Count one page write from this client (raises 429 over the limit)."""
        self._hit(self.page_writes, "page-writes", get_remote_address(), "page writes")

    def unknown_list(self) -> None:
        """Count one list for an unknown user from this client (429 over the limit)."""
        self._hit(
            self.unknown_lists, "unknown-lists", get_remote_address(), "lists for unknown users"
        )

    def refuse_if_locked_out(self) -> None:
        """429 when this client has failed its credentials too often lately."""
        who = get_remote_address()
        for item in self.failed_auth:
            try:
                allowed = self.limiter.limiter.test(item, "failed-auth", who)
            except Exception as exc:
                log.warning("rate limit store failed (%s); not limiting", exc)
                return
            if not allowed:
                self._refuse(item, "failed-auth", who, "failed credentials")

    def failed_credential(self) -> None:
        """Count one failed credential from this client."""
        who = get_remote_address()
        for item in self.failed_auth:
            try:
                self.limiter.limiter.hit(item, "failed-auth", who)
            except Exception as exc:
                log.warning("rate limit store failed (%s); not counting", exc)
                return
