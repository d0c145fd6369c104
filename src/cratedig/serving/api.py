"""The JSON API, under ``/api/v1`` (documented in ``/api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import text

from cratedig.exceptions import ValidationError
from cratedig.ingest.feedback import parse_feedback
from cratedig.ingest.stream import StreamUnavailableError
from cratedig.ingest.write_path import MAX_BATCH
from cratedig.pipeline.registry import list_versions
from cratedig.serving import sessions
from cratedig.serving.auth import requires_key, secret
from cratedig.serving.errors import ApiError
from cratedig.serving.http import (
    check_id,
    fast_json,
    json_body,
    raise_if_rejected,
    serve_similar,
    serve_user_list,
    service,
)
from cratedig.serving.openapi import openapi_spec
from cratedig.serving.service import check_k, check_list_type

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/users/<id:user_id>/recommendations")
@requires_key(write=False)
def recommendations(user_id: str) -> Any:
    list_type = check_list_type(request.args.get("list", "may_like"))
    k = check_k(request.args.get("k"))
    return fast_json(serve_user_list(check_id("user_id", user_id), list_type, k))


@bp.get("/artists/<id:artist_id>/similar")
@requires_key(write=False)
def similar(artist_id: str) -> Any:
    k = check_k(request.args.get("k"))
    user_id = request.args.get("user_id") or None
    if user_id is not None:
        check_id("user_id", user_id)
    return fast_json(serve_similar(check_id("artist_id", artist_id), k, user_id))


@bp.get("/artists/<id:artist_id>")
@requires_key(write=False)
def artist(artist_id: str) -> Any:
    return jsonify(service().artist(check_id("artist_id", artist_id)))


@bp.get("/users/<id:user_id>/profile")
@requires_key(write=False)
def profile(user_id: str) -> Any:
    return jsonify(service().profile(check_id("user_id", user_id)))


@bp.post("/events")
@requires_key(write=True)
def events() -> Any:
    body = json_body()
    single = isinstance(body, dict) and "events" not in body
    if single:
        raws = [body]
    elif isinstance(body, dict):
        raws = body["events"]
    else:
        raws = body
    if not isinstance(raws, list):
        raise ValidationError("events", type(raws).__name__, "a JSON array of event objects")
    if len(raws) > MAX_BATCH:
        raise ApiError(
            413,
            "payload_too_large",
            f"events: {len(raws)} events is too many; expected at most {MAX_BATCH}.",
            "events",
        )
    svc = service()
    result = svc.post_events(raws)
    if single:
        raise_if_rejected(result)
    # stream mode: 202, the events are queued for the consumers (docs/stream.md)
    status = (202 if svc.stream is not None else 201) if result.accepted else 200
    return jsonify(result.as_dict()), status


@bp.post("/feedback")
@requires_key(write=True)
def feedback() -> Any:
    row = parse_feedback(json_body())
    feedback_id = service().post_feedback(row)  # the pages show the latest thumbs
    return jsonify({"feedback_id": feedback_id, **row}), 201


@bp.post("/sessions")
@requires_key(write=True)
def new_session() -> Any:
    """A page session for one listener: the site's login calls this with its API key and
    sets the token as the ``cratedig_session`` cookie (docs/security.md)."""
    body = json_body()
    if not isinstance(body, dict):
        raise ValidationError("body", type(body).__name__, 'a JSON object {"user_id": ...}')
    user_id = body.get("user_id")
    if not isinstance(user_id, str) or not user_id.strip():
        raise ValidationError("user_id", user_id, "a non-empty string")
    check_id("user_id", user_id)
    settings = service().settings
    return jsonify(
        {
            "user_id": user_id,
            "token": sessions.issue(secret(), user_id),
            "cookie": sessions.COOKIE,
            "max_age_seconds": settings.session_max_age_seconds,
        }
    ), 201


@bp.get("/models")
@requires_key(write=False)
def models() -> Any:
    versions = list_versions(service().engine, limit=50)
    return jsonify({"versions": [v.as_dict() for v in versions]})


@bp.get("/health")
def health() -> Any:
    svc = service()
    try:
        with svc.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        store_ok = True
    except Exception:
        store_ok = False
    version = svc.active_version(fresh=True) if store_ok else None
    body: dict[str, Any] = {
        "status": "ok" if store_ok else "degraded",
        "store": "ok" if store_ok else "unreachable",
        "cache": svc.user_cache.backend,
        "cache_ok": svc.user_cache.healthy(),
        "model_version": version.version_id if version else None,
        "ingest_mode": svc.settings.ingest_mode,
    }
    if svc.stream is not None:
        try:
            lag = svc.stream_lag()
            assert lag is not None
            body["stream"] = {"ok": True, **lag.as_dict()}
        except StreamUnavailableError as exc:
            body["stream"] = {"ok": False, "error": str(exc)}
            body["status"] = "degraded"
    return jsonify(body), 200 if store_ok else 503


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(openapi_spec())
