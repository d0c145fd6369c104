"""Credentials: API keys for the JSON API and the admin pages, page sessions for the
page writes, and the read policy that pages and API share (``docs/security.md``).

An API key comes in the ``X-API-Key`` header, or (for a browser on ``/admin`` or a
page under ``read_requires_key``) as the password of HTTP basic auth; it is compared
with every configured key by :func:`hmac.compare_digest` (no timing leak, no early
exit). Every check runs before the request body is read. Failed credentials are
counted per client address (:class:`~cratedig.serving.limits.Guard`).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, request

from cratedig.config import Settings
from cratedig.serving import sessions
from cratedig.serving.errors import ApiError
from cratedig.serving.limits import Guard

F = TypeVar("F", bound=Callable[..., Any])

HEADER = "X-API-Key"
#: Sent with a page's 401 so that a browser asks for the key (any user name).
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="cratedig", charset="UTF-8"'}


def key_is_valid(given: str | None, keys: tuple[str, ...]) -> bool:
    """Whether a given key matches one of the configured keys."""
    if not given or not keys:
        return False
    given_bytes = given.encode("utf-8", "surrogatepass")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given_bytes, key.encode("utf-8"))
    return matched


def _settings() -> Settings:
    return current_app.extensions["cratedig"].settings


def guard() -> Guard:
    """The app's rate limits."""
    return current_app.extensions["cratedig_guard"]


def given_key(allow_basic: bool = False) -> str | None:
    """The key a request carries: ``X-API-Key``, else (pages) the basic-auth password."""
    key = request.headers.get(HEADER)
    if not key and allow_basic and request.authorization is not None:
        key = request.authorization.password or None
    return key


def _closed(headers: dict[str, str] | None = None) -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        "No API keys are configured, so this endpoint is closed; "
        "set CRATEDIG_API_KEYS (comma-separated).",
        HEADER,
        headers,
    )


def _require_key(allow_basic: bool, headers: dict[str, str] | None = None) -> str:
    """The request's valid key; counts a wrong one; 429 while locked out, else 401."""
    keys = tuple(_settings().api_keys)
    if not keys:
        raise _closed(headers)
    guard().refuse_if_locked_out()
    given = given_key(allow_basic)
    if not key_is_valid(given, keys):
        if given:
            guard().failed_credential()
        how = f"A valid {HEADER} header" + (" (or basic-auth password)" if allow_basic else "")
        raise ApiError(401, "unauthorized", f"{how} is required.", HEADER, headers)
    assert given is not None
    return given


def check_key(write: bool) -> None:
    """Raise a 401 envelope unless the request carries a valid key (when one is needed).

    Writes are also counted against ``rate_limit_api_writes`` for their key.

    Raises
    ------
    ApiError
        401 ``unauthorized``; 429 ``rate_limited``.
    """
    if not write and not _settings().read_requires_key:
        return
    key = _require_key(allow_basic=False)
    if write:
        guard().api_write(key)


def requires_key(write: bool) -> Callable[[F], F]:
    """Decorate a view: ``write=True`` always needs a key, reads only if configured."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            check_key(write)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


# -- pages ---------------------------------------------------------------------------


def secret() -> str:
    """The secret that signs page sessions."""
    return str(current_app.config["SECRET_KEY"])


def session_user() -> str | None:
    """The listener of the request's ``cratedig_session`` cookie (``None``: no valid one)."""
    settings = _settings()
    return sessions.verify(
        secret(),
        request.cookies.get(sessions.COOKIE),
        settings.session_max_age_seconds,
        demo_mode=False,
    )


def check_admin() -> None:
    """``/admin``: public only while no API key is configured (and reads are open)."""
    settings = _settings()
    if not settings.api_keys:
        if settings.read_requires_key:
            raise _closed(BASIC_CHALLENGE)
        return
    _require_key(allow_basic=True, headers=BASIC_CHALLENGE)


def check_page_read(user_id: str | None = None, lists_users: bool = False) -> None:
    """The API's read policy for a page.

    With ``read_requires_key`` a page needs the API key (header or basic auth), or a
    session cookie: any session may read artist pages, only the user's own session
    their home page, and no session a page that lists users (``lists_users``).
    """
    if not _settings().read_requires_key:
        return
    user = session_user()
    if user is not None and not lists_users and user_id in (None, user):
        return
    _require_key(allow_basic=True, headers=BASIC_CHALLENGE)


def page_token(user_id: str) -> str:
    """The token a page embeds so its buttons can post for ``user_id`` ("" if none).

    Demo mode: a demo token for anyone. Otherwise the session cookie, when it is for
    this user.
    """
    settings = _settings()
    if settings.pages_demo_mode:
        return sessions.issue(secret(), user_id, demo=True)
    cookie = request.cookies.get(sessions.COOKIE)
    if cookie and session_user() == user_id:
        return cookie
    return ""


def ui_writer() -> str:
    """The user a page write is for, from its ``X-UI-Token`` (checked before the body).

    Raises
    ------
    ApiError
        403 ``forbidden`` without a valid token; 429 when rate-limited.
    """
    settings = _settings()
    guard().refuse_if_locked_out()
    token = request.headers.get(sessions.HEADER)
    user = sessions.verify(
        secret(), token, settings.session_max_age_seconds, settings.pages_demo_mode
    )
    if user is None:
        if token:
            guard().failed_credential()
        raise ApiError(
            403,
            "forbidden",
            f"A valid {sessions.HEADER} (a page session for this user) is required; "
            "page writes need a login session issued by the site (docs/security.md).",
            sessions.HEADER,
        )
    guard().page_write()
    return user
