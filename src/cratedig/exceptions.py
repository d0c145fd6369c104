"""The one exception hierarchy of cratedig.

Every error that cratedig raises on purpose derives from :class:`CratedigError`.
Messages name the field, the value and what was expected, for example
``"k == 0, must be >= 1."`` or ``"event_type: 'plya' is not a known event type;
expected one of: visit, play_track, ..."``.
"""

from __future__ import annotations

from typing import Any


class CratedigError(Exception):
    """Base class of every error cratedig raises on purpose."""


class ValidationError(CratedigError, ValueError):
    """A value given to cratedig is not what was expected.

    Parameters
    ----------
    field
        The name of the offending field (``"event_type"``, ``"k"``...).
    value
        The value that was given.
    expected
        What would have been accepted, in words.
    """

    def __init__(self, field: str, value: Any, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(f"{field}: {shown(value)} is not valid; expected {expected}.")


#: Longest ``repr`` of an offending value that an error message shows.
MAX_SHOWN_CHARS = 200


def shown(value: Any, limit: int = MAX_SHOWN_CHARS) -> str:
    """``repr(value)``, cut to ``limit`` characters with a note of how long it was.

    An error must name the value, but echoing a 100 MB field back (into a quarantine
    reason, a log line or a JSON error response) costs more than it tells.
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    size = len(value) if isinstance(value, str | bytes | list | tuple | dict) else len(text)
    return f"{text[:limit]}... (cut; {size:,} long)"


class ConfigError(CratedigError, ValueError):
    """The configuration (TOML file or CRATEDIG_* variables) is wrong."""


class StoreError(CratedigError):
    """The store cannot do what was asked (bad URL, schema missing...)."""


class NotFoundError(CratedigError, LookupError):
    """An id (user, artist, model version...) is unknown.

    With ``field`` (the input that named the id) and ``expected`` (what it should
    name), the message names all three, as :class:`ValidationError`'s does.
    """

    def __init__(
        self, kind: str, ident: Any, field: str | None = None, expected: str | None = None
    ) -> None:
        self.kind = kind
        self.ident = ident
        self.field = field
        if field is None:
            super().__init__(f"{kind} {ident!r} was not found.")
        else:
            super().__init__(
                f"{field}: no {kind} {shown(ident)} was found"
                + (f"; expected {expected}." if expected else ".")
            )


class NotFittedError(CratedigError, RuntimeError):
    """A model was used before ``fit`` was called."""
