"""The quarantine: rows that could not be imported, with their source, line and reason."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, select

from cratedig.clock import now_ms
from cratedig.store import insert_ignore, schema


class BadRow(NamedTuple):
    """One rejected row: where it came from, why, and what it was."""

    line: int
    reason: str
    raw: Any


#: The raw text of a quarantined row is kept up to this many characters; a longer one is
#: cut and marked, so that one absurd row cannot fill the store.
MAX_RAW_CHARS = 65_536
CUT_MARK = "... [cut by cratedig: the row was {n:,} characters long]"


def cap_raw(text: str, limit: int = MAX_RAW_CHARS) -> str:
    """``text`` up to ``limit`` characters, marked when it was cut."""
    if len(text) <= limit:
        return text
    return text[:limit] + CUT_MARK.format(n=len(text))


def raw_json(raw: Any) -> str:
    """The raw row as JSON (values JSON cannot hold, such as datetimes, as text).

    Text that cannot be stored as UTF-8 (a lone surrogate such as ``"\ud800"``, which a
    JSON escape can carry) is kept as ASCII JSON escapes instead of failing the import.
    """
    text = json.dumps(raw, default=str, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(raw, default=str, ensure_ascii=True)
    return text


def content_hash(raw: str | None) -> str:
    """SHA-256 (hex) of a quarantined row's raw text, part of the row's identity."""
    return hashlib.sha256((raw or "").encode("utf-8", "surrogatepass")).hexdigest()


def quarantine_rows(conn: Connection, source: str, bad: Sequence[BadRow]) -> int:
    """Store rejected rows; a row already quarantined with the same source, line and
    content is skipped, so re-running an import adds nothing, while a different bad row
    at a reused path and line is kept. Returns how many were new."""
    now = now_ms()
    rows = []
    for b in bad:
        raw = cap_raw(raw_json(b.raw))
        rows.append(
            {
                "source": source,
                "line": b.line,
                "reason": cap_raw(b.reason, 2_000),
                "raw": raw,
                "raw_sha256": content_hash(raw),
                "created_at_ms": now,
            }
        )
    return insert_ignore(conn, schema.quarantine, rows)


def quarantined(engine: Engine, source: str | None = None) -> list[dict[str, Any]]:
    """The quarantined rows (of one source, when given), by source and line."""
    q = schema.quarantine
    query = select(q.c.source, q.c.line, q.c.reason, q.c.raw).order_by(q.c.source, q.c.line)
    if source is not None:
        query = query.where(q.c.source == source)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
