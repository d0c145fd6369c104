"""Rate limits (the ``limits`` library): writes, failed credentials, lists for unknown
users.

One :class:`Guard` per app. Its counters live in Redis when ``Settings.redis_url`` is
set (shared by every worker and host), in process memory otherwise. The limits are
settings in the ``limits`` syntax that Flask-Limiter also uses (``"120/minute"``,
several joined by ``;``; ``"none"`` turns one off):

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

The counters are kept by ``limits``' fixed-window strategy, the library under
Flask-Limiter, called only where a limit applies. Flask-Limiter's extension itself is
not attached to the app: with no limit on an endpoint, its ``before_request`` and
``after_request`` hooks still resolved the endpoint's limits on every request, about
110 us of a 300 us list request (``benchmarks/serve_profile.py``).
"""

from __future__ import annotations

import hashlib
import logging
import time

from flask import request
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from cratedig.config import Settings
from cratedig.exceptions import ConfigError
from cratedig.serving.errors import ApiError

log = logging.getLogger(__name__)

_OFF = {"", "none", "off", "0"}
#: Prefix of every counter's key (in Redis: ``LIMITER/cratedig-limits/<scope>/<who>/...``).
KEY_PREFIX = "cratedig-limits"


def get_remote_address() -> str:
    """The client address of the request (``127.0.0.1`` when there is none), as
    Flask-Limiter's helper of the same name: behind ``trusted_proxies`` it is the one
    ``ProxyFix`` took from ``X-Forwarded-For``."""
    return request.remote_addr or "127.0.0.1"


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

    def __init__(self, settings: Settings) -> None:
        self.storage = storage_from_string(settings.redis_url or "memory://")
        self.limiter = FixedWindowRateLimiter(self.storage)
        self.api_writes = parse_limits("rate_limit_api_writes", settings.rate_limit_api_writes)
        self.page_writes = parse_limits("rate_limit_page_writes", settings.rate_limit_page_writes)
        self.failed_auth = parse_limits("rate_limit_failed_auth", settings.rate_limit_failed_auth)
        self.unknown_lists = parse_limits(
            "rate_limit_unknown_lists", settings.rate_limit_unknown_lists
        )

    def _hit(self, items: list[RateLimitItem], scope: str, who: str, what: str) -> None:
        for item in items:
            try:
                allowed = self.limiter.hit(item, KEY_PREFIX, scope, who)
            except Exception as exc:  # the counters' store is down: let it through
                log.warning("rate limit store failed (%s); not limiting", exc)
                return
            if not allowed:
                self._refuse(item, scope, who, what)

    def _refuse(self, item: RateLimitItem, scope: str, who: str, what: str) -> None:
        try:
            reset = self.limiter.get_window_stats(item, KEY_PREFIX, scope, who).reset_time
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
                allowed = self.limiter.test(item, KEY_PREFIX, "failed-auth", who)
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
                self.limiter.hit(item, KEY_PREFIX, "failed-auth", who)
            except Exception as exc:
                log.warning("rate limit store failed (%s); not counting", exc)
                return
