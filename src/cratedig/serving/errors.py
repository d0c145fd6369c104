"""One JSON error envelope for every error the service returns.

``{"error": {"code": "not_found", "message": "artist 'a9' was not found.",
"field": null, "status": 404}}``. Flask's own 404/405/500 use it too. Page routes
(outside ``/api``) asked for by a browser get the same information as HTML.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from cratedig.exceptions import CratedigError, NotFoundError, ValidationError
from cratedig.ingest.stream import StreamUnavailableError
from cratedig.serving.versions import NotReadyError

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    503: "not_ready",
}


class ApiError(Exception):
    """An error with an HTTP status, an envelope code and optionally a field."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}


def envelope(status: int, code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The JSON body of an error."""
    return {"error": {"code": code, "message": message, "field": field, "status": status}}


def _wants_html() -> bool:
    if request.path.startswith("/api"):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def error_response(
    status: int, code: str, message: str, field: str | None = None
) -> tuple[Response | str, int]:
    """Render an error as the envelope (or as an HTML page for browsers)."""
    if _wants_html():
        return render_template("error.html", status=status, code=code, message=message), status
    return jsonify(envelope(status, code, message, field)), status


def register_error_handlers(app: Flask) -> None:
    """Route every error through the envelope."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Any:
        body, status = error_response(exc.status, exc.code, exc.message, exc.field)
        return body, status, exc.headers

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError) -> Any:
        return error_response(400, "validation_error", str(exc), exc.field)

    @app.errorhandler(NotFoundError)
    def _not_found(exc: NotFoundError) -> Any:
        return error_response(404, "not_found", str(exc), exc.field)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        status = exc.code or 500
        body, code = error_response(
            status, _CODES.get(status, "http_error"), exc.description or exc.name
        )
        allowed = getattr(exc, "valid_methods", None)
        if allowed and isinstance(body, Response):
            body.headers["Allow"] = ", ".join(allowed)
        return body, code

    @app.errorhandler(CratedigError)
    def _cratedig(exc: CratedigError) -> Any:
        if isinstance(exc, NotReadyError):
            return error_response(503, "not_ready", str(exc))
        if isinstance(exc, StreamUnavailableError):
            log.warning("%s", exc)
            return error_response(503, "stream_unavailable", str(exc))
        log.exception("cratedig error")
        return error_response(500, "internal_error", str(exc))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "An unexpected error happened.")
