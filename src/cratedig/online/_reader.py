"""Reading query results into polars frames (ids as categoricals).

Reads go through connectorx (Arrow; no Python object per value). On PostgreSQL it
runs in this process, a record batch at a time. On SQLite it runs in a **child
process** that streams Arrow record batches back over a pipe: connectorx carries its
own copy of the SQLite library, and two copies in one process share the file's POSIX
locks (closing one's file handle drops the other's locks), so it must not open the
file here. Each batch is turned into a frame as it arrives, so the child and this
process work at the same time. When connectorx is unusable (an in-memory SQLite
store, no connectorx) the standard driver reads in large batches.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl
from sqlalchemy import Engine

CAT = pl.Categorical

#: rows per Arrow record batch streamed from the SQLite reader process
STREAM_ROWS = 200_000

#: The SQLite reader process: each query's rows as an Arrow IPC stream on stdout,
#: one stream after the other (``argv[3]``: JSON ``[[sql, [column, ...]], ...]``). The
#: named columns (the ones read as categoricals) are sent dictionary-encoded, each batch
#: with its own dictionary (polars reads them as categoricals, so the ids are hashed
#: here, in parallel with the parent's work), and the stream is LZ4-compressed: the
#: parent then decompresses every buffer into its own allocation, so the integer
#: columns it keeps do not pin the whole message body (strings included) of a batch.
_SQLITE_READER = """
import json, sys
import connectorx as cx
import pyarrow as pa
options = pa.ipc.IpcWriteOptions(compression="lz4")
def encoded(batch, names):
    cols = [c.dictionary_encode() if name in names and (pa.types.is_string(c.type)
            or pa.types.is_large_string(c.type)) else c
            for name, c in zip(batch.schema.names, batch.columns)]
    return pa.record_batch(cols, names=batch.schema.names)
for sql, names in json.loads(sys.argv[3]):
    reader = cx.read_sql(sys.argv[1], sql, return_type="arrow_stream",
                         batch_size=int(sys.argv[2]))
    writer = None
    for batch in reader:
        batch = encoded(batch, set(names))
        writer = writer or pa.ipc.new_stream(sys.stdout.buffer, batch.schema, options=options)
        writer.write_batch(batch)
    (writer or pa.ipc.new_stream(sys.stdout.buffer, reader.schema, options=options)).close()
sys.stdout.buffer.flush()
"""


def _connectorx_uri(engine: Engine) -> str | None:
    """The connectorx address of the store (``None`` when connectorx cannot read it)."""
    try:
        import connectorx  # noqa: F401
    except ImportError:  # pragma: no cover - a dependency
        return None
    if engine.url.get_backend_name() == "postgresql":
        return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    if in_memory(engine):
        return None
    return "sqlite://" + quote(str(Path(str(engine.url.database)).resolve()))


def in_memory(engine: Engine) -> bool:
    """Whether the store is an in-memory SQLite database (one connection, per thread)."""
    return engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:")


def later(function: Callable[..., Any], engine: Engine, *args: Any) -> Callable[[], Any]:
    """``function(engine, *args)`` in a background thread (the function returned waits
    for it). An in-memory SQLite store, whose one connection is not for sharing
    between threads, is read at once."""
    if in_memory(engine):
        found = function(engine, *args)
        return lambda: found
    pool = ThreadPoolExecutor(1)
    future = pool.submit(function, engine, *args)
    pool.shutdown(wait=False)
    return future.result


def _typed(frame: pl.DataFrame, schema: Mapping[str, Any]) -> pl.DataFrame:
    """``frame``'s columns (in ``schema``'s order) cast to ``schema``."""
    frame.columns = list(schema)
    return frame.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])


def _read_dbapi(engine: Engine, sql: str, schema: Mapping[str, Any]) -> pl.DataFrame:
    """Read through the engine's DB-API cursor in batches, one frame per batch."""
    frames = []
    names = list(schema)
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(sql)
        while rows := cursor.fetchmany(STREAM_ROWS):
            frames.append(_typed(pl.DataFrame(rows, schema=names, orient="row"), schema))
        cursor.close()
    return pl.concat(frames) if frames else pl.DataFrame(schema=dict(schema))


def _read_sqlite_child(
    uri: str,
    queries: Sequence[tuple[str, Mapping[str, Any]]],
    on_frame: Callable[[int, pl.DataFrame], None] | None = None,
) -> list[pl.DataFrame] | None:
    """Read ``queries`` (sql, schema) through connectorx in one child process (see the
    module docstring); ``None`` when it fails (the caller falls back to the driver).
    ``on_frame(i, frame)`` is called as each query's frame is complete."""
    import pyarrow as pa

    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _SQLITE_READER,
            uri,
            str(STREAM_ROWS),
            json.dumps([[q, [c for c, t in schema.items() if t == CAT]] for q, schema in queries]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    out: list[pl.DataFrame] = []
    try:
        for i, (_, schema) in enumerate(queries):
            frames = [
                _typed(pl.from_arrow(batch), schema)  # type: ignore[arg-type]
                for batch in pa.ipc.open_stream(proc.stdout)
            ]
            out.append(pl.concat(frames) if frames else pl.DataFrame(schema=dict(schema)))
            del frames
            if on_frame is not None:
                on_frame(i, out[-1])
    except (pa.ArrowInvalid, OSError):
        out = []
    finally:
        proc.stdout.close()
        code = proc.wait()
    return out if code == 0 and len(out) == len(queries) else None


def read_sql(engine: Engine, sql: str, schema: Mapping[str, Any]) -> pl.DataFrame:
    """Run ``sql`` (with only integer literals inlined, no parameters) into a frame
    whose columns are cast to ``schema`` (empty results come back typed).

    The query's columns must be those of ``schema``, in order. Nullable strings are
    selected as ``COALESCE(x, '')`` and :func:`_nulls` puts the NULLs back.
    """
    return read_many(engine, [(sql, schema)])[0]


def read_many(
    engine: Engine, queries: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[pl.DataFrame]:
    """:func:`read_sql` of several queries (on SQLite, through one reader process)."""
    uri = _connectorx_uri(engine)
    if uri is not None and engine.url.get_backend_name() != "postgresql":
        frames = _read_sqlite_child(uri, queries)
        if frames is not None:
            return frames
        uri = None
    if uri is None:
        return [_read_dbapi(engine, sql, schema) for sql, schema in queries]
    return [_read_postgres(uri, sql, schema) for sql, schema in queries]


def _read_postgres(uri: str, sql: str, schema: Mapping[str, Any]) -> pl.DataFrame:
    """Read ``sql`` through connectorx in this process, a record batch at a time, each
    batch typed (ids as categoricals) as it comes: the whole result as Arrow strings at
    once peaked at 2.6 GB in a full refresh over 10M events, this at 1.3 GB."""
    import connectorx as cx

    reader = cx.read_sql(uri, sql, return_type="arrow_stream", batch_size=STREAM_ROWS)
    frames = [_typed(pl.from_arrow(batch), schema) for batch in reader]  # type: ignore[arg-type]
    return pl.concat(frames) if frames else pl.DataFrame(schema=dict(schema))


def read_soon(
    engine: Engine, queries: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[Callable[[], pl.DataFrame]]:
    """:func:`read_many` of ``queries`` in a background thread (on SQLite it drives a
    reader process of its own), so this process can work meanwhile: one function per
    query, which waits for that query's frame (the first is ready before the last is
    read). A store connectorx cannot read (an in-memory SQLite store, whose
    connections are per thread) is read at once."""
    if not queries or _connectorx_uri(engine) is None:
        frames = read_many(engine, queries) if queries else []
        return [functools.partial(lambda frame: frame, frame) for frame in frames]
    futures: list[Future[pl.DataFrame]] = [Future() for _ in queries]

    def read() -> None:
        try:
            uri = _connectorx_uri(engine)
            if uri is not None and engine.url.get_backend_name() != "postgresql":
                _read_sqlite_child(uri, queries, lambda i, frame: futures[i].set_result(frame))
            for future, (sql, schema) in zip(futures, queries, strict=True):
                if not future.done():  # PostgreSQL, or the reader process failed
                    future.set_result(read_many(engine, [(sql, schema)])[0])
        except BaseException as error:  # handed to whoever waits for a frame
            for future in futures:
                if not future.done():
                    future.set_exception(error)

    threading.Thread(target=read, name="online-reader", daemon=True).start()
    return [future.result for future in futures]
