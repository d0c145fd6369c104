"""Page sessions: signed, timed tokens naming one listener.

A page may post events and feedback (``/ui/events``, ``/ui/feedback``) for a user only
with a session token for that user in the ``X-UI-Token`` header. Tokens are signed by
:mod:`itsdangerous` with the app's secret (``Settings.secret_key``, else the random
secret kept in the store), so only something holding the secret or an API key can
make one:

* a site wires its own login to the pages by setting the ``cratedig_session`` cookie
  to a token when its user logs in, made by ``POST /api/v1/sessions`` (with the API
  key) or by :func:`issue` (with the secret); the pages copy it into the header;
* in demo mode (``Settings.pages_demo_mode``) the pages issue a demo token for any
  listener a visitor opens. Demo tokens are signed with another salt, so they are
  worthless once demo mode is off.

``docs/security.md`` describes the whole policy.
"""

from __future__ import annotations

from itsdangerous import BadData, URLSafeTimedSerializer

#: The cookie a site sets when its user logs in.
COOKIE = "cratedig_session"
#: The header the pages send the token in.
HEADER = "X-UI-Token"
_SALT = "cratedig-page-session"
_DEMO_SALT = "cratedig-demo-session"


def _serializer(secret: str, demo: bool) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_DEMO_SALT if demo else _SALT)


def issue(secret: str, user_id: str, demo: bool = False) -> str:
    """A session token for ``user_id`` (valid for the app's ``session_max_age_seconds``).

    Parameters
    ----------
    secret
        The app's secret (``CRATEDIG_SECRET_KEY`` or the one ``init-db`` stored).
    user_id
        The site's id of the logged-in listener.
    demo
        A demo token (accepted only while demo mode is on).
    """
    return str(_serializer(secret, demo).dumps(user_id))


def verify(secret: str, token: str | None, max_age: int, demo_mode: bool) -> str | None:
    """The user a token is for, or ``None`` when it is absent, forged, expired or a
    demo token outside demo mode."""
    if not token or len(token) > 4096:
        return None
    salts = (False, True) if demo_mode else (False,)
    for demo in salts:
        try:
            user = _serializer(secret, demo).loads(token, max_age=max_age)
        except BadData:
            continue
        if isinstance(user, str) and user:
            return user
    return None
