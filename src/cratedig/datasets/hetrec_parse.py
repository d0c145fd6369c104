"""Reading the HetRec 2011 Last.fm 2K files into arrays (ids, plays, tags, friends);
:mod:`cratedig.datasets.lastfm_hetrec` writes them to the store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from rich.progress import Progress

from cratedig.datasets.common import (
    read_tsv,
)
from cratedig.events import EventType
from cratedig.exceptions import NotFoundError
from cratedig.ingest.quarantine import BadRow

#: The time given to every HetRec play event (the dataset has none): 2011-05-01 UTC.
HETREC_PLAY_TIME_MS = int(datetime(2011, 5, 1, tzinfo=UTC).timestamp() * 1000)
#: Prefix of every id this importer writes.
HETREC_ID_PREFIX = "hetrec-"
#: The files :func:`import_hetrec` reads, with their encodings.
HETREC_FILES: dict[str, str] = {
    "artists.dat": "utf-8",
    "tags.dat": "latin-1",
    "user_artists.dat": "ascii",
    "user_friends.dat": "ascii",
    "user_taggedartists.dat": "ascii",
}

_PLAY = EventType.PLAY_TRACK.value
_TAG = EventType.TAG_ARTIST.value


def hetrec_user_id(number: int | str) -> str:
    """The store id of HetRec user ``number`` (``2`` -> ``"hetrec-u2"``)."""
    return f"{HETREC_ID_PREFIX}u{number}"


def hetrec_artist_id(number: int | str) -> str:
    """The store id of HetRec artist ``number`` (``51`` -> ``"hetrec-a51"``)."""
    return f"{HETREC_ID_PREFIX}a{number}"


def _ints(
    number: int, fields: Sequence[str], names: Sequence[str], problems: list[BadRow]
) -> list[int] | None:
    """The fields as whole numbers >= 0, or ``None`` after noting the first bad one."""
    try:
        values = [int(value) for value in fields]
        if min(values) >= 0:
            return values
    except ValueError:
        pass
    for name, value in zip(names, fields, strict=True):
        if not value.strip().isdigit():
            problems.append(
                BadRow(number, f"{name}: {value!r} is not a whole number >= 0", "\t".join(fields))
            )
            break
    return None


def read_int_rows(
    path: Path, names: Sequence[str], problems: list[BadRow]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The rows of an all-integer tab-separated file with a header: ``(values, lines)``.

    ``values`` has one column per name; ``lines`` is each row's 1-based line number.
    A clean file is read by Arrow's CSV reader (fast); a file with any bad line
    (wrong field count, a blank line, a value that is not a whole number >= 0) is
    read again line by line, so
    that each bad line lands in ``problems`` with its number and the rest is kept.
    """
    options = (
        pacsv.ReadOptions(column_names=list(names), skip_rows=1),
        pacsv.ParseOptions(delimiter="\t", quote_char=False, ignore_empty_lines=False),
        pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.int64())),
    )
    try:
        table = pacsv.read_csv(path, *options)
    except pa.ArrowInvalid:
        table = None
    if table is not None and all(table.column(n).null_count == 0 for n in names):
        values = np.column_stack([table.column(n).to_numpy() for n in names]).astype(np.int64)
        if values.size == 0 or values.min() >= 0:
            return values, np.arange(2, table.num_rows + 2, dtype=np.int64)
    rows: list[list[int]] = []
    lines: list[int] = []
    for number, fields in read_tsv(path, "ascii", len(names), problems):
        parsed = _ints(number, fields, names, problems)
        if parsed is not None:
            rows.append(parsed)
            lines.append(number)
    values = np.array(rows, dtype=np.int64).reshape(len(rows), len(names))
    return values, np.array(lines, dtype=np.int64)


def _prefixed(prefix: str, *numbers: npt.NDArray[np.int64], sep: str = "-") -> pa.Array:
    """``prefix`` and the numbers joined by ``sep``, vectorised (``hetrec-play-2-51``)."""
    parts = [pa.array(n).cast(pa.string()) for n in numbers]
    return pc.binary_join_element_wise(prefix, *parts, sep)


def _user_ids(numbers: npt.NDArray[np.int64]) -> pa.Array:
    return _prefixed(HETREC_ID_PREFIX + "u", numbers, sep="")


def _artist_ids(numbers: npt.NDArray[np.int64]) -> pa.Array:
    return _prefixed(HETREC_ID_PREFIX + "a", numbers, sep="")


def _utc_midnight_ms(
    year: npt.NDArray[np.int64], month: npt.NDArray[np.int64], day: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Milliseconds of UTC midnight of each date, and which dates exist."""
    ok = (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31) & (year >= 1) & (year <= 9999)
    months = np.where(ok, (year - 1970) * 12 + month - 1, 0).astype("datetime64[M]")
    days = months.astype("datetime64[D]") + np.where(ok, day - 1, 0)
    ok &= days.astype("datetime64[M]") == months  # 31 February rolls into March
    return days.astype(np.int64) * 86_400_000, ok


@dataclass
class HetrecData:
    """The rows parsed from a HetRec folder, ready for the store.

    ``plays`` and ``tag_events`` are Arrow tables of raw events (the columns of
    ``validate_event``); ``play_lines`` and ``tag_lines`` hold each row's line number.
    """

    users: list[dict[str, Any]] = field(default_factory=list)
    artists: list[dict[str, Any]] = field(default_factory=list)
    artist_tags: list[dict[str, Any]] = field(default_factory=list)
    plays: pa.Table = field(default_factory=lambda: pa.table({}))
    play_lines: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    tag_events: pa.Table = field(default_factory=lambda: pa.table({}))
    tag_lines: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    friends: list[dict[str, Any]] = field(default_factory=list)
    problems: dict[str, list[BadRow]] = field(default_factory=dict)

    @property
    def stub_artists(self) -> int:
        """How many artists are stubs (named only in the tag file)."""
        return sum(1 for a in self.artists if a["is_stub"])


def parse_hetrec(data_dir: str | Path, progress: Progress | None = None) -> HetrecData:
    """Read a HetRec 2011 Last.fm 2K folder into store rows (nothing is written).

    ``progress``, when given, gets a task that advances by one per file read.

    Raises
    ------
    NotFoundError
        When the folder or one of its five data files is missing.
    """
    folder = Path(data_dir)
    for name in HETREC_FILES:
        if not (folder / name).is_file():
            raise NotFoundError("HetRec file", str(folder / name))
    data = HetrecData()
    probs: dict[str, list[BadRow]] = {name: [] for name in HETREC_FILES}
    data.problems = probs

    task = progress.add_task("read files", total=len(HETREC_FILES)) if progress else None

    def rows(name: str, n: int) -> Iterator[tuple[int, list[str]]]:
        if progress is not None and task is not None:
            progress.update(task, description=f"read {name}")
        yield from read_tsv(folder / name, HETREC_FILES[name], n, probs[name])
        if progress is not None and task is not None:
            progress.advance(task)

    names: dict[int, str] = {}
    for number, (ident, name, _url, _picture) in rows("artists.dat", 4):
        parsed = _ints(number, [ident], ["id"], probs["artists.dat"])
        if parsed is not None:
            names[parsed[0]] = name
    tag_text: dict[int, str] = {}
    for number, (ident, value) in rows("tags.dat", 2):
        parsed = _ints(number, [ident], ["tagID"], probs["tags.dat"])
        if parsed is not None:
            tag_text[parsed[0]] = value

    def int_rows(name: str, columns: list[str]) -> tuple[npt.NDArray[np.int64], ...]:
        if progress is not None and task is not None:
            progress.update(task, description=f"read {name}")
        values, lines = read_int_rows(folder / name, columns, probs[name])
        if progress is not None and task is not None:
            progress.advance(task)
        return (lines, *values.T)

    lines, user, artist, weight = int_rows("user_artists.dat", ["userID", "artistID", "weight"])
    data.play_lines = lines
    data.plays = pa.table(
        {
            "event_id": _prefixed("hetrec-play", user, artist),
            "user_id": _user_ids(user),
            "event_type": pa.array([_PLAY] * len(lines), pa.string()),
            "occurred_at_ms": pa.array(np.full(len(lines), HETREC_PLAY_TIME_MS, np.int64)),
            "artist_id": _artist_ids(artist),
            "count": pa.array(weight),
        }
    )
    users, artists = [user], [artist]

    name6 = ["userID", "artistID", "tagID", "day", "month", "year"]
    lines, t_user, t_artist, tag_id, day, month, year = int_rows("user_taggedartists.dat", name6)
    known_ids = np.array(sorted(tag_text), dtype=np.int64)
    texts = np.array([tag_text[i] for i in known_ids.tolist()], dtype=object)
    where = np.searchsorted(known_ids, tag_id).clip(0, max(len(known_ids) - 1, 0))
    known = (known_ids[where] == tag_id) if len(known_ids) else np.zeros(len(lines), bool)
    at_ms, real_date = _utc_midnight_ms(year, month, day)
    bad = probs["user_taggedartists.dat"]
    for i in np.flatnonzero(~(known & real_date)).tolist():
        raw = "\t".join(str(v[i]) for v in (t_user, t_artist, tag_id, day, month, year))
        if not known[i]:
            bad.append(BadRow(int(lines[i]), f"tagID: {tag_id[i]} is not in tags.dat", raw))
        else:
            why = f"date {year[i]}-{month[i]}-{day[i]} is not a date"
            bad.append(BadRow(int(lines[i]), why, raw))
    keep = known & real_date
    lines, t_user, t_artist, tag_id, at_ms, where = (
        v[keep] for v in (lines, t_user, t_artist, tag_id, at_ms, where)
    )
    data.tag_lines = lines
    data.tag_events = pa.table(
        {
            "event_id": _prefixed("hetrec-tag", t_user, t_artist, tag_id),
            "user_id": _user_ids(t_user),
            "event_type": pa.array([_TAG] * len(lines), pa.string()),
            "occurred_at_ms": pa.array(at_ms),
            "artist_id": _artist_ids(t_artist),
            "tag": pa.array(texts[where].tolist() if len(where) else [], pa.string()),
        }
    )
    users.append(t_user)
    artists.append(t_artist)
    unique_texts, text_code = (
        np.unique(texts, return_inverse=True) if len(texts) else (texts, np.zeros(0, np.int64))
    )
    data.artist_tags = rank_tags(t_artist, text_code[where], t_user, unique_texts.tolist())

    lines, user, friend = int_rows("user_friends.dat", ["userID", "friendID"])
    data.friends = [
        {"user_id": u, "friend_id": f}
        for u, f in zip(_user_ids(user).to_pylist(), _user_ids(friend).to_pylist(), strict=True)
    ]
    users += [user, friend]

    all_users = np.unique(np.concatenate(users)).tolist()
    data.users = [{"user_id": hetrec_user_id(u), "is_stub": False} for u in all_users]
    for number in sorted(set(names) | set(np.unique(np.concatenate(artists)).tolist())):
        data.artists.append(
            {
                "artist_id": hetrec_artist_id(number),
                "name": names.get(number),
                "is_stub": number not in names,
            }
        )
    if progress is not None and task is not None:
        progress.update(task, description="read files")
    return data


def rank_tags(
    artist: npt.NDArray[np.int64],
    tag_code: npt.NDArray[np.int64],
    user: npt.NDArray[np.int64],
    tag_texts: list[str],
) -> list[dict[str, Any]]:
    """``artist_tags`` rows from tag assignments (one per artist, tag and user).

    ``tag_code`` indexes ``tag_texts``, which must be sorted. The weight of a tag on
    an artist is the number of distinct users who applied it; within each artist,
    rank 1 is the tag most users applied, ties going to the tag that sorts first.
    """
    if len(artist) == 0:
        return []
    n_codes, n_users = len(tag_texts), int(user.max()) + 1
    # one int64 key per (artist, tag, user): a 1-D unique is much faster than axis=0
    triples = np.unique((artist * n_codes + tag_code) * n_users + user)
    pairs, weights = np.unique(triples // n_users, return_counts=True)
    pair_artist, pair_code = pairs // n_codes, pairs % n_codes
    order = np.lexsort((pair_code, -weights, pair_artist))
    pair_artist, pair_code, weights = pair_artist[order], pair_code[order], weights[order]
    starts = np.flatnonzero(np.r_[True, pair_artist[1:] != pair_artist[:-1]])
    sizes = np.diff(np.r_[starts, len(pair_artist)])
    ranks = np.arange(len(pair_artist)) - np.repeat(starts, sizes) + 1
    return [
        {"artist_id": a, "tag": tag_texts[c], "weight": float(w), "rank": r}
        for a, c, w, r in zip(
            _artist_ids(pair_artist).to_pylist(),
            pair_code.tolist(),
            weights.tolist(),
            ranks.tolist(),
            strict=True,
        )
    ]
