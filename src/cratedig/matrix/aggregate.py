"""Reading weighted pair sums out of the store, two ways, into integer-coded polars frames.

* ``"sql"`` (any database; the default on PostgreSQL): the database does the
  ``GROUP BY user_id, artist_id`` and returns one row per pair.
* ``"stream"`` (SQLite files): SQLite only computes each
  row's weight (a cheap scan) and streams the rows out as Arrow batches; polars groups
  them. SQLite's own ``GROUP BY`` sorts on the string ids and is several times slower
  than a hash aggregation in polars on integer codes (about 15 s versus 3 s of CPU for
  10 million events), which is why this path exists.

Either way, ids are turned into integer codes batch by batch (:class:`Encoder`) and
pairs are kept as one ``UInt64`` key ``user_code << 32 | artist_code``, so memory follows
the number of pairs, not of events or of id bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, and_, case, func, literal, or_, select

from cratedig.events import EventType
from cratedig.matrix.rules import aggregation_plan
from cratedig.matrix.weights import EngagementConfig, kept_events, row_weight, weighted_types
from cratedig.store.schema import user_events

BATCH_ROWS = 500_000
FOLLOW_KINDS = {EventType.FOLLOW_ARTIST: 1, EventType.UNFOLLOW_ARTIST: 2}
#: One pair per row: codes packed into ``key``, the weighted sum and the last time.
PAIR_SCHEMA = {"key": pl.UInt64, "value": pl.Float64, "last_ms": pl.Int64}
#: Follow-state per pair: last follow and last unfollow time (either may be null).
STATE_SCHEMA = {"key": pl.UInt64, "last_follow_ms": pl.Int64, "last_unfollow_ms": pl.Int64}


class Encoder:
    """Assigns integer codes (0, 1, 2... in order of first sight) to string ids."""

    def __init__(self) -> None:
        self._map = pl.DataFrame(schema={"id": pl.String, "code": pl.UInt32})

    def encode(self, ids: pl.Series) -> pl.Series:
        """The code of every id (new ids get new codes)."""
        frame = ids.rename("id").cast(pl.String).to_frame()
        new = frame.unique().join(self._map, on="id", how="anti")
        if new.height:
            start = self._map.height
            new = new.sort("id").with_columns(
                code=pl.int_range(start, start + new.height, dtype=pl.UInt32)
            )
            self._map = pl.concat([self._map, new])
        joined = frame.join(self._map, on="id", how="left", maintain_order="left")
        return joined.get_column("code")

    @property
    def ids(self) -> pl.Series:
        """The id of every code, in code order."""
        return self._map.sort("code").get_column("id")


def pair_key(users: Encoder, artists: Encoder, frame: pl.DataFrame) -> pl.Series:
    """The packed ``UInt64`` pair key of each row of a frame with user_id/artist_id."""
    u = users.encode(frame.get_column("user_id")).cast(pl.UInt64)
    a = artists.encode(frame.get_column("artist_id")).cast(pl.UInt64)
    return (u * (1 << 32) + a).rename("key")


class PairSums:
    """Accumulates (key, value, last_ms) rows into one row per key, batch by batch."""

    def __init__(self) -> None:
        self._parts: list[pl.DataFrame] = []
        self._pending = 0
        self._compacted = 0

    def add(self, part: pl.DataFrame) -> None:
        """Add rows with columns key, value, last_ms (grouped at once)."""
        grouped = _group(part)
        self._parts.append(grouped)
        self._pending += grouped.height
        if self._pending > max(5_000_000, 3 * self._compacted):
            self._compact()

    def _compact(self) -> None:
        if self._parts:
            merged = _group(pl.concat(self._parts))
            self._parts = [merged]
            self._compacted = merged.height
            self._pending = 0

    def result(self) -> pl.DataFrame:
        """One row per key: the summed value and the latest time."""
        self._compact()
        return self._parts[0] if self._parts else pl.DataFrame(schema=PAIR_SCHEMA)


def _group(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.group_by("key").agg(pl.col("value").sum(), pl.col("last_ms").max())


def _state(frame: pl.DataFrame) -> pl.DataFrame:
    """Follow state per pair from rows with key, kind (1 follow, 2 unfollow), t."""
    return frame.group_by("key").agg(
        last_follow_ms=pl.col("t").filter(pl.col("kind") == 1).max(),
        last_unfollow_ms=pl.col("t").filter(pl.col("kind") == 2).max(),
    )


def _sql_batches(conn: Connection, stmt: Any) -> Iterator[pl.DataFrame]:
    result = conn.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(stmt)
    names = list(result.keys())
    for rows in result.partitions():
        yield pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)


def read_sql(
    conn: Connection, config: EngagementConfig, now_ms: int, users: Encoder, artists: Encoder
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Pair sums and follow state, aggregated by the database.

    Under the "remove" policy the sums include only follows made after the pair's last
    unfollow. The state holds the pairs with at least one unfollow.
    """
    ev = user_events.c
    plan = aggregation_plan(config)
    types = list(plan.summed_types)
    sums = PairSums()
    queries = []
    if types:
        queries.append(
            select(
                ev.user_id,
                ev.artist_id,
                func.sum(row_weight(config, types, now_ms)).label("value"),
                func.max(ev.occurred_at_ms).label("last_ms"),
            )
            .where(
                ev.artist_id.is_not(None),
                ev.event_type.in_(types),
                ev.occurred_at_ms <= now_ms,
                *_kept(config),
            )
            .group_by(ev.user_id, ev.artist_id)
        )
    state_query = _state_query(config, now_ms)
    if plan.follows_after_unfollow:
        queries.append(_follows_after_unfollow(config, now_ms, state_query))
    for query in queries:
        for batch in _sql_batches(conn, query):
            key = pair_key(users, artists, batch)
            sums.add(
                batch.select(
                    key, pl.col("value").cast(pl.Float64), pl.col("last_ms").cast(pl.Int64)
                )
            )
    states = []
    if plan.read_state:
        for batch in _sql_batches(conn, state_query):
            key = pair_key(users, artists, batch)
            states.append(
                batch.select(key, pl.col("last_follow_ms", "last_unfollow_ms").cast(pl.Int64))
            )
    state = pl.concat(states) if states else pl.DataFrame(schema=STATE_SCHEMA)
    return sums.result(), state


def _kept(config: EngagementConfig) -> list[Any]:
    """The excluded-periods filter as a list of ``WHERE`` conditions (maybe empty)."""
    kept = kept_events(config)
    return [] if kept is None else [kept]


def _state_query(config: EngagementConfig, now_ms: int) -> Any:
    ev = user_events.c
    follow = ev.event_type == EventType.FOLLOW_ARTIST
    unfollow = ev.event_type == EventType.UNFOLLOW_ARTIST
    return (
        select(
            ev.user_id,
            ev.artist_id,
            func.max(case((follow, ev.occurred_at_ms))).label("last_follow_ms"),
            func.max(case((unfollow, ev.occurred_at_ms))).label("last_unfollow_ms"),
        )
        .where(
            ev.artist_id.is_not(None),
            ev.event_type.in_(list(FOLLOW_KINDS)),
            ev.occurred_at_ms <= now_ms,
            *_kept(config),
        )
        .group_by(ev.user_id, ev.artist_id)
        .having(func.max(case((unfollow, ev.occurred_at_ms))).is_not(None))
    )


def _follows_after_unfollow(config: EngagementConfig, now_ms: int, state_query: Any) -> Any:
    ev = user_events.c
    state = state_query.subquery("unfollowed")
    joined = user_events.outerjoin(
        state, and_(state.c.user_id == ev.user_id, state.c.artist_id == ev.artist_id)
    )
    return (
        select(
            ev.user_id,
            ev.artist_id,
            func.sum(row_weight(config, [EventType.FOLLOW_ARTIST], now_ms)).label("value"),
            func.max(ev.occurred_at_ms).label("last_ms"),
        )
        .select_from(joined)
        .where(
            ev.artist_id.is_not(None),
            ev.event_type == EventType.FOLLOW_ARTIST,
            ev.occurred_at_ms <= now_ms,
            or_(state.c.last_unfollow_ms.is_(None), ev.occurred_at_ms > state.c.last_unfollow_ms),
            *_kept(config),
        )
        .group_by(ev.user_id, ev.artist_id)
    )


def can_stream(engine: Engine) -> bool:
    """Whether the "stream" path applies: a SQLite file."""
    return engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:")


def _row_batches(engine: Engine, sql: str, columns: list[str]) -> Iterator[pl.DataFrame]:
    """Rows of ``sql`` in polars batches, through the engine's own sqlite3 connection.

    The stdlib driver, not a second SQLite library (such as ADBC's bundled one), must
    read the file: two copies of SQLite in one process break each other's POSIX locks
    and WAL files ("disk I/O error", and a risk of corruption).
    """
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(sql)
        while rows := cur.fetchmany(BATCH_ROWS):
            yield pl.DataFrame(rows, schema=columns, orient="row")
        cur.close()
    finally:
        raw.close()


def read_stream(
    engine: Engine, config: EngagementConfig, now_ms: int, users: Encoder, artists: Encoder
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Pair sums and follow state from one scan of a SQLite file, grouped in polars.

    Same result as :func:`read_sql`.
    """
    ev = user_events.c
    types = set(weighted_types(config))
    if config.unfollow_policy == "ignore":
        types.discard(EventType.UNFOLLOW_ARTIST)
    else:
        types |= set(FOLLOW_KINDS)
    if not types:
        return pl.DataFrame(schema=PAIR_SCHEMA), pl.DataFrame(schema=STATE_SCHEMA)
    ordered = [t for t in FOLLOW_KINDS if t in types] + sorted(types - set(FOLLOW_KINDS))
    kind: Any = case(*[(ev.event_type == t, k) for t, k in FOLLOW_KINDS.items()], else_=0)
    if config.unfollow_policy == "ignore":  # follows are plain weighted events
        kind = literal(0)
    stmt = select(
        ev.user_id,
        ev.artist_id,
        row_weight(config, ordered, now_ms).label("value"),
        ev.occurred_at_ms.label("last_ms"),
        kind.label("kind"),
    ).where(
        ev.artist_id.is_not(None),
        ev.event_type.in_(ordered),
        ev.occurred_at_ms <= now_ms,
        *_kept(config),
    )
    sql = str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    sums = PairSums()
    follow_rows: list[pl.DataFrame] = []
    for batch in _row_batches(engine, sql, ["user_id", "artist_id", "value", "last_ms", "kind"]):
        frame = batch.select(
            pair_key(users, artists, batch),
            pl.col("value").cast(pl.Float64),
            pl.col("last_ms").cast(pl.Int64),
            pl.col("kind").cast(pl.Int8),
        )
        to_sum = frame.filter(pl.col("kind") == 0)
        if config.unfollow_policy == "negative":
            to_sum = frame
        sums.add(to_sum.select("key", "value", "last_ms"))
        follow_rows.append(frame.filter(pl.col("kind") > 0))
    follows = (
        pl.concat(follow_rows)
        if follow_rows
        else pl.DataFrame(
            schema={"key": pl.UInt64, "value": pl.Float64, "last_ms": pl.Int64, "kind": pl.Int8}
        )
    )
    state = _state(follows.rename({"last_ms": "t"}))
    if config.unfollow_policy == "remove":
        kept = follows.join(state.select("key", "last_unfollow_ms"), on="key", how="left").filter(
            (pl.col("kind") == 1)
            & (
                pl.col("last_unfollow_ms").is_null()
                | (pl.col("last_ms") > pl.col("last_unfollow_ms"))
            )
        )
        if config.weight(EventType.FOLLOW_ARTIST) != 0.0:
            sums.add(kept.select("key", "value", "last_ms"))
    state = state.filter(pl.col("last_unfollow_ms").is_not_null())
    return sums.result(), state.select(list(STATE_SCHEMA)).cast(STATE_SCHEMA)  # type: ignore[arg-type]
