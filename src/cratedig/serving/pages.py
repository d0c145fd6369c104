"""HTML pages: user picker, user home, artist page, admin; and their write endpoints.

The pages are the site's own front end, so they do not hold an API key: their
buttons post to ``/ui/events`` and ``/ui/feedback``, which accept a request only
with the page's token for that user (an HMAC of the user id with the app's secret
key). Everything is rendered by Jinja with autoescaping on.
"""

from __future__ import annotations

import hashlib
import hmac
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

from cratedig.exceptions import NotFoundError
from cratedig.ingest.feedback import parse_feedback, store_feedback
from cratedig.pipeline.registry import list_versions
from cratedig.serving.errors import ApiError
from cratedig.serving.http import check_id, raise_if_rejected, service
from cratedig.serving.page_views import admin_rows, fans_view, home_view, relation_view
from cratedig.store.catalogue import user_ids as first_user_ids
from cratedig.store.lists import users_with_lists

bp = Blueprint("pages", __name__)

TOKEN_HEADER = "X-UI-Token"
#: How many users the picker offers.
PICKER_USERS = 60


def ui_token(user_id: str) -> str:
    """The token that lets a page post events and feedback for one user."""
    key = str(current_app.config["SECRET_KEY"]).encode("utf-8")
    return hmac.new(key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def _check_token(user_id: Any) -> None:
    given = request.headers.get(TOKEN_HEADER, "")
    if not isinstance(user_id, str) or not hmac.compare_digest(
        given.encode("utf-8"), ui_token(user_id).encode("utf-8")
    ):
        raise ApiError(403, "forbidden", f"A valid {TOKEN_HEADER} for this user is required.")


def report_path() -> Path | None:
    """The analytics HTML report, when one has been written."""
    base = Path(service().settings.artifacts_dir)
    for candidate in (base / "report" / "index.html", base / "report.html", Path("report.html")):
        if candidate.is_file():
            return candidate
    return None


@bp.get("/")
def index() -> Any:
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


@bp.get("/users/<user_id>")
def home(user_id: str) -> Any:
    check_id("user_id", user_id)
    svc = service()
    lists = [
        ("Artists You May Like", svc.serve_list(user_id, "may_like", 10)),
        ("Hidden Gems", svc.serve_list(user_id, "hidden_gems", 10)),
    ]
    view = home_view(current_app, user_id, lists)
    return render_template("home.html", user_id=user_id, token=ui_token(user_id), **view)


@bp.get("/artists/<artist_id>")
def artist(artist_id: str) -> Any:
    svc = service()
    info = svc.artist(check_id("artist_id", artist_id))
    user_id = check_id("user", request.args.get("user") or "")
    source = request.args.get("src") or "organic"
    relation = relation_view(current_app, user_id, artist_id) if user_id else None
    following = bool(relation and relation["following"])
    similar = svc.similar(artist_id, 10, user_id or None) if svc.active_version() else None
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
        token=ui_token(user_id) if user_id else "",
        source=source,
        following=following,
        relation=relation,
        fans=fans,
    )


@bp.get("/admin")
def admin() -> Any:
    columns, rows = admin_rows(list_versions(service().engine, limit=50))
    return render_template(
        "admin.html", columns=columns, rows=rows, report=report_path() is not None
    )


@bp.get("/admin/report")
def report() -> Any:
    path = report_path()
    if path is None:
        raise NotFoundError("report", "analytics report")
    return send_file(path.resolve())


@bp.post("/ui/events")
def ui_events() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "The body must be a JSON object.", "body")
    _check_token(body.get("user_id"))
    result = service().post_events([body])
    raise_if_rejected(result)
    return jsonify(result.as_dict()), 201


@bp.post("/ui/feedback")
def ui_feedback() -> Any:
    body = request.get_json(silent=True)
    row = parse_feedback(body)
    _check_token(row["user_id"])
    feedback_id = store_feedback(service().engine, row)
    service().user_cache.invalidate([row["user_id"]])  # the pages show the latest thumbs
    return jsonify({"feedback_id": feedback_id}), 201
