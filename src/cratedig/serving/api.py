"""The JSON API, under ``/api/v1`` (documented in ``/api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import text

from cratedig.events import MAX_ID_LENGTH, is_storable_text
from cratedig.exceptions import ValidationError
from cratedig.serving.auth import requires_key
from cratedig.serving.errors import ApiError
from cratedig.serving.event_writes import MAX_BATCH, BatchResult, parse_feedback, store_feedback
from cratedig.serving.openapi import openapi_spec
from cratedig.serving.service import LIST_TYPES, Service, check_k

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def service() -> Service:
    """The app's :class:`Service`."""
    return current_app.extensions["cratedig"]


def raise_if_rejected(result: BatchResult) -> None:
    """A single posted event's rejection as a 400 error (batches report per item)."""
    if result.errors:
        err = result.errors[0]
        raise ApiError(400, "validation_error", err["message"], err["field"])


def check_id(name: str, value: str) -> str:
    """Reject ids the store cannot hold (too long, not valid text).

    Raises
    ------
    ValidationError
        Naming the parameter.
    """
    if len(value) > MAX_ID_LENGTH or not is_storable_text(value):
        raise ValidationError(
            name, value[:40], f"an id of at most {MAX_ID_LENGTH} characters of valid text"
        )
    return value


def _json_body() -> Any:
    if not request.is_json:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type: {request.mimetype!r} is not valid; expected application/json.",
            "Content-Type",
        )
    try:  # orjson: a 500-event batch parses in a quarter of the stdlib's time
        body = orjson.loads(request.get_data(cache=True))
    except orjson.JSONDecodeError:
        body = None
    if body is None:
        raise ApiError(400, "bad_request", "The body is not valid JSON.", "body")
    return body


def fast_json(payload: dict[str, Any]) -> Any:
    """A compact JSON response for the hot list endpoints.

    orjson instead of ``jsonify``: Flask's JSON provider and the stdlib encoder took
    about 100 us a list, a third of the request's own cost.
    """
    return current_app.response_class(orjson.dumps(payload), mimetype="application/json")


@bp.get("/users/<user_id>/recommendations")
@requires_key(write=False)
def recommendations(user_id: str) -> Any:
    list_type = request.args.get("list", "may_like")
    if list_type not in LIST_TYPES:
        raise ValidationError("list", list_type, "one of: " + ", ".join(LIST_TYPES))
    k = check_k(request.args.get("k"))
    return fast_json(service().serve_list(check_id("user_id", user_id), list_type, k))


@bp.get("/artists/<artist_id>/similar")
@requires_key(write=False)
def similar(artist_id: str) -> Any:
    k = check_k(request.args.get("k"))
    user_id = request.args.get("user_id") or None
    if user_id is not None:
        check_id("user_id", user_id)
    return fast_json(service().similar(check_id("artist_id", artist_id), k, user_id))


@bp.get("/artists/<artist_id>")
@requires_key(write=False)
def artist(artist_id: str) -> Any:
    return jsonify(service().artist(check_id("artist_id", artist_id)))


@bp.get("/users/<user_id>/profile")
@requires_key(write=False)
def profile(user_id: str) -> Any:
    return jsonify(service().profile(check_id("user_id", user_id)))


@bp.post("/events")
@requires_key(write=True)
def events() -> Any:
    body = _json_body()
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
    result = service().post_events(raws)
    if single:
        raise_if_rejected(result)
    status = 201 if result.accepted else 200
    return jsonify(result.as_dict()), status


@bp.post("/feedback")
@requires_key(write=True)
def feedback() -> Any:
    row = parse_feedback(_json_body())
    feedback_id = store_feedback(service().engine, row)
    return jsonify({"feedback_id": feedback_id, **row}), 201


@bp.get("/models")
@requires_key(write=False)
def models() -> Any:
    from cratedig.pipeline.registry import list_versions

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
    body = {
        "status": "ok" if store_ok else "degraded",
        "store": "ok" if store_ok else "unreachable",
        "cache": svc.user_cache.backend,
        "cache_ok": svc.user_cache.healthy(),
        "model_version": version.version_id if version else None,
    }
    return jsonify(body), 200 if store_ok else 503


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(openapi_spec())
