"""Reading Last.fm 1K files: the profile and listening-log lines, ids, file discovery;
:mod:`cratedig.datasets.lastfm_1k` writes them to the store."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

import pyarrow as pa

from cratedig.events import EventType
from cratedig.exceptions import NotFoundError, ValidationError
from cratedig.ingest.quarantine import BadRow

#: The profile file's name in the dataset folder.
PROFILE_FILE = "userid-profile.tsv"
#: The listening log's name prefix in the dataset folder.
LOG_PREFIX = "userid-timestamp-artid-artname-traid-traname"
_PLAY = EventType.PLAY_TRACK.value
_GENDERS = {"m", "f"}
EVENT_COLUMNS = pa.schema(
    [
        (name, pa.int64() if name == "occurred_at_ms" else pa.string())
        for name in ("event_id", "user_id", "event_type", "occurred_at_ms", "artist_id", "track_id")
    ]
)
USER_COLUMNS = pa.schema([("user_id", pa.string()), ("is_stub", pa.bool_())])
ARTIST_COLUMNS = pa.schema(
    [("artist_id", pa.string()), ("name", pa.string()), ("is_stub", pa.bool_())]
)
TRACK_COLUMNS = pa.schema(
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


def numbered_lines(
    path: Path, problems: list[BadRow], skip_header: bool
) -> Iterator[tuple[int, str]]:
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
