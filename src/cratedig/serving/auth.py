"""API keys: writes always need one, reads when ``Settings.read_requires_key``.

The key comes in the ``X-API-Key`` header and is compared with every configured key
by :func:`hmac.compare_digest` (no timing leak, no early exit).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, request

from cratedig.serving.errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])

HEADER = "X-API-Key"


def key_is_valid(given: str | None, keys: tuple[str, ...]) -> bool:
    """Whether a given key matches one of the configured keys."""
    if not given or not keys:
        return False
    given_bytes = given.encode("utf-8")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given_bytes, key.encode("utf-8"))
    return matched


def check_key(write: bool) -> None:
    """Raise a 401 envelope unless the request carries a valid key (when one is needed).

    Raises
    ------
    ApiError
        401 ``unauthorized``.
    """
    settings = current_app.extensions["cratedig"].settings
    if not write and not settings.read_requires_key:
        return
    keys = tuple(settings.api_keys)
    if not keys:
        raise ApiError(
            401,
            "unauthorized",
            "No API keys are configured, so this endpoint is closed; "
            "set CRATEDIG_API_KEYS (comma-separated).",
            HEADER,
        )
    if not key_is_valid(request.headers.get(HEADER), keys):
        raise ApiError(401, "unauthorized", f"A valid {HEADER} header is required.", HEADER)


def requires_key(write: bool) -> Callable[[F], F]:
    """Decorate a view: ``write=True`` always needs a key, reads only if configured."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            check_key(write)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate
