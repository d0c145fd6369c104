"""What the API and the pages share about a request: the app's service, path ids,
JSON bodies and responses."""

from __future__ import annotations

from typing import Any

import orjson
from flask import current_app, request
from werkzeug.routing import PathConverter

from cratedig.exceptions import ValidationError
from cratedig.fields import MAX_ID_LENGTH, is_storable_text
from cratedig.ingest.write_path import BatchResult
from cratedig.serving.auth import guard
from cratedig.serving.errors import ApiError
from cratedig.serving.service import Service


class IdConverter(PathConverter):
    """``<id:...>``: a path id that may contain ``/`` (ids are the site's own strings).

    ``/users/a/b`` is user ``a/b``; ``url_for`` leaves the ``/`` as it is and
    percent-encodes the rest. A request for ``/users/a%2Fb`` reaches the same view
    (servers decode the path). The one ambiguity: an artist id ending in ``/similar``
    on the API's ``/artists/{id}/similar`` route.
    """

    # any characters, "/" and newlines included (PathConverter's own excludes a leading
    # "/" and, through ".", newlines)
    regex = "[\\s\\S]+?"
    part_isolating = False


def service() -> Service:
    """The app's :class:`Service`."""
    return current_app.extensions["cratedig"]


def raise_if_rejected(result: BatchResult) -> None:
    """A single posted event's rejection as an error (batches report per item): a
    conflict (its ``event_id`` is stored with other content) is a 409, anything else a
    400."""
    if result.errors:
        err = result.errors[0]
        if err.get("code") == "conflict":
            raise ApiError(409, "conflict", err["message"], err["field"])
        raise ApiError(400, "validation_error", err["message"], err["field"])


def serve_user_list(user_id: str, list_type: str, k: int | None) -> dict[str, Any]:
    """A user's list, logged as an impression for users the store knows.

    A made-up id gets the cold-start list, not logged and not cached, and counted
    against ``rate_limit_unknown_lists`` for the client (429 over it).
    """
    svc = service()
    known = svc.user_known(user_id)
    if not known:
        guard().unknown_list()
    return svc.serve_list(user_id, list_type, k, log=known)


def serve_similar(artist_id: str, k: int | None, user_id: str | None) -> dict[str, Any]:
    """An artist's similar artists: logged for no user (``anonymous``) or a known one;
    for an unknown ``user_id`` as :func:`serve_user_list`."""
    svc = service()
    known = user_id is None or svc.user_known(user_id)
    if not known:
        guard().unknown_list()
    return svc.similar(artist_id, k, user_id, log=known)


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
