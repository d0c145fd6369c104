"""HTML pages: user picker, user home, artist page, admin; and their write endpoints.

The pages are the site's own front end, so they do not hold an API key: their
buttons post to ``/ui/events`` and ``/ui/feedback`` with a page session for the
listener in the ``X-UI-Token`` header (:mod:`cratedig.serving.sessions`): the
``cratedig_session`` cookie the site set at login, or, in demo mode only, a demo
token the page hands out. Reads follow the API's policy (``read_requires_key``),
and ``/admin`` needs the API key once keys are configured
(:mod:`cratedig.serving.auth`; ``docs/security.md``). Everything is rendered by
Jinja with autoescaping on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)

from cratedig.exceptions import NotFoundError, ValidationError
from cratedig.ingest.feedback import parse_feedback
from cratedig.ingest.stream import StreamUnavailableError
from cratedig.pipeline.registry import list_versions
from cratedig.serving.auth import check_admin, check_page_read, page_token, ui_writer
from cratedig.serving.errors import ApiError
from cratedig.serving.http import (
    check_id,
    json_body,
    raise_if_rejected,
    serve_similar,
    serve_user_list,
    service,
)
from cratedig.serving.openapi_pages import pages_spec
from cratedig.serving.page_home import home_page
from cratedig.serving.page_views import admin_rows, fans_view, relation_view
from cratedig.serving.service import Service
from cratedig.store.catalogue import user_ids as first_user_ids
from cratedig.store.lists import users_with_lists

bp = Blueprint("pages", __name__)

#: How many users the picker offers.
PICKER_USERS = 60


def report_path() -> Path | None:
    """The analytics HTML report, when one has been written."""
    base = Path(service().settings.artifacts_dir)
    for candidate in (base / "report" / "index.html", base / "report.html", Path("report.html")):
        if candidate.is_file():
            return candidate
    return None


@bp.get("/")
def index() -> Any:
    check_page_read(lists_users=True)
    picked = request.args.get("user", "").strip()
    if picked:  # the picker's form, without JavaScript
        return redirect(url_for("pages.home", user_id=check_id("user", picked)))
    svc = service()
    version = svc.active_version()
    with svc.engine.connect() as conn:
        if version is not None:
            user_ids = users_with_lists(conn, version.version_id, "may_like", PICKER_USERS)
        else:
            user_ids = first_user_ids(conn, PICKER_USERS)
    return render_template("index.html", user_ids=user_ids, version=version)


@bp.get("/users/<id:user_id>")
def home(user_id: str) -> Any:
    check_id("user_id", user_id)
    check_page_read(user_id)
    svc = service()
    # one read of the user's cache entry (Redis) and of their recent events, for both
    # lists and the page's own part
    with svc.user_cache.batched(), svc.lists.shared_activity():
        may_like = ("Artists You May Like", serve_user_list(user_id, "may_like", None))
        gems = ("Hidden Gems", serve_user_list(user_id, "hidden_gems", None))
        # an experiment arm may move Hidden Gems above May Like, or leave it out
        placement = gems[1].get("placement", "last")
        lists = {"first": [gems, may_like], "off": [may_like]}.get(placement, [may_like, gems])
        return home_page(current_app, user_id, lists, page_token(user_id))  # page_home


@bp.get("/artists/<id:artist_id>")
def artist(artist_id: str) -> Any:
    check_id("artist_id", artist_id)
    user_id = check_id("user", request.args.get("user") or "")
    check_page_read(user_id or None)
    svc = service()
    info = svc.artist(artist_id)
    source = request.args.get("src") or "organic"
    relation = relation_view(current_app, user_id, artist_id) if user_id else None
    following = bool(relation and relation["following"])
    similar = serve_similar(artist_id, None, user_id or None) if svc.active_version() else None
    fans = (
        fans_view(current_app, similar["items"], user_id or None, similar["list_id"])
        if similar
        else []
    )
    return render_template(
        "artist.html",
        artist=info,
        similar=similar,
        user_id=user_id,
        token=page_token(user_id) if user_id else "",
        source=source,
        following=following,
        relation=relation,
        fans=fans,
    )


def stream_view(svc: Service) -> dict[str, Any] | None:
    """The event stream's lag for the admin page (``None`` in sync mode)."""
    if svc.stream is None:
        return None
    try:
        lag = svc.stream_lag()
    except StreamUnavailableError as exc:
        return {"ok": False, "error": str(exc)}
    assert lag is not None
    return {"ok": True, **lag.as_dict()}


@bp.get("/admin")
def admin() -> Any:
    check_admin()
    columns, rows = admin_rows(list_versions(service().engine, limit=50))
    return render_template(
        "admin.html",
        columns=columns,
        rows=rows,
        report=report_path() is not None,
        stream=stream_view(service()),
    )


@bp.get("/admin/report")
def report() -> Any:
    check_admin()
    path = report_path()
    if path is None:
        raise NotFoundError("report", "analytics report")
    return send_file(path.resolve())


def _ui_body(user: str) -> dict[str, Any]:
    """The posted JSON object, whose ``user_id`` must be the session's user (the
    session's user when left out)."""
    body = json_body()
    if not isinstance(body, dict):
        raise ValidationError("body", type(body).__name__, "a JSON object")
    body.setdefault("user_id", user)
    if body["user_id"] != user:
        raise ApiError(
            403, "forbidden", "user_id: the page session is for another user.", "user_id"
        )
    return body


@bp.post("/ui/events")
def ui_events() -> Any:
    body = _ui_body(ui_writer())  # the session is checked before the body is read
    result = service().post_events([body])
    raise_if_rejected(result)
    return jsonify(result.as_dict()), 201


@bp.post("/ui/feedback")
def ui_feedback() -> Any:
    row = parse_feedback(_ui_body(ui_writer()))
    feedback_id = service().post_feedback(row)  # the pages show the latest thumbs
    return jsonify({"feedback_id": feedback_id}), 201


@bp.get("/ui/openapi.json")
def pages_openapi() -> Any:
    """The OpenAPI document of the pages and ``/ui/*``."""
    return jsonify(pages_spec())
