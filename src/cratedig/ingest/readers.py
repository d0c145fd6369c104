"""Streaming readers for CSV, JSON Lines and Parquet that keep each row's source line.

Every reader yields :class:`Chunk` objects of at most ``chunk_rows`` rows, so memory stays
flat however large the file is. A chunk holds its rows either as a
:class:`pyarrow.RecordBatch` (CSV, Parquet: the vectorised fast path can use it) or as a
list of ``(line, dict)`` (JSON Lines), plus the rows that could not even be read
(``rejects``: a CSV row with the wrong number of fields, a line that is not JSON).

Line numbers
------------
* CSV: the header is line 1 and the first data row line 2; a row counts as one line (a
  quoted value that spans several physical lines still counts once).
* JSON Lines: the physical line number (blank lines are skipped but counted).
* Parquet: the row number + 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cratedig.exceptions import ValidationError
from cratedig.ingest.quarantine import BadRow

FORMATS = ("csv", "jsonl", "parquet")
_EXTENSIONS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass
class Chunk:
    """At most ``chunk_rows`` rows of a source, with their line numbers.

    Attributes
    ----------
    batch, lines
        The rows as a record batch and the line of each (CSV, Parquet); else ``None``.
    rows
        The rows as ``(line, dict)`` pairs (JSON Lines, in-memory records); else ``None``.
    rejects
        Rows that could not be read at all.
    position
        Progress after this chunk, in the unit of the reader's ``total`` (bytes or rows).
    """

    batch: pa.RecordBatch | None = None
    lines: np.ndarray | None = None
    rows: list[tuple[int, dict[str, Any]]] | None = None
    rejects: list[BadRow] = field(default_factory=list)
    position: int = 0

    def __len__(self) -> int:
        size = len(self.rows) if self.rows is not None else 0
        if self.batch is not None:
            size += self.batch.num_rows
        return size + len(self.rejects)


def check_chunk_rows(chunk_rows: int) -> None:
    """Raise a ValidationError unless ``chunk_rows`` (rows per transaction) is >= 1."""
    if chunk_rows < 1:
        raise ValidationError("chunk_rows", chunk_rows, "a whole number >= 1")


def detect_format(path: str | Path, fmt: str | None = None) -> str:
    """The format of ``path``: ``fmt`` when given, else from the file's extension.

    Raises
    ------
    ValidationError
        When the format is unknown.
    """
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValidationError("format", fmt, "one of: " + ", ".join(FORMATS))
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise ValidationError(
            "path",
            str(path),
            "a file ending in " + ", ".join(sorted(_EXTENSIONS)) + " (or --format)",
        )
    return _EXTENSIONS[suffix]


def source_size(path: str | Path, fmt: str) -> int:
    """The ``total`` that readers' ``Chunk.position`` counts towards (rows for Parquet)."""
    if fmt == "parquet":
        return int(open_parquet(path).metadata.num_rows)
    return Path(path).stat().st_size


def read_chunks(path: str | Path, fmt: str, chunk_rows: int) -> Iterator[Chunk]:
    """Stream ``path`` in chunks of at most ``chunk_rows`` rows."""
    check_chunk_rows(chunk_rows)
    from cratedig.ingest.csv_reader import read_csv  # it builds on this module's Chunk

    readers = {"csv": read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}
    yield from readers[fmt](Path(path), chunk_rows)


def _read_jsonl(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    rows: list[tuple[int, dict[str, Any]]] = []
    rejects: list[BadRow] = []
    position = 0
    with open(path, "rb") as handle:
        for number, raw_line in enumerate(handle, start=1):
            position += len(raw_line)
            try:
                # a byte-order mark at the start of the file is not part of line 1
                text = raw_line.decode("utf-8-sig" if number == 1 else "utf-8").strip()
            except UnicodeDecodeError:
                text = raw_line.decode("utf-8", errors="replace").strip()
                rejects.append(BadRow(number, "line is not valid UTF-8 text", text))
                continue
            if not text:
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                rejects.append(BadRow(number, f"line is not valid JSON: {exc.msg}", text))
            else:
                if isinstance(value, dict):
                    rows.append((number, value))
                else:
                    rejects.append(
                        BadRow(
                            number,
                            f"line holds a JSON {type(value).__name__}; expected a JSON object",
                            value,
                        )
                    )
            if len(rows) + len(rejects) >= chunk_rows:
                yield Chunk(rows=rows, rejects=rejects, position=position)
                rows, rejects = [], []
    if rows or rejects:
        yield Chunk(rows=rows, rejects=rejects, position=position)


def open_parquet(path: str | Path) -> pq.ParquetFile:
    """Open a Parquet file, or raise one clear error for an empty or corrupt one."""
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValidationError(
            "path", str(path), f"a readable Parquet file ({str(exc)[:200]})"
        ) from None


def _read_parquet(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    parquet = open_parquet(path)
    seen = 0
    for batch in parquet.iter_batches(batch_size=chunk_rows):
        lines = np.arange(seen + 1, seen + 1 + batch.num_rows, dtype=np.int64)
        seen += batch.num_rows
        yield Chunk(batch=batch, lines=lines, position=seen)


def batch_rows(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """``batch.to_pylist()``, but a value Python cannot hold (a Parquet timestamp beyond
    year 9999, which makes pyarrow raise OverflowError) becomes a text naming it, which
    validation then rejects, instead of aborting the import."""
    try:
        return batch.to_pylist()
    except (OverflowError, ValueError, pa.ArrowException):
        pass
    columns: dict[str, list[Any]] = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        try:
            columns[name] = column.to_pylist()
        except (OverflowError, ValueError, pa.ArrowException):
            columns[name] = [_scalar_value(column[i]) for i in range(len(column))]
    return [{name: values[i] for name, values in columns.items()} for i in range(batch.num_rows)]


def _scalar_value(scalar: pa.Scalar) -> Any:
    try:
        return scalar.as_py()
    except (OverflowError, ValueError, pa.ArrowException):
        try:
            number = scalar.cast(pa.int64()).as_py()
        except (OverflowError, ValueError, pa.ArrowException):
            number = "?"
        return f"{number} (a {scalar.type} value out of the range of dates)"


def records_chunks(
    records: Iterable[tuple[int, Mapping[str, Any]]], chunk_rows: int
) -> Iterator[Chunk]:
    """Chunks of in-memory ``(line, row)`` records; ``position`` counts rows."""
    rows: list[tuple[int, dict[str, Any]]] = []
    seen = 0
    for line, raw in records:
        rows.append((int(line), dict(raw)))
        seen += 1
        if len(rows) >= chunk_rows:
            yield Chunk(rows=rows, position=seen)
            rows = []
    if rows:
        yield Chunk(rows=rows, position=seen)


def batch_chunks(batches: Iterable[pa.RecordBatch | pa.Table], chunk_rows: int) -> Iterator[Chunk]:
    """Chunks of in-memory Arrow data; row ``i`` (from 0, across batches) is line ``i + 1``."""
    seen = 0
    for data in batches:
        table = data if isinstance(data, pa.Table) else pa.Table.from_batches([data])
        for batch in table.to_batches(max_chunksize=chunk_rows):
            lines = np.arange(seen + 1, seen + 1 + batch.num_rows, dtype=np.int64)
            seen += batch.num_rows
            yield Chunk(batch=batch, lines=lines, position=seen)
