"""What the API and the pages share about a request: the app's service, path ids,
JSON bodies and responses."""

from __future__ import annotations

from typing import Any

import orjson
from flask import current_app, request

from cratedig.exceptions import ValidationError
from cratedig.fields import MAX_ID_LENGTH, is_storable_text
from cratedig.ingest.write_path import BatchResult
from cratedig.serving.errors import ApiError
from cratedig.serving.service import Service


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

    Path ids are taken as they are (not stripped), so this checks only what the
    store needs; posted fields go through :func:`cratedig.events.read_text`.

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


def json_body() -> Any:
    """The request's JSON body.

    Raises
    ------
    ApiError
        415 when the body is not declared JSON, 400 when it does not parse.
    """
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
