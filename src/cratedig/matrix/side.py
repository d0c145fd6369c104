"""Side information for models, indexed like the engagement matrix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp
from sqlalchemy import Connection, Engine, select

from cratedig.matrix.idmap import IdMap
from cratedig.store import schema


@dataclass
class SideInfo:
    """What models may know besides the engagement matrix.

    Every part is optional; indices follow the matrix's user and artist maps.

    Attributes
    ----------
    artist_tags
        Artists x tags CSR matrix of tag weights (how many users applied the tag).
    tag_names
        The tag of each column of ``artist_tags``.
    user_country
        Country index of each user, ``-1`` when unknown.
    country_names
        The country of each country index.
    friends
        Users x users CSR adjacency matrix (1 where a friendship exists).
    artist_names
        Display name of each artist (for explanations), or empty.
    """

    artist_tags: sp.csr_matrix | None = None
    tag_names: list[str] = field(default_factory=list)
    user_country: npt.NDArray[np.int64] | None = None
    country_names: list[str] = field(default_factory=list)
    friends: sp.csr_matrix | None = None
    artist_names: list[str] = field(default_factory=list)


def _read(conn: Connection, stmt: Any, schema: dict[str, Any]) -> pl.DataFrame:
    frame = pl.read_database(stmt, conn, schema_overrides=schema)
    if frame.is_empty():
        return pl.DataFrame(schema=schema)
    return frame.select(list(schema)).cast(schema)  # type: ignore[arg-type]


def _index_frame(ids: IdMap, column: str, index: str) -> pl.DataFrame:
    return pl.DataFrame(
        {column: ids.ids, index: np.arange(len(ids), dtype=np.int64)},
        schema={column: pl.String, index: pl.Int64},
    )


def build_side_info(engine: Engine, users: IdMap, artists: IdMap) -> SideInfo:
    """Read the side information of the given users and artists from the store.

    Parameters
    ----------
    engine
        The store.
    users, artists
        The engagement matrix's maps; every part of the result follows their indices.

    Returns
    -------
    SideInfo
        ``artist_tags`` (artists x tags, the ``artist_tags.weight`` of each tag; tags
        sorted by name, only tags of the given artists), ``user_country`` (index into
        the sorted ``country_names``, -1 when unknown), ``friends`` (users x users,
        symmetric: a friendship stored in either direction counts, self-links dropped,
        friends outside ``users`` ignored) and ``artist_names`` (the artist id when the
        name is unknown).
    """
    user_index = _index_frame(users, "user_id", "u")
    artist_index = _index_frame(artists, "artist_id", "a")
    with engine.connect() as conn:
        tags = _read(
            conn,
            select(
                schema.artist_tags.c.artist_id,
                schema.artist_tags.c.tag,
                schema.artist_tags.c.weight,
            ),
            {"artist_id": pl.String, "tag": pl.String, "weight": pl.Float64},
        )
        countries = _read(
            conn,
            select(schema.users.c.user_id, schema.users.c.country),
            {"user_id": pl.String, "country": pl.String},
        )
        friends = _read(
            conn,
            select(schema.user_friends.c.user_id, schema.user_friends.c.friend_id),
            {"user_id": pl.String, "friend_id": pl.String},
        )
        names = _read(
            conn,
            select(schema.artists.c.artist_id, schema.artists.c.name),
            {"artist_id": pl.String, "name": pl.String},
        )

    tags = tags.join(artist_index, on="artist_id", how="inner")
    tag_names = tags.get_column("tag").unique().sort().to_list()
    tag_index = pl.DataFrame(
        {"tag": tag_names, "t": np.arange(len(tag_names), dtype=np.int64)},
        schema={"tag": pl.String, "t": pl.Int64},
    )
    tags = tags.join(tag_index, on="tag", how="inner")
    artist_tags = sp.csr_matrix(
        (
            tags.get_column("weight").fill_null(1.0).to_numpy(),
            (tags.get_column("a").to_numpy(), tags.get_column("t").to_numpy()),
        ),
        shape=(len(artists), len(tag_names)),
    )

    cleaned = pl.col("country").str.strip_chars()
    countries = user_index.join(countries, on="user_id", how="left").with_columns(
        country=pl.when(cleaned != "").then(cleaned)
    )
    country_names = countries.get_column("country").drop_nulls().unique().sort().to_list()
    country_index = pl.DataFrame(
        {"country": country_names, "c": np.arange(len(country_names), dtype=np.int64)},
        schema={"country": pl.String, "c": pl.Int64},
    )
    user_country = (
        countries.join(country_index, on="country", how="left")
        .sort("u")
        .get_column("c")
        .fill_null(-1)
        .to_numpy()
        .astype(np.int64)
    )

    links = (
        friends.join(user_index, on="user_id", how="inner")
        .join(user_index.rename({"user_id": "friend_id", "u": "f"}), on="friend_id", how="inner")
        .filter(pl.col("u") != pl.col("f"))
    )
    rows = links.get_column("u").to_numpy()
    cols = links.get_column("f").to_numpy()
    adjacency = sp.csr_matrix(
        (np.ones(2 * len(rows), dtype=np.float32), (np.r_[rows, cols], np.r_[cols, rows])),
        shape=(len(users), len(users)),
    )
    adjacency.data[:] = 1.0  # duplicates (both directions stored) summed to 2
    adjacency.eliminate_zeros()

    names = artist_index.join(names, on="artist_id", how="left").sort("a")
    artist_names = names.select(pl.coalesce("name", "artist_id")).to_series().to_list()
    return SideInfo(
        artist_tags=artist_tags,
        tag_names=tag_names,
        user_country=user_country,
        country_names=country_names,
        friends=adjacency,
        artist_names=artist_names,
    )
