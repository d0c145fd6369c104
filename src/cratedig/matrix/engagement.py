"""The weighted user x artist engagement matrix, built from the store.

How a matrix is built (see ``docs/engagement.md``):

1. Each pair's weighted events (``count * weight * play_factor * decay``, see
   :mod:`cratedig.matrix.weights`) are summed and its last interaction time taken,
   either by the database (``GROUP BY``) or, for SQLite files, by polars over Arrow
   batches streamed from one table scan (:mod:`cratedig.matrix.aggregate`); nothing
   loops over rows in Python.
2. Unfollows (``unfollow_policy``): ``"remove"`` (default) drops every follow of a pair
   made at or before the pair's last unfollow, so the follow contribution becomes 0 while
   plays, likes... of the artist stay; a re-follow after the unfollow counts again.
   ``"negative"`` adds the unfollow's negative weight instead. With either policy a pair
   whose last unfollow is not followed by a re-follow, and lies within ``block_days`` of
   ``now_ms``, is marked in :attr:`Engagement.blocked` (not to be recommended back).
   ``"ignore"`` reads no unfollows and blocks nothing.
3. Negative sums are clipped to 0 and zero pairs dropped; then the user/artist minimum
   interaction filters run; then the ids are sorted into the maps; then the transform.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp
from sqlalchemy import Connection, Engine

from cratedig.clock import now_ms as wall_clock_ms
from cratedig.config import Settings
from cratedig.exceptions import ValidationError
from cratedig.matrix.aggregate import Encoder, can_stream, read_sql, read_stream
from cratedig.matrix.idmap import IdMap
from cratedig.matrix.transforms import apply_transform, filter_min_interactions
from cratedig.matrix.weights import DAY_MS, EngagementConfig
from cratedig.store.quality import excluded_periods
from cratedig.store.reads import latest_event_ms

#: Sums whose absolute value is below this are numerically zero (e.g. a follow and
#: an unfollow of the same age under the "negative" policy).
ZERO = 1e-9
Strategy = Literal["auto", "sql", "stream"]


@dataclass
class Engagement:
    """An engagement matrix and everything needed to read it.

    Attributes
    ----------
    X
        Users x artists CSR ``float32``, positive values only, sorted indices.
    users, artists
        Row and column id maps (ids sorted).
    blocked
        Users x artists CSR ``bool``: pairs not to recommend back (recent unfollows).
    last_ms
        Users x artists CSR ``int64`` with exactly ``X``'s structure: the time of each
        pair's last weighted interaction (ms since the epoch, UTC), for time splits.
    built_at_ms
        The "as of" time: every event at or before it is in the matrix, none after.
        Events newer than this are what :func:`cratedig.matrix.recent.recent_activity`
        reads between retrains.
    config
        The configuration used.
    """

    X: sp.csr_matrix
    users: IdMap
    artists: IdMap
    blocked: sp.csr_matrix
    last_ms: sp.csr_matrix
    built_at_ms: int
    config: EngagementConfig = field(default_factory=EngagementConfig)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_users, n_artists)``."""
        return (len(self.users), len(self.artists))

    def save(self, path: str | Path) -> None:
        """Write the matrices (``.npz``), the maps (text) and the config (JSON) to a folder."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        sp.save_npz(folder / "X.npz", self.X)
        sp.save_npz(folder / "blocked.npz", self.blocked)
        sp.save_npz(folder / "last_ms.npz", self.last_ms)
        self.users.save(folder / "users.txt")
        self.artists.save(folder / "artists.txt")
        meta = {"built_at_ms": self.built_at_ms, "config": self.config.as_record()}
        (folder / "engagement.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Engagement:
        """Read an engagement written by :meth:`save`."""
        folder = Path(path)
        meta = json.loads((folder / "engagement.json").read_text(encoding="utf-8"))
        return cls(
            X=sp.csr_matrix(sp.load_npz(folder / "X.npz")),
            users=IdMap.load(folder / "users.txt"),
            artists=IdMap.load(folder / "artists.txt"),
            blocked=sp.csr_matrix(sp.load_npz(folder / "blocked.npz")),
            last_ms=sp.csr_matrix(sp.load_npz(folder / "last_ms.npz")),
            built_at_ms=int(meta["built_at_ms"]),
            config=EngagementConfig.from_record(meta["config"]),
        )


def _ensure_power(conn: Connection) -> None:
    """Register ``power()`` on SQLite builds compiled without the math functions."""
    if conn.dialect.name != "sqlite":
        return
    try:
        conn.exec_driver_sql("SELECT power(0.5, 2.0)")
    except Exception:  # sqlite3.OperationalError: no such function
        import math

        raw = conn.connection.driver_connection
        raw.create_function("power", 2, math.pow, deterministic=True)  # type: ignore[union-attr]


def _blocked_keys(state: pl.DataFrame, config: EngagementConfig, now_ms: int) -> pl.Series:
    """Keys of pairs whose last unfollow has no later re-follow, within ``block_days``."""
    if config.unfollow_policy == "ignore" or config.block_days == 0:
        return pl.Series("key", [], dtype=pl.UInt64)
    unfollowed = pl.col("last_unfollow_ms").is_not_null() & (
        pl.col("last_follow_ms").is_null()
        | (pl.col("last_follow_ms") <= pl.col("last_unfollow_ms"))
    )
    if config.block_days is not None:
        window_start = now_ms - config.block_days * DAY_MS
        unfollowed = unfollowed & (pl.col("last_unfollow_ms") >= window_start)
    return state.filter(unfollowed).get_column("key")


def _sorted_index(
    codes: npt.NDArray[np.int64], ids: pl.Series
) -> tuple[npt.NDArray[np.int64], list[str]]:
    """Map the codes in use to indices ``0..n-1`` in sorted-id order.

    Returns the code -> index array (``-1`` for codes not in use) and the sorted ids.
    """
    used = np.unique(codes)
    names = ids.gather(used)
    order = names.arg_sort().to_numpy()
    remap = np.full(len(ids), -1, dtype=np.int64)
    remap[used[order]] = np.arange(len(used), dtype=np.int64)
    return remap, names.gather(order).to_list()


def _split_key(keys: pl.Series) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    k = keys.to_numpy().astype(np.uint64)
    return (k >> np.uint64(32)).astype(np.int64), (k & np.uint64(0xFFFFFFFF)).astype(np.int64)


def _csr(
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    data: npt.NDArray[Any],
    shape: tuple[int, int],
) -> sp.csr_matrix:
    """CSR from row-major sorted, duplicate-free coordinates (structure kept as given)."""
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    index_dtype = np.int32 if max(shape) < 2**31 and len(data) < 2**31 else np.int64
    return sp.csr_matrix(
        (data, cols.astype(index_dtype), indptr.astype(index_dtype)), shape=shape, copy=False
    )


def build_engagement(
    engine: Engine, config: EngagementConfig | None = None, *, strategy: Strategy = "auto"
) -> Engagement:
    """Build the weighted users x artists engagement matrix from the store.

    Parameters
    ----------
    engine
        The store (SQLite or PostgreSQL).
    config
        How to weigh, decay, filter and transform; :class:`EngagementConfig` defaults
        (``cratedig.events.DEFAULT_WEIGHTS``) when ``None``.
    strategy
        ``"sql"``: the database aggregates (``GROUP BY``). ``"stream"``: a SQLite file
        streams weighted rows in batches and polars aggregates
        them (much faster on SQLite). ``"auto"``: stream when possible.
        Both give the same matrix.

    Returns
    -------
    Engagement
        ``X`` with the users and artists that have at least one positive weighted
        interaction after the filters, ids sorted; ``blocked``; ``last_ms``.

    Notes
    -----
    Unfollow policy "remove" (default): an unfollow cancels all earlier follows of the
    pair (that pair's follow contribution becomes 0; its other engagement stays) and
    blocks the pair for ``block_days``; a later re-follow counts again and unblocks.
    Negative sums (policy "negative") are clipped to 0 before any transform.
    """
    config = config or EngagementConfig()
    if strategy not in ("auto", "sql", "stream"):
        raise ValidationError("strategy", strategy, "'auto', 'sql' or 'stream'")
    streamable = can_stream(engine)
    if strategy == "stream" and not streamable:
        raise ValidationError("strategy", strategy, "'sql' unless the store is a SQLite file")
    stream = strategy == "stream" or (strategy == "auto" and streamable)
    user_codes, artist_codes = Encoder(), Encoder()
    with engine.connect() as conn:
        # "as of": the last event, but never later than the wall clock (one far-future
        # event must not become every later version's snapshot time)
        now_ms = config.now_ms if config.now_ms is not None else latest_event_ms(conn)
        if now_ms is None:  # no events at all
            return _empty(config, wall_clock_ms())
        if config.now_ms is None:
            now_ms = min(now_ms, wall_clock_ms())
        if not stream:
            if config.half_life_days is not None:
                _ensure_power(conn)
            sums, state = read_sql(conn, config, now_ms, user_codes, artist_codes)
    if stream:
        sums, state = read_stream(engine, config, now_ms, user_codes, artist_codes)
    return assemble(sums, state, user_codes.ids, artist_codes.ids, config, now_ms)


def assemble(
    sums: pl.DataFrame,
    state: pl.DataFrame,
    users_by_code: pl.Series,
    artists_by_code: pl.Series,
    config: EngagementConfig,
    now_ms: int,
) -> Engagement:
    """Steps 3 and after of the build: clip, filter, sort the ids, transform, block.

    Shared by :func:`build_engagement` and the Spark build (``cratedig.spark``).

    Parameters
    ----------
    sums, state
        Pair sums (``PAIR_SCHEMA``) and follow state (``STATE_SCHEMA``) of
        :mod:`cratedig.matrix.aggregate`, keyed by ``user_code << 32 | artist_code``.
    users_by_code, artists_by_code
        The id of every code, in code order.
    """
    pairs = sums.filter(pl.col("value") > ZERO)  # clip negatives to 0, drop zeros
    u, a = _split_key(pairs.get_column("key"))
    pairs = pairs.with_columns(u=pl.Series(u), a=pl.Series(a))
    pairs = filter_min_interactions(
        pairs,
        config.min_user_interactions,
        config.min_artist_interactions,
        config.filter_until_stable,
        user_col="u",
        artist_col="a",
    )
    user_remap, user_ids = _sorted_index(pairs.get_column("u").to_numpy(), users_by_code)
    artist_remap, artist_ids = _sorted_index(pairs.get_column("a").to_numpy(), artists_by_code)
    shape = (len(user_ids), len(artist_ids))

    rows = user_remap[pairs.get_column("u").to_numpy()]
    cols = artist_remap[pairs.get_column("a").to_numpy()]
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    X = _csr(rows, cols, pairs.get_column("value").to_numpy()[order], shape)
    X = apply_transform(X, config.transform, config.bm25_k1, config.bm25_b)
    X.data = X.data.astype(np.float32)
    last_ms = _csr(
        rows, cols, pairs.get_column("last_ms").to_numpy()[order].astype(np.int64), shape
    )
    del pairs, order

    b_user, b_artist = _split_key(_blocked_keys(state, config, now_ms))
    b_rows, b_cols = user_remap[b_user], artist_remap[b_artist]  # -1: filtered out
    keep = (b_rows >= 0) & (b_cols >= 0)
    b_rows, b_cols = b_rows[keep], b_cols[keep]
    b_order = np.lexsort((b_cols, b_rows))
    blocked = _csr(b_rows[b_order], b_cols[b_order], np.ones(len(b_order), dtype=bool), shape)
    return Engagement(
        X=X,
        users=IdMap(user_ids),
        artists=IdMap(artist_ids),
        blocked=blocked,
        last_ms=last_ms,
        built_at_ms=int(now_ms),
        config=config,
    )


def store_config(engine: Engine, settings: Settings, **overrides: Any) -> EngagementConfig:
    """The settings' configuration plus the periods people excluded in this store.

    :meth:`EngagementConfig.from_settings` with ``excluded_periods`` read from the
    store's decisions (:func:`cratedig.store.quality.excluded_periods`): what ``train``,
    ``evaluate`` and the other commands that build the matrix from the store use.
    """
    overrides.setdefault("excluded_periods", tuple(excluded_periods(engine)))
    return EngagementConfig.from_settings(settings, **overrides)


def _empty(config: EngagementConfig, now_ms: int) -> Engagement:
    return Engagement(
        X=sp.csr_matrix((0, 0), dtype=np.float32),
        users=IdMap([]),
        artists=IdMap([]),
        blocked=sp.csr_matrix((0, 0), dtype=bool),
        last_ms=sp.csr_matrix((0, 0), dtype=np.int64),
        built_at_ms=now_ms,
        config=config,
    )


__all__ = ["Engagement", "EngagementConfig", "build_engagement", "store_config"]
