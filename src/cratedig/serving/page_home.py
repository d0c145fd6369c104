"""The listener's home page, rendered once per listener state and then reused.

Rendering the home page (two decorated lists of ten, the recent-listening panel; about
25 KB of HTML) took ten times as long as serving the list it is built around, so
each worker keeps the rendered page (:attr:`PageReads.bodies`, at most
:data:`~cratedig.serving.page_views.BODY_ENTRIES` pages for
:data:`~cratedig.serving.page_views.CARD_TTL_SECONDS`). A cached page is reused only
when everything it shows is unchanged, which its key guarantees:

* the **lists**: a digest of both served lists as the API returns them (items,
  explanations, model version, variant; all but the per-request ``list_id``). The
  lists come from the per-user cache first, so a new event, a retrain or another
  experiment arm gives other lists and another key;
* the **listener's own part** (recent listening, own artists, thumbs, ratings): the
  ``epoch`` of :meth:`PageReads.user_extras`, a random id drawn each time they are
  read from the store. They live in the per-user cache beside the lists, which a
  posted event or feedback drops in every worker (Redis: deleted; in process:
  dropped here and polled from ``cache_invalidations`` by the others), so the next
  page reads them again under a new epoch and renders a new page;
* the **model version** served to the user (its user count and snapshot time);
* the app's **root path** (``request.script_root``, which the page's links start with);
* **artist cards** (tags, listener counts) are not in the key: they are per-worker
  caches with a time-to-live already, so a page may show them up to two
  ``CARD_TTL_SECONDS`` old, as slowly changing as they are.

A made-up user id's page is rendered every time and kept nowhere, as its lists are.

The per-request parts, the two ``list_id`` values (in ``data-list-id`` and in every
artist link's ``src``) and the page token (``data-token``), are rendered as
placeholders and substituted on the way out.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from typing import Any

import orjson
from flask import Flask, render_template, request
from markupsafe import Markup, escape

from cratedig.serving.page_views import home_view, reads

#: Stand-ins for the lists' ids while a body is rendered: random per process (so no
#: artist name or id can contain them) and of characters that HTML escaping and URL
#: quoting leave as they are.
PLACEHOLDERS = tuple(f"Lpage{os.urandom(12).hex()}x{i}" for i in range(2))
#: The page token's stand-in (same kind).
TOKEN_PLACEHOLDER = f"Tpage{os.urandom(12).hex()}"
#: The list ids that can be put in place of a placeholder as they are (new_list_id's).
_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]+")


def lists_digest(lists: Sequence[tuple[str, dict[str, Any]]]) -> bytes:
    """A digest of the lists a body shows (titles and payloads, without ``list_id``)."""
    shown = [(title, {k: v for k, v in p.items() if k != "list_id"}) for title, p in lists]
    raw = orjson.dumps(shown, default=str, option=orjson.OPT_NON_STR_KEYS)
    return hashlib.blake2b(raw, digest_size=16).digest()


def home_page(
    app: Flask, user_id: str, lists: Sequence[tuple[str, dict[str, Any]]], token: str
) -> str:
    """The rendered ``home.html`` for ``user_id`` showing ``lists``.

    Parameters
    ----------
    app
        The app (its :class:`~cratedig.serving.page_views.PageReads`).
    user_id
        The listener.
    lists
        ``(title, payload)`` of the lists served for this request, at most
        ``len(PLACEHOLDERS)`` of them, each with its fresh ``list_id``.
    token
        The page token (:func:`cratedig.serving.auth.page_token`).
    """
    pr = reads(app)
    version = pr.svc.versions.for_user(user_id).version if pr.svc.active_version() else None
    # A made-up id's page is not cached (nor are its lists): it would leave it behind.
    known = pr.svc.user_known(user_id)
    extras = pr.user_extras(version, user_id, cache=known)
    ids = [str(p["list_id"]) for _, p in lists]
    plain = len(ids) <= len(PLACEHOLDERS) and all(_PLAIN_ID.fullmatch(i) for i in ids)
    if not known or not plain:
        return _render(app, user_id, lists, version, extras, token)
    key = (
        user_id,
        version.version_id if version is not None else None,
        extras["epoch"],
        lists_digest(lists),
        request.script_root,
    )
    page = pr.bodies.get(key)
    if page is None:
        holders = PLACEHOLDERS[: len(lists)]
        masked = [(t, {**p, "list_id": h}) for (t, p), h in zip(lists, holders, strict=True)]
        page = _render(app, user_id, masked, version, extras, TOKEN_PLACEHOLDER)
        pr.bodies.set(key, page)
    page = page.replace(TOKEN_PLACEHOLDER, str(escape(token)))
    for list_id, holder in zip(ids, PLACEHOLDERS[: len(ids)], strict=True):
        page = page.replace(holder, list_id)
    return page


def _render(
    app: Flask,
    user_id: str,
    lists: Sequence[tuple[str, dict[str, Any]]],
    version: Any,
    extras: dict[str, Any],
    token: str,
) -> str:
    view = home_view(app, user_id, lists, version, extras)
    body = Markup(render_template("_home_body.html", **view))  # Jinja, autoescaped
    return render_template("home.html", user_id=user_id, token=token, body=body)
