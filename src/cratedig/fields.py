"""Readers of raw field values: ids and short text, whole numbers and timestamps.

Every way in (files, API events, feedback, users/artists/tracks records) reads its
fields with these, so one value means the same everywhere. Imports nothing of
cratedig but :mod:`cratedig.exceptions`.

Timestamps
----------
``occurred_at`` is stored as an integer number of **milliseconds since the Unix
epoch, UTC** (``occurred_at_ms``). It is accepted as:

* an ISO 8601 string (``"2026-03-01T20:15:00+01:00"``, ``"2026-03-01 19:15:00Z"``);
* a :class:`datetime.datetime`;
* an integer or float: seconds since the epoch, or milliseconds when it is larger
  than ``10**11`` (any date after 1973 in milliseconds, before 5138 in seconds).

A **naive** timestamp (no offset) is read as **UTC**. Sites that log local times
must add the offset before they send events.

Times in the future
-------------------
An event cannot have happened after now: a time later than the wall clock plus a
tolerance for clock skew (:data:`FUTURE_TOLERANCE_MS`, one day by default; the
``future_tolerance_seconds`` setting) is rejected (:func:`check_not_future`). One
far-future event would otherwise become the newest time in the store and so the
snapshot time of the next trained version.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cratedig.exceptions import ValidationError

#: Epoch numbers at least this large are milliseconds, smaller ones seconds.
MS_THRESHOLD = 10**11
#: The earliest and latest storable times: the range of :class:`datetime.datetime`, UTC.
MIN_TIMESTAMP_MS = -62_135_596_800_000  # 0001-01-01T00:00:00Z
MAX_TIMESTAMP_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
#: How far past the wall clock an event time may be (clock skew between the site's
#: servers and cratedig): one day. ``future_tolerance_seconds`` in the settings.
FUTURE_TOLERANCE_MS = 86_400_000
#: The longest id (user, artist, track, event, session, source) the store holds.
MAX_ID_LENGTH = 128
#: The longest tag the store holds.
MAX_TAG_LENGTH = 256


def is_blank(value: Any) -> bool:
    """Whether a raw value counts as missing: ``None``, NaN, or only white space."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def read_text(raw: Mapping[str, Any], field: str, max_length: int = MAX_ID_LENGTH) -> str | None:
    """The one reader of an id or short text field of a raw record (events, users,
    artists, tracks, feedback, API path ids).

    Strips white space; a blank value is ``None``. Strings and whole numbers are
    accepted (a float that is a whole number reads as an integer: ``3.0`` -> ``"3"``);
    other floats, objects, arrays, booleans and bytes are not.

    Raises
    ------
    ValidationError
        When the value is not text or a number, is longer than ``max_length``, holds
        a NUL character or is not valid Unicode.
    """
    value = raw.get(field)
    if type(value) is str:  # the common case first: API and CSV values are strings
        text = value.strip()
        if not text:
            return None
    else:
        if is_blank(value):
            return None
        if isinstance(value, bool | Mapping | list | tuple | set | bytes | bytearray):
            raise ValidationError(field, value, "a string")
        if isinstance(value, float):
            if not value.is_integer():
                raise ValidationError(field, value, "a string or a whole number")
            value = int(value)
        text = str(value).strip()
    if len(text) > max_length or "\x00" in text:
        raise ValidationError(field, value, f"at most {max_length} characters and no NUL character")
    if not is_storable_text(text):  # NUL is excluded above: this is a lone surrogate
        raise ValidationError(field, value, "valid Unicode text (no lone surrogates)")
    return text


def required_text(
    raw: Mapping[str, Any], field: str, expected: str, max_length: int = MAX_ID_LENGTH
) -> str:
    """:func:`read_text` of a field that must not be blank (``expected`` says what it is)."""
    value = read_text(raw, field, max_length)
    if value is None:
        raise ValidationError(field, raw.get(field), expected)
    return value


def is_storable_text(text: str) -> bool:
    """Whether both databases can store a string: no NUL and valid UTF-8.

    A lone surrogate (JSON ``"\\ud800"``) is not valid UTF-8.
    """
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_timestamp_ms(value: Any, field: str = "occurred_at") -> int:
    """Read a timestamp into milliseconds since the epoch, UTC.

    Naive datetimes and ISO strings without an offset are read as UTC.

    Raises
    ------
    ValidationError
        When the value is missing or cannot be read as a time.
    """
    expected = "an ISO 8601 timestamp, a datetime, or epoch seconds/milliseconds"
    if is_blank(value):
        raise ValidationError(field, value, expected)
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, bool):
        raise ValidationError(field, value, expected)
    elif isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValidationError(field, value, expected)
        ms = int(value) if abs(value) >= MS_THRESHOLD else round(value * 1000)
        return _in_range(ms, field, value)
    elif isinstance(value, str):
        text = value.strip()
        if _INTEGER.fullmatch(text):
            try:
                number = int(text)
            except ValueError:  # a digit that int() does not read, such as "²"
                raise ValidationError(field, value, expected) from None
            ms = number if abs(number) >= MS_THRESHOLD else number * 1000
            return _in_range(ms, field, value)
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValidationError(field, value, expected) from None
    else:
        # pandas.Timestamp and numpy.datetime64 end up here
        try:
            dt = datetime.fromisoformat(str(value))
        except ValueError:
            raise ValidationError(field, value, expected) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        ms = round(dt.timestamp() * 1000)
    except (OverflowError, ValueError):
        raise ValidationError(field, value, expected) from None
    return _in_range(ms, field, value)


_INTEGER = re.compile(r"-?\d+")


def _in_range(ms: int, field: str, value: Any) -> int:
    """``ms`` when it is a storable time (years 1 to 9999, UTC), else a ValidationError."""
    if not MIN_TIMESTAMP_MS <= ms <= MAX_TIMESTAMP_MS:
        raise ValidationError(field, value, "a time between the years 1 and 9999")
    return ms


def latest_allowed_ms(now: int, tolerance_ms: int = FUTURE_TOLERANCE_MS) -> int:
    """The latest event time accepted at wall-clock time ``now``: ``now + tolerance_ms``
    (never past :data:`MAX_TIMESTAMP_MS`, whatever the tolerance)."""
    return min(now + max(0, tolerance_ms), MAX_TIMESTAMP_MS)


def check_not_future(ms: int, not_after_ms: int, field: str, value: Any) -> int:
    """``ms`` when it is at most ``not_after_ms``, else a ValidationError naming the limit."""
    if ms > not_after_ms:
        limit = datetime.fromtimestamp(not_after_ms / 1000, tz=UTC).isoformat(timespec="seconds")
        raise ValidationError(
            field,
            value,
            f"a time no later than {limit.replace('+00:00', 'Z')} "
            "(now plus the future tolerance; an event cannot happen in the future)",
        )
    return ms


def read_whole_number(
    raw: Mapping[str, Any], field: str, default: int | None, maximum: int
) -> int | None:
    """A whole number ``0..maximum`` of a raw record (``default`` when blank).

    Raises
    ------
    ValidationError
        When the value is not a whole number in range.
    """
    value: Any = raw.get(field)
    if is_blank(value):
        return default
    if isinstance(value, bool):  # JSON true is not the number 1
        raise ValidationError(field, value, "a whole number >= 0")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError(field, value, "a whole number >= 0") from None
    if not math.isfinite(number) or number < 0 or not number.is_integer():
        raise ValidationError(field, value, "a whole number >= 0")
    if number > maximum:
        raise ValidationError(field, value, f"a whole number between 0 and {maximum}")
    return int(number)
