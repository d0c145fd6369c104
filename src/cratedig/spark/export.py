"""Export the stored events as Parquet files partitioned by day (needs pyarrow, not Spark).

The folder is a Hive-partitioned dataset, ``DIR/day=YYYY-MM-DD/part-<batch>-<n>.parquet``
(the UTC day of ``occurred_at_ms``), with the columns of ``user_events`` typed the same
in every file; ``cratedig spark train --events parquet:DIR`` and any Parquet reader
(Spark, polars, DuckDB, pandas) read it back.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from sqlalchemy import BigInteger, Engine, Integer

from cratedig.exceptions import ValidationError
from cratedig.spark._sql import all_events
from cratedig.store.schema import user_events

BATCH_ROWS = 500_000


def arrow_schema() -> pa.Schema:
    """The Arrow schema of ``user_events`` (integers as int64, the rest as strings)."""
    fields = []
    for column in user_events.columns:
        kind = pa.int64() if isinstance(column.type, BigInteger | Integer) else pa.string()
        fields.append(pa.field(column.name, kind, nullable=bool(column.nullable)))
    return pa.schema(fields)


def export_events_parquet(
    engine: Engine, out: str | Path, *, overwrite: bool = False, batch_rows: int = BATCH_ROWS
) -> dict[str, int]:
    """Write every stored event to ``out`` as day-partitioned Parquet.

    Parameters
    ----------
    engine
        The store.
    out
        The output folder; it must be empty or absent unless ``overwrite``.
    overwrite
        Delete ``out`` first.
    batch_rows
        Rows read from the store and written per batch (memory stays bounded).

    Returns
    -------
    dict
        ``events`` written and ``days`` (partitions).
    """
    folder = Path(out)
    if folder.exists() and any(folder.iterdir()):
        if not overwrite:
            raise ValidationError("out", str(folder), "an empty or new folder (or --overwrite)")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    schema = arrow_schema()
    names = schema.names
    events = 0
    days: set[str] = set()
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=batch_rows).execute(
            all_events()
        )
        for number, rows in enumerate(result.partitions()):
            columns = list(zip(*rows, strict=True))
            table = pa.Table.from_arrays(
                [
                    pa.array(col, type=schema.field(n).type)
                    for n, col in zip(names, columns, strict=True)
                ],
                schema=schema,
            )
            day = pc.strftime(
                pc.cast(table["occurred_at_ms"], pa.timestamp("ms", tz="UTC")), format="%Y-%m-%d"
            )
            table = table.append_column("day", day)
            days.update(pc.unique(day).to_pylist())
            ds.write_dataset(
                table,
                folder,
                format="parquet",
                partitioning=ds.partitioning(pa.schema([("day", pa.string())]), flavor="hive"),
                basename_template=f"part-{number:06d}-{{i}}.parquet",
                existing_data_behavior="overwrite_or_ignore",
            )
            events += table.num_rows
    return {"events": events, "days": len(days)}
