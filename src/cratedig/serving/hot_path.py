"""The hot path: a cached user list served without Flask's request dispatch.

``GET /api/v1/users/<id>/recommendations`` answered from the per-user cache is most of
a site's read traffic. Through Flask, the framework's own work on it (request context,
URL matching, the response object and its headers) was more than half of the
request's CPU in one process: about 55 of 96 us, against 43 us for a one-line Flask
endpoint (``benchmarks/serve_profile.py``). :class:`HotLists` is a WSGI middleware
that answers exactly that case itself, through the same service method the view ends
in (:meth:`~cratedig.serving.service.Service.cached_list`: the same list, a fresh list
id, the same impression log), and hands every other request to Flask untouched.

It answers only when all of these hold; anything else goes to Flask, which answers it
as before (errors keep the one JSON envelope; the unknown-user limit still counts):

* a ``GET`` of ``/api/v1/users/<id>/recommendations`` with an ASCII path;
* a query of nothing but ``list`` (a list type) and ``k`` (``1..MAX_K``, plain
  digits), each at most once, with no escapes;
* reads are open (``read_requires_key`` off: a key check and its lockout need the
  full path);
* the user's list is in the per-user cache (only known users' lists are cached) and
  ``k`` is within the served version's list length.

Hand-written rather than a library because no WSGI library serves a cache entry that
needs a fresh id and a log row per response; ``tests/serving/test_hot_path.py`` checks
that both paths answer the same status, headers and body (the list id aside).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from cratedig.config import MAX_K
from cratedig.serving.lists import LIST_TYPES
from cratedig.serving.service import Service

log = logging.getLogger(__name__)

PREFIX = "/api/v1/users/"
SUFFIX = "/recommendations"
_K = re.compile(r"[1-9][0-9]{0,2}")


def parse_query(query: str) -> tuple[str, int | None] | None:
    """``(list_type, k)`` from a plain query string, ``None`` when it is anything
    else (the full path reads it, and answers its errors)."""
    list_type, k = "may_like", None
    seen: set[str] = set()
    for part in query.split("&") if query else ():
        name, sep, value = part.partition("=")
        if not sep or name in seen:
            return None
        seen.add(name)
        if name == "list" and value in LIST_TYPES:
            list_type = value
        elif name == "k" and _K.fullmatch(value) and int(value) <= MAX_K:
            k = int(value)
        else:
            return None
    return list_type, k


class HotLists:
    """WSGI middleware serving cached user lists (see the module docstring).

    Parameters
    ----------
    app
        The WSGI app every other request goes to (Flask's ``wsgi_app``).
    service
        The app's service (its per-user cache and impression log).
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], service: Service) -> None:
        self.app = app
        self.service = service

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        body = self._answer(environ)
        if body is None:
            return self.app(environ, start_response)
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    def _answer(self, environ: dict[str, Any]) -> bytes | None:
        """The response body when this path can answer, else ``None``."""
        path: str = environ.get("PATH_INFO", "")
        if (
            environ.get("REQUEST_METHOD") != "GET"
            or not path.startswith(PREFIX)
            or not path.endswith(SUFFIX)
            or len(path) <= len(PREFIX) + len(SUFFIX)
            or not path.isascii()
            or self.service.settings.read_requires_key
        ):
            return None
        query = parse_query(environ.get("QUERY_STRING", ""))
        if query is None:
            return None
        user_id = path[len(PREFIX) : -len(SUFFIX)]
        try:
            payload = self.service.cached_list(user_id, *query)
        except Exception:  # no version served yet, a store error: Flask answers it
            log.debug("hot path declined %s", path, exc_info=True)
            return None
        return None if payload is None else orjson.dumps(payload)
