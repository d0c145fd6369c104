"""Import Òscar Celma's Last.fm 1K dataset (profiles and listening log) into the store.

Two tab-separated UTF-8 files (see the dataset's ``README.txt``):

``userid-profile.tsv``
    A header line ``#id  gender  age  country  registered``, then one user per line.
    Every field but the id may be empty. Users keep their ids (``user_000001``);
    ``gender`` is ``"m"``/``"f"``; ``age`` is kept as given (the file holds a few
    implausible ages such as 3 or 103); ``registered`` (``"Aug 13, 2006"``) becomes
    ``signup_at_ms`` at UTC midnight. Profiles are upserted, so a user first seen in
    the log (a stub) gets its profile when the profile file is imported later.
``userid-timestamp-artid-artname-traid-traname.tsv``
    No header; ``userid, timestamp (ISO 8601 UTC), MusicBrainz artist id, artist
    name, MusicBrainz track id, track name``; either id may be empty. One
    ``play_track`` event per line (``count`` 1, ``duration_ms`` unknown, so
    ``None``). The artist id is the MusicBrainz id when present, else
    ``"lfm1k-ar-"`` + 24 hex digits of the SHA-256 of the exact artist name; the
    track id likewise (the name-derived id hashes the artist id and the track name,
    ``"lfm1k-tr-..."``); a line with no track at all gives an artist-level play.
    Artists and tracks are created with the first name seen. The event id is
    ``"lfm1k-"`` + a hash of (user, time, artist id, track id), so re-importing the
    log, or a longer version of it, adds only the new lines; a line repeated
    exactly is one event. Users named in the log but absent from the profile file
    become stub users (``is_stub``).

Bad lines (wrong number of fields, invalid UTF-8, a NUL character, an unreadable
time, date or age, no artist) go to the ``quarantine`` table with their line number
and reason; the good lines still go in. The log is streamed in chunks of
``chunk_rows`` lines: a chunk's new artists, tracks and stub users are written in
one transaction, then its events (validated by the bulk importer's chunk machinery)
in another, so an interrupted import is completed by running it again. Memory holds
one chunk plus the ids already seen, so the full 19-million-line log can be read;
plain or gzip-compressed (``.gz``) files are read alike.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import Engine

from cratedig.datasets.common import (
    import_event_table,
    write_quarantine,
)
from cratedig.datasets.lastfm_1k_parse import (
    ARTIST_COLUMNS,
    EVENT_COLUMNS,
    TRACK_COLUMNS,
    USER_COLUMNS,
    find_files,
    numbered_lines,
    parse_log_line,
    parse_profile_line,
)
from cratedig.exceptions import NotFoundError, ValidationError
from cratedig.ingest.progress import make_progress
from cratedig.ingest.quarantine import BadRow
from cratedig.ingest.readers import check_chunk_rows
from cratedig.store import schema
from cratedig.store.reads import table_counts
from cratedig.store.writes import insert_ignore_arrow, upsert


def import_profiles(engine: Engine, path: Path) -> dict[str, int]:
    """Upsert the users of a profile file; bad lines go to quarantine."""
    problems: list[BadRow] = []
    rows: dict[str, dict[str, Any]] = {}
    for number, line in numbered_lines(path, problems, skip_header=True):
        try:
            row = parse_profile_line(number, line)
        except ValidationError as exc:
            problems.append(BadRow(number, str(exc), line))
            continue
        if row["user_id"] in rows:
            problems.append(BadRow(number, f"user_id: {row['user_id']!r} appears twice", line))
            continue
        rows[row["user_id"]] = row
    before = table_counts(engine, [schema.users])["users"]
    with engine.begin() as conn:
        upsert(conn, schema.users, list(rows.values()))
    added = table_counts(engine, [schema.users])["users"] - before
    write_quarantine(engine, str(path.resolve()), problems)
    return {"users": added, "quarantined": len(problems)}


def import_log(
    engine: Engine,
    path: Path,
    *,
    chunk_rows: int = 50_000,
    limit: int | None = None,
    progress: bool = False,
) -> dict[str, int]:
    """Stream a listening log into the store, chunk by chunk (see the module docstring)."""
    counts = dict.fromkeys(
        ("stub_users", "artists", "tracks", "play_track", "duplicates", "quarantined"), 0
    )
    problems: list[BadRow] = []
    seen_users: set[str] = set()
    seen_artists: set[str] = set()
    seen_tracks: set[str] = set()
    source = str(path.resolve())
    total = path.stat().st_size if path.suffix != ".gz" else None
    events: list[tuple[int, dict[str, Any]]] = []
    users: list[dict[str, Any]] = []
    artists: list[dict[str, Any]] = []
    tracks: list[dict[str, Any]] = []

    def flush() -> None:
        with engine.begin() as conn:
            for key, table, rows, columns in (
                ("stub_users", schema.users, users, USER_COLUMNS),
                ("artists", schema.artists, artists, ARTIST_COLUMNS),
                ("tracks", schema.tracks, tracks, TRACK_COLUMNS),
            ):
                if rows:
                    data = pa.Table.from_pylist(rows, schema=columns)
                    counts[key] += insert_ignore_arrow(conn, table, data)
        if events:
            table = pa.Table.from_pylist([e for _, e in events], schema=EVENT_COLUMNS)
            lines = np.array([n for n, _ in events], dtype=np.int64)
            done = import_event_table(engine, table, lines, source=source, chunk_rows=len(events))
            counts["play_track"] += done.accepted
            counts["duplicates"] += done.duplicates
            counts["quarantined"] += done.quarantined
        write_quarantine(engine, source, problems)
        counts["quarantined"] += len(problems)
        events.clear()
        problems.clear()
        for rows in (users, artists, tracks):
            rows.clear()

    with make_progress(progress) as bars:
        task = bars.add_task("1K listening log", total=total)
        read_bytes = 0
        for read, (number, line) in enumerate(numbered_lines(path, problems, skip_header=False)):
            if limit is not None and read >= limit:
                break
            read_bytes += len(line.encode("utf-8")) + 1
            try:
                event, artist, track = parse_log_line(number, line)
            except ValidationError as exc:
                problems.append(BadRow(number, str(exc), line))
                continue
            events.append((number, event))
            if event["user_id"] not in seen_users:
                seen_users.add(event["user_id"])
                users.append({"user_id": event["user_id"], "is_stub": True})
            if artist["artist_id"] not in seen_artists:
                seen_artists.add(artist["artist_id"])
                artists.append(artist)
            if track is not None and track["track_id"] not in seen_tracks:
                seen_tracks.add(track["track_id"])
                tracks.append(track)
            if len(events) + len(problems) >= chunk_rows:
                flush()
                bars.update(task, completed=read_bytes)
        flush()
        bars.update(task, completed=total or read_bytes, total=total or read_bytes)
    return counts


def import_lastfm_1k(
    engine: Engine,
    data_dir_or_files: str | Path | list[str | Path],
    log_file: str | Path | None = None,
    *,
    chunk_rows: int = 50_000,
    limit: int | None = None,
    progress: bool = False,
) -> dict[str, int | float]:
    """Import Last.fm 1K profiles and/or a listening log (idempotent).

    See the module docstring for the mapping and the quirks handled.

    Parameters
    ----------
    engine
        The store (schema already created).
    data_dir_or_files
        The ``lastfm-1K`` folder, the profile file, or a list of files.
    log_file
        The listening log, when not found through ``data_dir_or_files``.
    chunk_rows
        Log lines per transaction.
    limit
        Read at most this many log lines (``None``: all).
    progress
        Show a rich progress bar.

    Returns
    -------
    dict
        Rows **added** by this call: ``users`` (from the profile file),
        ``stub_users`` (named only in the log), ``artists``, ``tracks``,
        ``play_track``; ``duplicates`` (log lines whose event was already stored),
        ``quarantined`` (bad lines found; the quarantine table keeps one row per
        file and line, so a re-run adds none) and ``seconds``.
    """
    check_chunk_rows(chunk_rows)
    if limit is not None and limit < 0:
        raise ValidationError("limit", limit, "an integer >= 0 or None")
    started = time.perf_counter()
    profile, log = find_files(data_dir_or_files)
    if log_file is not None:
        log = Path(log_file)
        if not log.is_file():
            raise NotFoundError("Last.fm 1K log file", str(log))
    result: dict[str, int | float] = {
        "users": 0,
        "stub_users": 0,
        "artists": 0,
        "tracks": 0,
        "play_track": 0,
        "duplicates": 0,
        "quarantined": 0,
    }
    if profile is not None:
        for key, value in import_profiles(engine, profile).items():
            result[key] += value
    if log is not None:
        counts = import_log(engine, log, chunk_rows=chunk_rows, limit=limit, progress=progress)
        for key, value in counts.items():
            result[key] += value
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result
