"""Reviewing the quarantine: export rows to fix, retry fixed rows, discard with a record.

* :func:`export_rows` writes the raw rows of open quarantined rows to a CSV or JSON
  Lines file, each with a ``_quarantine_id`` column that ties it back to its row.
* :func:`retry_file` re-imports such a file (after a person or a script fixed it)
  through the one import path. A row that now passes leaves the quarantine (status
  ``retried``, ``resolution`` = the id it was stored under); a row that still fails
  stays open with its new reason.
* :func:`discard` closes rows without importing them, recording who decided, when and
  why (a ``quality_decisions`` row): nothing is deleted.
"""

from __future__ import annotations

import csv
import getpass
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from cratedig.clock import now_ms
from cratedig.events import validate_event
from cratedig.exceptions import CratedigError, ValidationError
from cratedig.ingest.chunk_import import ChunkImporter
from cratedig.ingest.readers import records_chunks
from cratedig.store.quality import (
    QuarantineFilter,
    open_quarantine_ids,
    quarantine_rows,
    record_decision,
    resolve_quarantined,
    take_quarantined,
    update_reason,
)

ID_COLUMN = "_quarantine_id"
TEXT_COLUMN = "_raw_text"  # rows that were not even readable as fields (bad CSV/JSON)
RETRY_PREFIX = "retry failed: "
#: Ids per ``IN (...)`` query (SQLite allows 32,766 bound parameters).
IDS_PER_QUERY = 10_000
KEY_FIELDS = {
    "events": "event_id",
    "users": "user_id",
    "artists": "artist_id",
    "tracks": "track_id",
}


def _fields(raw_text: str | None) -> dict[str, Any]:
    """A quarantined row's raw fields (a row that was only text keeps it under one key)."""
    try:
        raw = json.loads(raw_text) if raw_text else {}
    except json.JSONDecodeError:
        raw = raw_text
    if isinstance(raw, dict):
        if set(raw) == {"text"}:  # a CSV row with the wrong number of fields
            return {TEXT_COLUMN: raw["text"]}
        return raw
    return {TEXT_COLUMN: raw if isinstance(raw, str) else json.dumps(raw)}


def export_rows(engine: Engine, filt: QuarantineFilter, out: str | Path) -> int:
    """Write the matching quarantined rows to ``out`` (``.csv`` or ``.jsonl``).

    Returns
    -------
    int
        How many rows were written.
    """
    out = Path(out)
    if out.suffix not in (".csv", ".jsonl"):
        raise ValidationError("out", str(out), "a file ending in .csv or .jsonl")
    rows = [{ID_COLUMN: r.quarantine_id, **_fields(r.raw)} for r in quarantine_rows(engine, filt)]
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".jsonl":
        with open(out, "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    else:
        columns: dict[str, None] = {ID_COLUMN: None}
        for row in rows:
            columns.update(dict.fromkeys(row))
        with open(out, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(columns))
            writer.writeheader()
            writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return len(rows)


def _read_fixed(path: Path) -> Iterator[dict[str, Any]]:
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ValidationError(
                            f"line {number}", line[:80], f"a JSON object ({exc.msg})"
                        ) from None
    elif path.suffix == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as handle:
            yield from csv.DictReader(handle)
    else:
        raise ValidationError("file", str(path), "a file ending in .csv or .jsonl")


@dataclass
class RetryReport:
    """What a retry did: rows that left the quarantine, and rows still failing."""

    stored: int = 0
    still_failing: int = 0
    unknown_ids: int = 0
    reasons: list[str] | None = None


def retry_file(engine: Engine, path: str | Path, kind: str = "events") -> RetryReport:
    """Re-import fixed rows exported by :func:`export_rows`.

    Each row must keep its ``_quarantine_id``; rows whose id is not an open quarantined
    row are counted in ``unknown_ids`` and not imported.
    """
    path = Path(path)
    if not path.is_file():
        raise ValidationError("file", str(path), "an existing file")
    key_field = KEY_FIELDS.get(kind)
    if key_field is None:
        raise ValidationError("kind", kind, "one of: " + ", ".join(KEY_FIELDS))
    fixed: dict[int, dict[str, Any]] = {}
    for row in _read_fixed(path):
        try:
            qid = int(row.pop(ID_COLUMN))
        except (KeyError, TypeError, ValueError):
            raise ValidationError(
                ID_COLUMN, row.get(ID_COLUMN), "the id written by `cratedig quarantine export`"
            ) from None
        row.pop(TEXT_COLUMN, None)
        fixed[qid] = {k: v for k, v in row.items() if v not in ("", None)}
    report = RetryReport(reasons=[])
    open_ids: set[int] = set()
    wanted = sorted(fixed)
    for i in range(0, len(wanted), IDS_PER_QUERY):
        part = QuarantineFilter(ids=tuple(wanted[i : i + IDS_PER_QUERY]))
        open_ids.update(r.quarantine_id for r in quarantine_rows(engine, part))
    report.unknown_ids = len(set(fixed) - open_ids)
    todo = {qid: row for qid, row in fixed.items() if qid in open_ids}
    if not todo:
        return report
    # The quarantine id is the "line" of each retried row, so the rows this retry
    # quarantines again are known by it. One transaction: the import, the rows that
    # failed again, and the rows that left the quarantine commit together or not at all.
    source = f"retry of {path.resolve()} at {now_ms()}"
    importer = ChunkImporter(kind=kind, source=source, strict=False)
    with engine.begin() as conn:
        for chunk in records_chunks(sorted(todo.items()), 50_000):
            importer.import_chunk(conn, chunk)
        again = take_quarantined(conn, source)
        update_reason(conn, [(qid, _again(why)) for qid, why in again.items()])
        now = now_ms()
        passed = [
            (qid, _stored_id(kind, key_field, todo[qid], importer))
            for qid in sorted(todo)
            if qid not in again
        ]
        report.stored = resolve_quarantined(conn, passed, "retried", now)
    report.still_failing = len(again)
    report.reasons = [f"quarantine id {qid}: {why}" for qid, why in sorted(again.items())[:20]]
    return report


def _again(why: str) -> str:
    """The reason a retried row failed (prefixed once, however often it was retried)."""
    return why if why.startswith(RETRY_PREFIX) else RETRY_PREFIX + why


def _stored_id(kind: str, key_field: str, row: dict[str, Any], importer: ChunkImporter) -> str:
    """The id a retried row was stored under (events derive one when none was given)."""
    if kind == "events":
        try:
            return validate_event(row, importer.track_artists.get).event_id
        except CratedigError:  # pragma: no cover - it passed the import just now
            return str(row.get(key_field, ""))
    return str(row.get(key_field, ""))


def discard(
    engine: Engine, filt: QuarantineFilter, reason: str, who: str | None = None
) -> tuple[int, int]:
    """Close the matching open quarantined rows without importing them.

    The rows are chosen and closed, and the decision recorded, in one transaction.

    Returns
    -------
    (decision_id, rows)
        The recorded decision and how many rows it closed; ``(0, 0)`` when no open row
        matched (then nothing is recorded).
    """
    if not reason.strip():
        raise ValidationError("reason", reason, "a few words on why the rows are dropped")
    open_filter = replace(filt, status="open")
    now = now_ms()
    with engine.begin() as conn:
        ids = open_quarantine_ids(conn, open_filter)
        if not ids:
            return 0, 0
        decision = record_decision(
            conn,
            action="discard",
            filters=open_filter.as_json(),
            rows_affected=len(ids),
            decided_by=who or who_decides(),
            decided_at_ms=now,
            note=reason,
        )
        closed = resolve_quarantined(
            conn, [(i, f"decision {decision}") for i in ids], "discarded", now
        )
    return decision, closed


def who_decides() -> str:
    """The login name recorded with a decision when none is given."""

    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment
        return "unknown"
