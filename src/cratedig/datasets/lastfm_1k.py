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

import gzip
import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

import numpy as np
import pyarrow as pa
from sqlalchemy import Engine

from cratedig.datasets.common import (
    import_event_table,
    write_quarantine,
)
from cratedig.events import EventType
from cratedig.exceptions import NotFoundError, ValidationError
from cratedig.ingest.progress import make_progress
from cratedig.ingest.quarantine import BadRow
from cratedig.ingest.readers import check_chunk_rows
from cratedig.store import schema
from cratedig.store.reads import table_counts
from cratedig.store.writes import insert_ignore_arrow, upsert

#: The profile file's name in the dataset folder.
PROFILE_FILE = "userid-profile.tsv"
#: The listening log's name prefix in the dataset folder.
LOG_PREFIX = "userid-timestamp-artid-artname-traid-traname"
_PLAY = EventType.PLAY_TRACK.value
_GENDERS = {"m", "f"}
_EVENT_COLUMNS = pa.schema(
    [
        (name, pa.int64() if name == "occurred_at_ms" else pa.string())
        for name in ("event_id", "user_id", "event_type", "occurred_at_ms", "artist_id", "track_id")
    ]
)
_USER_COLUMNS = pa.schema([("user_id", pa.string()), ("is_stub", pa.bool_())])
_ARTIST_COLUMNS = pa.schema(
    [("artist_id", pa.string()), ("name", pa.string()), ("is_stub", pa.bool_())]
)
_TRACK_COLUMNS = pa.schema(
    [
        ("track_id", pa.string()),
        ("artist_id", pa.string()),
        ("title", pa.string()),
        ("is_stub", pa.bool_()),
    ]
)


def _digest(*parts: str, length: int = 24) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:length]


def artist_id_for(mbid: str, name: str) -> str | None:
    """The store id of an artist: its MusicBrainz id, else one derived from its name."""
    if mbid:
        return mbid
    if name:
        return "lfm1k-ar-" + _digest(name)
    return None


def track_id_for(mbid: str, artist_id: str, title: str) -> str | None:
    """The store id of a track: its MusicBrainz id, else one derived from artist and title."""
    if mbid:
        return mbid
    if title:
        return "lfm1k-tr-" + _digest(artist_id, title)
    return None


def _open(path: Path) -> BinaryIO:
    if path.suffix == ".gz":
        return cast(BinaryIO, gzip.open(path, "rb"))
    return path.open("rb")


def _lines(path: Path, problems: list[BadRow], skip_header: bool) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)``; undecodable or NUL-bearing lines go to ``problems``."""
    with _open(path) as handle:
        for number, raw in enumerate(handle, start=1):
            if skip_header and number == 1 and raw.startswith(b"#"):
                continue
            raw = raw.rstrip(b"\r\n")
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                text = raw.decode("utf-8", errors="replace")
                problems.append(BadRow(number, f"not valid UTF-8 ({exc.reason})", text))
                continue
            if "\x00" in line:
                problems.append(
                    BadRow(number, "contains a NUL character", line.replace("\x00", ""))
                )
                continue
            yield number, line


def parse_profile_line(number: int, line: str) -> dict[str, Any]:
    """One ``users`` row from a profile line.

    Raises
    ------
    ValidationError
        When a field cannot be read (the caller quarantines the line).
    """
    fields = line.split("\t")
    if len(fields) != 5:
        raise ValidationError("line", number, f"5 tab-separated fields, got {len(fields)}")
    user_id, gender, age, country, registered = (f.strip() for f in fields)
    if not user_id:
        raise ValidationError("user_id", user_id, "a non-empty user id")
    if gender and gender.lower() not in _GENDERS:
        raise ValidationError("gender", gender, "'m', 'f' or empty")
    age_value: int | None = None
    if age:
        if not age.isdigit() or int(age) > 150:
            raise ValidationError("age", age, "a whole number of years (0-150) or empty")
        age_value = int(age)
    signup_ms: int | None = None
    if registered:
        try:
            day = datetime.strptime(registered, "%b %d, %Y").replace(tzinfo=UTC)
        except ValueError:
            raise ValidationError("registered", registered, "a date like 'Aug 13, 2006'") from None
        signup_ms = int(day.timestamp() * 1000)
    return {
        "user_id": user_id,
        "gender": gender.lower() or None,
        "age": age_value,
        "country": country or None,
        "signup_at_ms": signup_ms,
        "is_stub": False,
    }


def parse_log_line(number: int, line: str) -> tuple[dict[str, Any], dict[str, Any], dict | None]:
    """``(event, artist, track or None)`` rows from one listening-log line.

    Raises
    ------
    ValidationError
        When the line cannot be read (the caller quarantines it).
    """
    fields = line.split("\t")
    if len(fields) != 6:
        raise ValidationError("line", number, f"6 tab-separated fields, got {len(fields)}")
    user_id, stamp, artist_mbid, artist_name, track_mbid, title = (f.strip() for f in fields)
    if not user_id:
        raise ValidationError("user_id", user_id, "a non-empty user id")
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        raise ValidationError(
            "timestamp", stamp, "an ISO 8601 time like 2009-05-04T23:08:57Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    at_ms = int(moment.timestamp() * 1000)
    artist_id = artist_id_for(artist_mbid, artist_name)
    if artist_id is None:
        raise ValidationError("artist", "", "a MusicBrainz artist id or an artist name")
    track_id = track_id_for(track_mbid, artist_id, title)
    event = {
        "event_id": "lfm1k-" + _digest(user_id, str(at_ms), artist_id, track_id or "", length=32),
        "user_id": user_id,
        "event_type": _PLAY,
        "occurred_at_ms": at_ms,
        "artist_id": artist_id,
        "track_id": track_id,
    }
    artist = {"artist_id": artist_id, "name": artist_name or None, "is_stub": False}
    track = None
    if track_id is not None:
        track = {
            "track_id": track_id,
            "artist_id": artist_id,
            "title": title or None,
            "is_stub": False,
        }
    return event, artist, track


def find_files(data_dir_or_files: str | Path | list[str | Path]) -> tuple[Path | None, Path | None]:
    """``(profile file, log file)`` from a dataset folder or explicit file paths.

    A folder is searched for ``userid-profile.tsv`` and a file whose name starts
    with ``userid-timestamp-artid-artname-traid-traname``. Among explicit files, the
    one whose name contains ``profile`` or whose first line starts with ``#id`` is
    the profile file; the other is the log.

    Raises
    ------
    NotFoundError
        When a path does not exist or a folder holds neither file.
    """
    paths = (
        [Path(p) for p in data_dir_or_files]
        if isinstance(data_dir_or_files, list)
        else [Path(data_dir_or_files)]
    )
    profile: Path | None = None
    log: Path | None = None
    for path in paths:
        if path.is_dir():
            if (path / PROFILE_FILE).is_file():
                profile = path / PROFILE_FILE
            logs = sorted(path.glob(LOG_PREFIX + "*"))
            if logs:
                log = logs[0]
            if profile is None and not logs:
                raise NotFoundError("Last.fm 1K file", str(path / PROFILE_FILE))
        elif path.is_file():
            with _open(path) as handle:
                first = handle.readline()
            if "profile" in path.name or first.startswith(b"#id"):
                profile = path
            else:
                log = path
        else:
            raise NotFoundError("Last.fm 1K file", str(path))
    return profile, log


def import_profiles(engine: Engine, path: Path) -> dict[str, int]:
    """Upsert the users of a profile file; bad lines go to quarantine."""
    problems: list[BadRow] = []
    rows: dict[str, dict[str, Any]] = {}
    for number, line in _lines(path, problems, skip_header=True):
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
                ("stub_users", schema.users, users, _USER_COLUMNS),
                ("artists", schema.artists, artists, _ARTIST_COLUMNS),
                ("tracks", schema.tracks, tracks, _TRACK_COLUMNS),
            ):
                if rows:
                    data = pa.Table.from_pylist(rows, schema=columns)
                    counts[key] += insert_ignore_arrow(conn, table, data)
        if events:
            table = pa.Table.from_pylist([e for _, e in events], schema=_EVENT_COLUMNS)
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
        for read, (number, line) in enumerate(_lines(path, problems, skip_header=False)):
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
