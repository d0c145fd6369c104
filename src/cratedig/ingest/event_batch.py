"""Vectorised validation of a whole batch of raw events (the import's fast path).

:func:`cratedig.events.validate_event` checks one row at a time, which is too slow for
millions of rows. :func:`normalise_event_batch` runs the same rules over whole Arrow
columns, but only for the plain, common shapes of values (clean ids, ASCII digits,
``YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|+HH:MM]`` times...). Every row it is not *certain*
about is flagged, and the caller sends those rows through ``validate_event`` itself; so
every row ends with exactly the result and the message ``validate_event`` gives. The
tests compare both paths row by row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cratedig.clock import now_ms
from cratedig.events import (
    ARTISTLESS_EVENTS,
    EVENT_FIELDS,
    EVENT_TYPES,
    MAX_COUNT,
    MAX_DURATION_MS,
    ORGANIC,
    REQUIRED_FIELDS,
    derive_event_id,
)
from cratedig.fields import (
    MAX_ID_LENGTH,
    MAX_TAG_LENGTH,
    MAX_TIMESTAMP_MS,
    MIN_TIMESTAMP_MS,
    MS_THRESHOLD,
    latest_allowed_ms,
)

#: The stored columns of an event, in order.
EVENT_COLUMNS = EVENT_FIELDS

# Every character str.strip() removes (str.isspace()); RE2 syntax.
_SPACE = "".join(f"\\x{{{ord(c):x}}}" for c in map(chr, range(0x3001)) if c.isspace())
_EDGE_SPACE = f"^[{_SPACE}]|[{_SPACE}]$"
_DIGITS = r"^-?[0-9]{1,18}$"
_WHOLE = r"^[0-9]{1,15}$"
_FIXED_ISO = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{3})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})?$"
)
_ISO = (
    r"^(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})"
    r"(?:[T ](?P<h>[0-9]{2}):(?P<mi>[0-9]{2})(?::(?P<s>[0-9]{2})(?:\.(?P<f>[0-9]{1,3}))?)?"
    r"(?P<z>[Zz]|[+-][0-9]{2}:[0-9]{2})?)?$"
)


@dataclass
class EventBatch:
    """A batch of events after the vectorised checks.

    Attributes
    ----------
    columns
        Normalised values, one array per name of :data:`EVENT_COLUMNS` (meaningful only
        where ``ok``); ``event_id`` is null where it must still be derived.
    ok
        Rows the fast path vouches for; the others need ``validate_event``.
    """

    columns: dict[str, pa.Array]
    ok: np.ndarray


def _bool(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _column(batch: pa.RecordBatch, name: str) -> pa.Array | None:
    if name not in batch.schema.names:
        return None
    column = batch.column(name)
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_large_string(column.type) or pa.types.is_string_view(column.type):
        column = column.cast(pa.string())
    return column


def _text_column(batch: pa.RecordBatch, name: str, max_length: int) -> tuple[pa.Array, np.ndarray]:
    """A text field as :func:`~cratedig.events.read_text` reads it, column-wise:
    (values with blanks as null, rows understood; the others go to ``validate_event``)."""
    n = batch.num_rows
    column = _column(batch, name)
    if column is None:
        return pa.nulls(n, pa.string()), np.ones(n, dtype=bool)
    if pa.types.is_integer(column.type):
        return column.cast(pa.string()), np.ones(n, dtype=bool)
    if not pa.types.is_string(column.type):
        return pa.nulls(n, pa.string()), _bool(pc.is_null(column))
    empty = pc.equal(pc.utf8_length(column), 0)
    values = pc.if_else(empty, pa.scalar(None, pa.string()), column)
    clean = pc.and_(
        pc.less_equal(pc.utf8_length(column), max_length),
        pc.invert(pc.match_substring(column, "\x00")),
    )
    ok = _bool(pc.or_kleene(pc.is_null(values), clean)) & _no_edge_space(column)
    return values, ok


# The ASCII characters that str.isspace() calls whitespace.
_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True


def _string_bytes(column: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data bytes, start offsets, lengths) of a string array, without copying."""
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)
    offsets = offsets[column.offset : column.offset + len(column) + 1]
    data_buffer = column.buffers()[2]
    data = np.zeros(1, dtype=np.uint8)  # (a placeholder when every string is empty)
    if data_buffer is not None and data_buffer.size > 0:
        data = np.frombuffer(data_buffer, dtype=np.uint8)
    return data, offsets[:-1], np.diff(offsets)


def _no_edge_space(column: pa.Array) -> np.ndarray:
    """Rows that do not start or end with a character ``str.strip`` would remove.

    Looks at the first and last byte (numpy: much faster than a regex); only strings
    that start or end with a non-ASCII character go through the exact regex.
    """
    data, starts, lengths = _string_bytes(column)
    filled = lengths > 0
    first = np.where(filled, data[np.where(filled, starts, 0)], 65)
    last = np.where(filled, data[np.where(filled, starts + lengths - 1, 0)], 65)
    clean = ~(_ASCII_SPACE[first] | _ASCII_SPACE[last])
    unsure = (first >= 0x80) | (last >= 0x80)
    if unsure.any():
        idx = np.flatnonzero(unsure)
        doubtful = column.take(pa.array(idx))
        clean[idx] = ~_bool(pc.match_substring_regex(doubtful, _EDGE_SPACE))
    return clean | _bool(pc.is_null(column))


def _whole_number(
    batch: pa.RecordBatch, name: str, default: int | None, maximum: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A :func:`~cratedig.events.read_whole_number` field: (values, null mask, rows understood)."""
    n = batch.num_rows
    column = _column(batch, name)
    missing = np.zeros(n, dtype=np.int64) if default is None else np.full(n, default)
    if column is None:
        return missing, np.full(n, default is None), np.ones(n, dtype=bool)
    if pa.types.is_string(column.type):
        blank = _bool(pc.or_kleene(pc.is_null(column), pc.equal(column, "")))
        plain = _bool(pc.match_substring_regex(column, _WHOLE))
        text = pc.if_else(pa.array(plain), column, "0")
        values = np.asarray(text.cast(pa.int64()).to_numpy(zero_copy_only=False))
        ok = blank | (plain & (values <= maximum))
    elif pa.types.is_integer(column.type):
        blank = _bool(pc.is_null(column))
        values, fits = _int64(column)
        ok = blank | (fits & (values >= 0) & (values <= maximum))
    else:
        blank = _bool(pc.is_null(column))
        values, ok = np.zeros(n, dtype=np.int64), blank.copy()
    values = np.where(blank, missing, values)
    return values, blank & (default is None), ok


_INT64_MAX = 2**63 - 1


def _int64(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """An integer column as int64 (nulls as 0), and the rows whose value fits.

    A ``uint64`` above the int64 range made ``cast`` raise ArrowInvalid and abort the
    import; such rows are now left to ``validate_event``, which rejects them.
    """
    fits = np.ones(len(column), dtype=bool)
    if column.type == pa.uint64():
        fits = ~_bool(pc.greater(column, pa.scalar(_INT64_MAX, pa.uint64())))
        column = pc.if_else(pa.array(fits), column, pa.scalar(0, pa.uint64()))
    values = np.asarray(pc.fill_null(column.cast(pa.int64()), 0).to_numpy(zero_copy_only=False))
    return values, fits


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _iso_ms(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Milliseconds of the plain ISO 8601 strings of ``column``, and which rows were plain."""
    parts = pc.extract_regex(column, _ISO)
    matched = _bool(pc.is_valid(parts))

    def part(name: str, default: str = "0") -> np.ndarray:
        field = pc.struct_field(parts, name)
        field = pc.if_else(pc.equal(pc.fill_null(field, ""), ""), default, field)
        return np.asarray(field.cast(pa.int64()).to_numpy(zero_copy_only=False))

    y, mo, d = part("y", "1970"), part("mo", "1"), part("d", "1")
    h, mi, s = part("h"), part("mi"), part("s")
    frac = pc.struct_field(parts, "f")
    frac = pc.utf8_rpad(pc.fill_null(frac, ""), 3, "0")
    f = np.asarray(frac.cast(pa.int64()).to_numpy(zero_copy_only=False))
    zone = pc.fill_null(pc.struct_field(parts, "z"), "")
    has_offset = _bool(pc.match_substring_regex(zone, "^[+-]"))
    sign = np.where(_bool(pc.starts_with(zone, "-")), -1, 1)
    off_text = pc.if_else(pa.array(has_offset), zone, "+00:00")
    off_h = np.asarray(pc.utf8_slice_codeunits(off_text, 1, 3).cast(pa.int64()).to_numpy())
    off_m = np.asarray(pc.utf8_slice_codeunits(off_text, 4, 6).cast(pa.int64()).to_numpy())
    return _compose_ms(matched, y, mo, d, h, mi, s, f, sign, off_h, off_m)


def _fixed_iso_ms(column: pa.Array, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`_iso_ms` for the ``rows`` that match :data:`_FIXED_ISO` (ASCII,
    fixed positions), read straight from the string bytes with numpy: the common
    ``YYYY-MM-DD[T ]HH:MM:SS[.fff][Z|+HH:MM]`` shape, many times faster than a regex
    with groups."""
    data, starts, lengths = _string_bytes(column)
    start, length = starts[rows].astype(np.int64), lengths[rows].astype(np.int64)
    last = len(data) - 1

    def at(pos: np.ndarray | int) -> np.ndarray:
        return data[np.minimum(start + pos, last)].astype(np.int64)

    def number(pos: np.ndarray | int, width: int) -> np.ndarray:
        value = np.zeros(len(start), dtype=np.int64)
        for k in range(width):
            value = value * 10 + at(pos + k) - 48
        return value

    has_frac = (length > 19) & (at(19) == ord("."))
    f = np.where(has_frac, number(20, 3), 0)
    zone_at = 19 + 4 * has_frac
    has_offset = (length - zone_at) == 6
    sign = np.where(at(zone_at) == ord("-"), -1, 1)
    off_h = np.where(has_offset, number(zone_at + 1, 2), 0)
    off_m = np.where(has_offset, number(zone_at + 4, 2), 0)
    matched = np.ones(len(start), dtype=bool)
    y, mo, d = number(0, 4), number(5, 2), number(8, 2)
    h, mi, s = number(11, 2), number(14, 2), number(17, 2)
    return _compose_ms(matched, y, mo, d, h, mi, s, f, sign, off_h, off_m)


def _compose_ms(
    matched: np.ndarray,
    y: np.ndarray,
    mo: np.ndarray,
    d: np.ndarray,
    h: np.ndarray,
    mi: np.ndarray,
    s: np.ndarray,
    f: np.ndarray,
    sign: np.ndarray,
    off_h: np.ndarray,
    off_m: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Milliseconds since the epoch of date-time parts, and which parts form a real time."""
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    month_days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    valid_month = (mo >= 1) & (mo <= 12)
    dim = month_days[np.clip(mo, 1, 12) - 1] + ((mo == 2) & leap)
    valid = (
        matched
        & (y >= 1900)
        & (y <= 2200)
        & valid_month
        & (d >= 1)
        & (d <= dim)
        & (h <= 23)
        & (mi <= 59)
        & (s <= 59)
        & (off_h <= 23)
        & (off_m <= 59)
    )
    days = _days_from_civil(y, mo, d)
    ms = (((days * 24 + h) * 60 + mi) * 60 + s) * 1000 + f
    ms -= sign * (off_h * 60 + off_m) * 60_000
    return ms, valid


def _timestamp(batch: pa.RecordBatch, not_after_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """``occurred_at`` (or ``occurred_at_ms``) in ms, and the rows understood (in range
    and not later than ``not_after_ms``)."""
    n = batch.num_rows
    name = "occurred_at" if "occurred_at" in batch.schema.names else "occurred_at_ms"
    column = _column(batch, name)
    zeros = np.zeros(n, dtype=np.int64)
    if column is None:
        return zeros, np.zeros(n, dtype=bool)
    if pa.types.is_string(column.type):
        digits = _bool(pc.match_substring_regex(column, _DIGITS))
        number = np.asarray(pc.if_else(pa.array(digits), column, "0").cast(pa.int64()).to_numpy())
        iso_ms, iso_ok = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
        fixed = np.flatnonzero(_bool(pc.match_substring_regex(column, _FIXED_ISO)))
        if len(fixed):
            iso_ms[fixed], iso_ok[fixed] = _fixed_iso_ms(column, fixed)
        other = np.flatnonzero(~digits & ~iso_ok & _bool(pc.is_valid(column)))
        if len(other):
            iso_ms[other], iso_ok[other] = _iso_ms(column.take(pa.array(other)))
        ms = np.where(digits, np.where(np.abs(number) >= MS_THRESHOLD, number, 0), iso_ms)
        small = digits & (np.abs(number) < MS_THRESHOLD)
        ms = np.where(small, number * 1000, ms)
        ok = digits | iso_ok
    elif pa.types.is_integer(column.type):
        number, fits = _int64(column)
        ok = ~_bool(pc.is_null(column)) & fits
        # (no np.abs: abs(-2**63) overflows to -2**63 and read as seconds, became 0)
        small = (number > -MS_THRESHOLD) & (number < MS_THRESHOLD)
        ms = np.where(small, number * 1000, number)
    elif pa.types.is_timestamp(column.type):
        per_ms = {"s": 0, "ms": 1, "us": 1000, "ns": 1_000_000}[column.type.unit]
        ok = ~_bool(pc.is_null(column))
        raw = np.asarray(pc.fill_null(column.cast(pa.int64()), 0).to_numpy())
        if per_ms == 0:
            ok &= np.abs(raw) <= MAX_TIMESTAMP_MS // 1000  # raw * 1000 must not overflow
            ms = np.where(ok, raw, 0) * 1000
        else:
            ms = raw // per_ms
            ok &= raw % per_ms == 0
    else:
        return zeros, np.zeros(n, dtype=bool)
    ok &= (ms >= MIN_TIMESTAMP_MS) & (ms <= min(MAX_TIMESTAMP_MS, not_after_ms))
    return np.where(ok, ms, 0), ok


def normalise_event_batch(batch: pa.RecordBatch, not_after_ms: int | None = None) -> EventBatch:
    """Run the rules of ``validate_event`` over a whole batch, except artist resolution.

    Rows that are ``ok`` have their final values in ``columns``, except that a track
    event may still lack its ``artist_id`` (see :func:`complete_event_batch`).
    ``not_after_ms`` is the latest accepted time, as for ``validate_event`` (pass the
    same value to both; default: now plus the future tolerance).
    """
    if not_after_ms is None:
        not_after_ms = latest_allowed_ms(now_ms())
    n = batch.num_rows
    event_type, ok = _text_column(batch, "event_type", MAX_ID_LENGTH)
    ok &= _bool(pc.is_in(event_type, value_set=pa.array(EVENT_TYPES)))
    columns: dict[str, pa.Array] = {"event_type": event_type}
    for name, max_length in (
        ("user_id", MAX_ID_LENGTH),
        ("artist_id", MAX_ID_LENGTH),
        ("track_id", MAX_ID_LENGTH),
        ("tag", MAX_TAG_LENGTH),
        ("session_id", MAX_ID_LENGTH),
        ("source", MAX_ID_LENGTH),
        ("event_id", MAX_ID_LENGTH),
    ):
        columns[name], understood = _text_column(batch, name, max_length)
        ok &= understood
    ok &= _bool(pc.is_valid(columns["user_id"]))
    columns["source"] = pc.fill_null(columns["source"], ORGANIC)
    ms, understood = _timestamp(batch, not_after_ms)
    ok &= understood
    columns["occurred_at_ms"] = pa.array(ms, pa.int64())
    duration, blank, understood = _whole_number(batch, "duration_ms", None, MAX_DURATION_MS)
    ok &= understood
    columns["duration_ms"] = pa.array(duration, pa.int64(), mask=blank)
    count, _, understood = _whole_number(batch, "count", 1, MAX_COUNT)
    ok &= understood
    columns["count"] = pa.array(count, pa.int64())
    for needy_type, needed in REQUIRED_FIELDS.items():
        of_type = _bool(pc.equal(event_type, str(needy_type)))
        for name in needed:
            ok &= ~(of_type & _bool(pc.is_null(columns[name])))
    assert all(len(columns[c]) == n for c in columns)
    return EventBatch(columns=columns, ok=ok)


def tracks_to_resolve(events: EventBatch) -> list[str]:
    """The distinct track ids of ``ok`` rows that lack an artist."""
    need = events.ok & _bool(pc.is_null(events.columns["artist_id"]))
    need &= _bool(pc.is_valid(events.columns["track_id"]))
    if not need.any():
        return []
    return pc.unique(events.columns["track_id"].filter(pa.array(need))).to_pylist()


def complete_event_batch(events: EventBatch, resolve: Callable[[str], str | None]) -> pa.Table:
    """Resolve missing artists, derive missing ids; the ``ok`` rows as a table.

    Rows whose artist cannot be resolved (and that need one) are marked not ``ok``, so
    that ``validate_event`` gives their message. The table has the columns of
    :data:`EVENT_COLUMNS` and ``_row``, each row's index in the batch.
    """
    cols = events.columns
    artist = cols["artist_id"]
    need = events.ok & _bool(pc.is_null(artist)) & _bool(pc.is_valid(cols["track_id"]))
    if need.any():
        tracks = cols["track_id"].to_pylist()
        values = artist.to_pylist()
        for i in np.flatnonzero(need):
            values[i] = resolve(tracks[i])
        artist = pa.array(values, pa.string())
        cols["artist_id"] = artist
    artistless = _bool(pc.is_in(cols["event_type"], value_set=pa.array(list(ARTISTLESS_EVENTS))))
    events.ok &= artistless | _bool(pc.is_valid(artist))
    keep = pa.array(events.ok)
    table = pa.table({name: cols[name].filter(keep) for name in EVENT_COLUMNS})
    ids = table.column("event_id")
    if ids.null_count:
        table = table.set_column(0, "event_id", _derive_ids(table))
    return table.append_column("_row", pa.array(np.flatnonzero(events.ok), pa.int64()))


def _derive_ids(table: pa.Table) -> pa.Array:
    """``event_id`` where given, else ``derive_event_id`` of the row (same argument order)."""
    rows: Iterable[tuple] = zip(*(table.column(c).to_pylist() for c in EVENT_COLUMNS), strict=True)
    return pa.array(
        [row[0] if row[0] is not None else derive_event_id(*row[1:]) for row in rows],
        pa.string(),
    )
