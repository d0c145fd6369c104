"""Reading CSV files in chunks with pyarrow (rows as text, line numbers kept), with a
restart on rows longer than a block and a Python fallback for rows pyarrow cannot hand
over; see :mod:`cratedig.ingest.readers` for the line-number rules."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from cratedig.exceptions import ValidationError
from cratedig.ingest.quarantine import BadRow
from cratedig.ingest.readers import Chunk

#: pyarrow reads CSV in blocks of this many bytes; bigger ones cost memory and gain no
#: speed. A row longer than a block (possible with newlines inside quoted values) makes
#: pyarrow fail; the reader then starts again with blocks 4 times larger, up to the cap.
CSV_BLOCK_BYTES = 1 << 20
CSV_MAX_BLOCK_BYTES = 1 << 28


def read_csv(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    """CSV chunks; on a row longer than pyarrow's block, read again with larger blocks,
    skipping the lines already given out (line numbers do not depend on block size)."""
    block = CSV_BLOCK_BYTES
    next_line = 2
    while True:
        try:
            for chunk in _read_csv_blocks(path, chunk_rows, block, next_line):
                yield chunk
                if chunk.lines is not None and len(chunk.lines):
                    next_line = max(next_line, int(chunk.lines[-1]) + 1)
                if chunk.rejects:
                    next_line = max(next_line, max(r.line for r in chunk.rejects) + 1)
            return
        except pa.ArrowInvalid as exc:
            if "straddl" not in str(exc) or block >= CSV_MAX_BLOCK_BYTES:
                # pyarrow cannot hand a row with both the wrong number of fields and
                # invalid UTF-8 to a row handler: read the rest with Python's csv module
                yield from _read_csv_python(path, chunk_rows, next_line)
                return
            block *= 4


def _read_csv_blocks(
    path: Path, chunk_rows: int, block_size: int, first_line: int
) -> Iterator[Chunk]:
    try:
        with open(path, "rb") as handle:
            names = pacsv.open_csv(
                handle,
                read_options=pacsv.ReadOptions(use_threads=False, block_size=block_size),
                parse_options=pacsv.ParseOptions(
                    newlines_in_values=True, invalid_row_handler=lambda _row: "skip"
                ),
            ).schema.names
    except pa.ArrowInvalid as exc:
        if "straddl" in str(exc) or path.stat().st_size > 3:  # more than a BOM
            raise
        return  # an empty file: nothing to import
    invalid: list[BadRow] = []

    def on_invalid_row(row: Any) -> str:
        # Rows with the wrong number of fields: keep them for the quarantine.
        invalid.append(
            BadRow(
                int(row.number) if row.number is not None else -1,
                f"row has {row.actual_columns} fields; expected {row.expected_columns}",
                {"text": row.text},
            )
        )
        return "skip"

    # Every column is read as text so that CSV values reach validation exactly as
    # written (the fast path and validate_event then agree row by row).
    read_options = pacsv.ReadOptions(block_size=block_size, use_threads=False)
    parse_options = pacsv.ParseOptions(
        newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=on_invalid_row
    )
    # Read as bytes, then checked as UTF-8 per batch: a row with broken text is
    # quarantined instead of stopping the whole import.
    convert_options = pacsv.ConvertOptions(column_types={n: pa.binary() for n in names})
    next_line = 2
    pending: list[BadRow] = []  # invalid rows not yet given to a chunk, by line
    with open(path, "rb") as handle:
        reader = pacsv.open_csv(
            handle,
            read_options=read_options,
            parse_options=parse_options,
            convert_options=convert_options,
        )
        buffer: list[pa.RecordBatch] = []
        buffered = 0

        def emit(batch: pa.RecordBatch) -> Chunk | None:
            nonlocal next_line, pending
            lines = _assign_lines(next_line, batch.num_rows, [r.line for r in pending])
            if len(lines):
                next_line = int(lines[-1]) + 1
            mine = [r for r in pending if r.line < next_line]
            pending = [r for r in pending if r.line >= next_line]
            if first_line > 2:  # a restart: leave out what was given out before
                keep = lines >= first_line
                batch, lines = batch.filter(pa.array(keep)), lines[keep]
                mine = [r for r in mine if r.line >= first_line]
                if not len(lines) and not mine:
                    return None
            batch, lines, broken = _as_text(batch, lines)
            batch, lines = _drop_blank_rows(batch, lines)
            rejects = sorted(mine + broken, key=lambda r: r.line)
            return Chunk(batch=batch, lines=lines, rejects=rejects, position=handle.tell())

        for block in reader:
            # The handler has seen every invalid row of this block by now.
            pending.extend(invalid)
            invalid.clear()
            pending.sort(key=lambda r: r.line)
            buffer.append(block)
            buffered += block.num_rows
            while buffered >= chunk_rows:
                table = pa.Table.from_batches(buffer)
                head = table.slice(0, chunk_rows).combine_chunks()
                buffer = table.slice(chunk_rows).combine_chunks().to_batches()
                buffered -= chunk_rows
                chunk = emit(head.to_batches()[0])
                if chunk is not None:
                    yield chunk
        if buffered:
            chunk = emit(pa.Table.from_batches(buffer).combine_chunks().to_batches()[0])
            if chunk is not None:
                yield chunk
        pending.extend(invalid)
        pending = [r for r in pending if r.line >= first_line]
        if pending:
            yield Chunk(rejects=sorted(pending, key=lambda r: r.line), position=handle.tell())


def _read_csv_python(path: Path, chunk_rows: int, first_line: int) -> Iterator[Chunk]:
    """CSV chunks read by Python's :mod:`csv` (slow; the fallback for rows pyarrow cannot
    report), from line ``first_line`` on, with the same line numbers and rejects."""
    limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)
    try:
        with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
            reader = csv.reader(handle)
            names = next(reader, None)
            if names is None:
                return
            names = [_replace_broken(n) for n in names]
            rows: list[tuple[int, dict[str, Any]]] = []
            rejects: list[BadRow] = []
            for line, cells in enumerate(reader, start=2):
                if line < first_line or not any(cells):
                    continue  # given out already, or a blank row
                if any(_broken(c) for c in cells):
                    text = {n: _replace_broken(c) for n, c in zip(names, cells, strict=False)}
                    rejects.append(BadRow(line, "row is not valid UTF-8 text", text))
                elif len(cells) != len(names):
                    reason = f"row has {len(cells)} fields; expected {len(names)}"
                    rejects.append(BadRow(line, reason, {"text": ",".join(cells)}))
                else:
                    rows.append((line, dict(zip(names, cells, strict=True))))
                if len(rows) + len(rejects) >= chunk_rows:
                    # (position: text files cannot tell() while iterated; the
                    # byte progress bar then jumps to the end after the last chunk)
                    yield Chunk(rows=rows, rejects=rejects, position=0)
                    rows, rejects = [], []
            if rows or rejects:
                yield Chunk(rows=rows, rejects=rejects, position=path.stat().st_size)
    except csv.Error as exc:
        raise ValidationError(
            "path", str(path), f"a CSV file (it stopped near line {first_line}: {exc})"
        ) from None
    finally:
        csv.field_size_limit(limit)


def _broken(text: str) -> bool:
    """Whether text read with ``surrogateescape`` held bytes that are not UTF-8."""
    return not text.isascii() and any("\udc80" <= ch <= "\udcff" for ch in text)


def _replace_broken(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _as_text(
    batch: pa.RecordBatch, lines: np.ndarray
) -> tuple[pa.RecordBatch, np.ndarray, list[BadRow]]:
    """The batch with text columns; rows that are not valid UTF-8 become rejects."""
    try:
        columns = [c.cast(pa.string()) for c in batch.columns]
        return pa.RecordBatch.from_arrays(columns, names=batch.schema.names), lines, []
    except pa.ArrowInvalid:
        pass
    # Rare: find the broken rows one by one (only in a batch that has some).
    bad = np.zeros(batch.num_rows, dtype=bool)
    for column in batch.columns:
        for i, value in enumerate(column.to_pylist()):
            if value is not None and not bad[i]:
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError:
                    bad[i] = True
    rows = batch.filter(pa.array(bad)).to_pylist()
    rejects = [
        BadRow(
            int(line),
            "row is not valid UTF-8 text",
            {k: None if v is None else v.decode("utf-8", "replace") for k, v in row.items()},
        )
        for line, row in zip(lines[bad], rows, strict=True)
    ]
    keep = batch.filter(pa.array(~bad))
    columns = [c.cast(pa.string()) for c in keep.columns]
    good = pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
    return good, lines[~bad], rejects


def _drop_blank_rows(batch: pa.RecordBatch, lines: np.ndarray) -> tuple[pa.RecordBatch, Any]:
    """Leave out rows whose every field is empty (blank lines carry nothing to import)."""
    blank = None
    for column in batch.columns:
        empty = pc.equal(pc.utf8_length(column.fill_null("")), 0)
        blank = empty if blank is None else pc.and_(blank, empty)
    if blank is None or not pc.any(blank).as_py():
        return batch, lines
    keep = pc.invert(blank)
    return batch.filter(keep), lines[keep.to_numpy(zero_copy_only=False)]


def _assign_lines(first: int, n: int, skipped: list[int]) -> np.ndarray:
    """Lines of ``n`` consecutive rows from line ``first`` on, jumping over ``skipped``.

    ``skipped`` (sorted) holds the lines of rows that were not read as rows.
    """
    lines = np.arange(first, first + n, dtype=np.int64)
    if not skipped or skipped[0] > first + n - 1 + len(skipped):
        return lines
    line, k = first, 0
    for i in range(n):
        while k < len(skipped) and skipped[k] <= line:
            if skipped[k] == line:
                line += 1
            k += 1
        lines[i] = line
        line += 1
    return lines
