"""Feedback on served lists: parse a posted body, check it against its list, store it.

Two kinds: a thumb (``up``/``down``, stored as 1/-1) on one artist of a list, and a
1-5 rating of a whole list. Text fields are read by the same reader as events
(:func:`cratedig.events.read_text`). Feedback that names a list must name a list
served to that user (a stored impression), and a thumb an artist of that list
(:func:`check_against_list`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Engine

from cratedig.clock import now_ms
from cratedig.exceptions import NotFoundError, ValidationError
from cratedig.fields import read_text, required_text
from cratedig.store.feedback import insert_feedback

#: Accepted thumb values and what they are stored as.
THUMBS: dict[Any, int] = {"up": 1, "down": -1, 1: 1, -1: -1}
#: The lowest and highest rating of a list.
MIN_RATING, MAX_RATING = 1, 5


def _number(kind: str, value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON 2.0 is the integer 2
    if kind == "thumb":
        if isinstance(value, bool) or not isinstance(value, str | int) or value not in THUMBS:
            raise ValidationError("thumb", value, "'up', 'down', 1 or -1")
        return THUMBS[value]
    if kind == "rating":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("rating", value, f"an integer from {MIN_RATING} to {MAX_RATING}")
        if not MIN_RATING <= value <= MAX_RATING:
            raise ValidationError("rating", value, f"an integer from {MIN_RATING} to {MAX_RATING}")
        return value
    raise ValidationError("kind", kind, "'thumb' or 'rating'")


def parse_feedback(body: Any) -> dict[str, Any]:
    """Validate a feedback body into a ``feedback`` row.

    Accepted forms: ``{"user_id", "list_id", "artist_id", "thumb": "up"|"down"}``
    (or ``"kind": "thumb", "value": 1|-1``) and ``{"user_id", "list_id",
    "rating": 1..5}`` (or ``"kind": "rating", "value": n``).

    Raises
    ------
    ValidationError
        Naming the offending field.
    """
    if not isinstance(body, Mapping):
        raise ValidationError("body", body, "a JSON object")
    user_id = required_text(body, "user_id", "a non-empty string")
    list_id = read_text(body, "list_id")
    artist_id = read_text(body, "artist_id")
    kind = body.get("kind")
    value: Any = body.get("value")
    if kind is None:
        if "thumb" in body:
            kind, value = "thumb", body["thumb"]
        elif "rating" in body:
            kind, value = "rating", body["rating"]
        else:
            raise ValidationError("kind", None, "'thumb' or 'rating' (or a thumb/rating field)")
    number = _number(kind, value)
    if kind == "thumb" and artist_id is None:
        raise ValidationError("artist_id", None, "the artist the thumb is about")
    if kind == "rating" and list_id is None:
        raise ValidationError("list_id", None, "the list being rated")
    return {
        "user_id": user_id,
        "list_id": list_id,
        "artist_id": artist_id,
        "kind": kind,
        "value": number,
        "created_at_ms": now_ms(),
    }


def check_against_list(row: Mapping[str, Any], served: tuple[str, list[str]] | None) -> None:
    """Check a parsed feedback row against the list it names.

    Parameters
    ----------
    row
        From :func:`parse_feedback`.
    served
        The list named by ``row["list_id"]``: who it was served to and its artists in
        position order, or ``None`` when no such list was served (or logged: lists of
        users the store does not know are not).

    Raises
    ------
    NotFoundError
        Naming ``list_id``, for an unknown list or a list served to another user
        (the API answers 404).
    ValidationError
        Naming ``artist_id``, for a thumb on an artist that is not in the list (400).
    """
    list_id = row.get("list_id")
    if list_id is None:
        return
    user_id = row["user_id"]
    if served is None or served[0] != user_id:
        raise NotFoundError(
            "list",
            list_id,
            "list_id",
            f"the list_id of a list served to user {user_id!r} (as answered by "
            "GET /api/v1/users/{user_id}/recommendations or a page)",
        )
    artist_id = row.get("artist_id")
    if row["kind"] == "thumb" and artist_id not in served[1]:
        shown = ", ".join(served[1][:10]) + (", ..." if len(served[1]) > 10 else "")
        raise ValidationError("artist_id", artist_id, f"an artist of list {list_id!r} ({shown})")


def store_feedback(
    engine: Engine,
    row: Mapping[str, Any],
    in_transaction: Callable[[Connection, set[str]], None] | None = None,
) -> int:
    """Store one validated feedback row; returns its ``feedback_id``.

    ``in_transaction(conn, {user_id})`` runs in the row's own transaction (as in
    :func:`cratedig.ingest.write_path.store_events`: the service records the cache
    invalidation there).
    """
    with engine.begin() as conn:
        feedback_id = insert_feedback(conn, row)
        if in_transaction is not None:
            in_transaction(conn, {str(row["user_id"])})
        return feedback_id
