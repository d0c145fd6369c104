"""The traffic simulator's own log: one JSON object per action, one action per line.

Every record has the same keys (``None`` where one does not apply), written with
sorted keys, so two runs of the same seed give byte-identical files:

``t``
    simulated time, milliseconds since the epoch (UTC);
``user``
    the listener's user id;
``action``
    ``fetch_list``, ``list_error``, ``examine``, ``thumb``, ``rating``, or the event
    type of an event sent (``visit``, ``recommendation_click``, ``play_track``,
    ``skip_track``, ``like_track``, ``follow_artist``, ``share_artist``, ``subscribe``);
``source``
    the event's ``source``: the ``list_id`` that led to it, or ``organic``;
``list_id``, ``list_type``, ``model_version``, ``variant``
    the list concerned, as the service answered (``variant``: the experiment arm, or
    ``None``); a ``fetch_list`` also lists its ``artists`` in position order, and its
    ``t`` is the time the service served it (in process, the service's clock follows
    the simulated time, so its impression's ``shown_at_ms`` is that ``t``);
``artist_id``, ``track_id``, ``position``
    position is 1-based, for actions on a list item;
``value``
    ``duration_ms`` of a play, +1/-1 of a thumb, 1..5 of a rating, HTTP status of a
    ``list_error``, items of a ``fetch_list``;
``affinity``
    the listener's true affinity to the artist;
``event_id``, ``session_id``
    of an event sent (the store keeps it under that id).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

import polars as pl

LOG_FIELDS: tuple[str, ...] = (
    "t",
    "user",
    "action",
    "source",
    "list_id",
    "list_type",
    "model_version",
    "variant",
    "artists",
    "artist_id",
    "track_id",
    "position",
    "value",
    "affinity",
    "event_id",
    "session_id",
)

#: Log actions that are not events sent to the service.
NON_EVENT_ACTIONS = frozenset({"fetch_list", "list_error", "examine", "thumb", "rating"})


class TrafficLog:
    """Writes log records to a JSON Lines file (or nowhere, with ``path=None``)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self._file: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8")

    def write(self, **record: Any) -> None:
        """Write one record; keys not given are ``None``."""
        if self._file is None:
            return
        row = {name: record.get(name) for name in LOG_FIELDS}
        unknown = set(record) - set(LOG_FIELDS)
        if unknown:
            raise KeyError(f"log fields {sorted(unknown)} are not in LOG_FIELDS")
        self._file.write(json.dumps(row, sort_keys=True, separators=(",", ":")) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_log(path: str | Path) -> pl.DataFrame:
    """Read a traffic log into a frame (one row per action, columns :data:`LOG_FIELDS`)."""
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "t": pl.Int64,
        "user": pl.String,
        "action": pl.String,
        "source": pl.String,
        "list_id": pl.String,
        "list_type": pl.String,
        "model_version": pl.String,
        "variant": pl.String,
        "artists": pl.List(pl.String),
        "artist_id": pl.String,
        "track_id": pl.String,
        "position": pl.Int64,
        "value": pl.Float64,
        "affinity": pl.Float64,
        "event_id": pl.String,
        "session_id": pl.String,
    }
    if Path(path).stat().st_size == 0:
        return pl.DataFrame(schema=schema)
    return pl.read_ndjson(path, schema=schema)
