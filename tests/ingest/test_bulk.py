"""Bulk import: good rows stored, every bad row quarantined with its line, reruns add nothing."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, select

from cratedig.events import ORGANIC, derive_event_id
from cratedig.ingest.bulk import ImportReport, import_file, import_records
from cratedig.ingest.quarantine import quarantined
from cratedig.store import schema

# 2026-03-01T19:15:00Z: 20513 days * 86400 s + 19 h + 15 min, in ms (see test_events.py)
T_MS = 1_772_392_500_000
COLUMNS = [
    "event_id",
    "user_id",
    "event_type",
    "occurred_at",
    "artist_id",
    "track_id",
    "duration_ms",
    "count",
    "tag",
]


def row(*values: str) -> dict[str, str]:
    return dict(zip(COLUMNS, values, strict=True))


# One CSV line per row, from line 2 on (line 1 is the header).
ROWS = [
    row("e1", "u1", "play_track", "2026-03-01T20:15:00+01:00", "a1", "t1", "180000", "", ""),
    row("e2", "u2", "follow_artist", "1772392500", "a2", "", "", "", ""),
    row("", "u1", "visit", "2026-03-01 19:15:00", "", "", "", "", ""),
    row("e4", "u3", "play_track", "2026-03-01T19:15:00Z", "", "t1", "", "2", ""),
    row("e5", "u1", "plya", "2026-03-01T19:15:00Z", "a1", "", "", "", ""),
    row("e6", "", "play_track", "2026-03-01T19:15:00Z", "a1", "", "", "", ""),
    row("e7", "u1", "play_track", "yesterday", "a1", "", "", "", ""),
    row("e8", "u1", "play_track", "2026-03-01T19:15:00Z", "a1", "", "-5", "", ""),
    row("e9", "u1", "play_track", "2026-03-01T19:15:00Z", "a1", "", "", "-1", ""),
    row("e10", "u1", "play_track", "2026-03-01T19:15:00Z", "", "t9", "", "", ""),
    row("e11", "u1", "follow_artist", "2026-03-01T19:15:00Z", "", "", "", "", ""),
    row("e12", "u1", "like_track", "2026-03-01T19:15:00.250Z", "a3", "t5", "", "", ""),
    row("e1", "u1", "play_track", "2026-03-01T20:15:00+01:00", "a1", "t1", "180000", "", ""),
    row("e14", "u1", "tag_artist", "2026-03-01T19:15:00Z", "a1", "", "", "", ""),
    row("e15", " u4 ", "share_artist", "2026-03-01T19:15:00Z", "a2", "", "", "", "x"),
]
VISIT_ID = derive_event_id("u1", "visit", T_MS, None, None, None, 1, None, None, ORGANIC)
EXPECTED_EVENTS = sorted(
    [
        ("e1", "u1", "play_track", T_MS, "a1", "t1", 180_000, 1, None),
        ("e2", "u2", "follow_artist", T_MS, "a2", None, None, 1, None),
        (VISIT_ID, "u1", "visit", T_MS, None, None, None, 1, None),
        ("e4", "u3", "play_track", T_MS, "a1", "t1", None, 2, None),
        ("e12", "u1", "like_track", T_MS + 250, "a3", "t5", None, 1, None),
        ("e15", "u4", "share_artist", T_MS, "a2", None, None, 1, "x"),
    ]
)
# (line, start of the reason, its end): values print as '' (CSV) or None (JSON, Parquet)
EXPECTED_BAD = [
    (6, "event_type: 'plya' is not valid; expected one of: ", "recommendation_click, tag_artist."),
    (7, "user_id: ", " is not valid; expected a non-empty user id."),
    (8, "occurred_at: 'yesterday' is not valid; expected an ISO 8601 timestamp", "milliseconds."),
    (9, "duration_ms: ", "-5' is not valid; expected a whole number >= 0."),
    (10, "count: '-1' is not valid;", " expected a whole number >= 0."),
    (11, "track_id: 't9' is not valid; expected a known track (or an artist_id)", "resolved."),
    (12, "artist_id: ", " is not valid; expected an artist id for follow_artist."),
    (15, "tag: ", " is not valid; expected a non-empty tag for tag_artist."),
]


def write_csv(path: Path, extra_line: str = "") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(ROWS)
        handle.write(extra_line)
    return path


def write_jsonl(path: Path, extra_line: str = "") -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        # Line 1 is a comment-free blank line, so that rows sit on the same lines as in CSV.
        handle.write("\n")
        for raw in ROWS:
            native: dict[str, Any] = {k: v for k, v in raw.items() if v != ""}
            if native.get("duration_ms") == "180000":
                native["duration_ms"] = 180_000  # a JSON number
            handle.write(json.dumps(native) + "\n")
        handle.write(extra_line)
    return path


def write_parquet(path: Path) -> Path:
    columns = {c: pa.array([r[c] or None for r in ROWS], pa.string()) for c in COLUMNS}
    # Parquet lines are row number + 1: prepend one row so rows sit on the CSV lines.
    table = pa.table(columns)
    first = {"event_id": "x", "user_id": "x", "event_type": "visit", "occurred_at": "0"}
    filler = pa.table({c: pa.array([first.get(c)], pa.string()) for c in COLUMNS})
    pq.write_table(pa.concat_tables([filler, table]), path)
    return path


def seed_tracks(engine: Engine) -> ImportReport:
    report = import_records(
        engine, "tracks", [(2, {"track_id": "t1", "artist_id": "a1"})], source="tracks"
    )
    assert (report.accepted, report.stubs_created) == (1, 1)  # stub artist a1
    return report


def stored_events(engine: Engine) -> list[tuple[Any, ...]]:
    e = schema.user_events.c
    query = select(
        e.event_id,
        e.user_id,
        e.event_type,
        e.occurred_at_ms,
        e.artist_id,
        e.track_id,
        e.duration_ms,
        e["count"],
        e.tag,
    ).order_by(e.event_id)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_mixed_file_keeps_every_good_row_and_quarantines_every_bad_one(
    engine: Engine, tmp_path: Path, fmt: str
) -> None:
    seed_tracks(engine)
    extra_bad: list[tuple[int, str, str]] = []
    if fmt == "csv":
        path = write_csv(tmp_path / "events.csv", "e99,u1,visit\n")
        extra_bad = [(17, "row has 3 fields; expected 9", "")]
    elif fmt == "jsonl":
        path = write_jsonl(tmp_path / "events.jsonl", "{not json\n")
        extra_bad = [(17, "line is not valid JSON: ", "")]
    else:
        path = write_parquet(tmp_path / "events.parquet")
    first = import_file(engine, "events", path, chunk_rows=4)
    n_bad = len(EXPECTED_BAD) + len(extra_bad)
    filler = 1 if fmt == "parquet" else 0
    assert first.source == str(path.resolve())
    assert (first.accepted, first.duplicates, first.quarantined) == (6 + filler, 1, n_bad)
    # users u1 u2 u3 u4 (+ x), artists a2 a3 (+ x; a1 exists), track t5
    assert first.stubs_created == 7 + filler
    expected = EXPECTED_EVENTS
    events = [e for e in stored_events(engine) if e[0] != "x"]
    assert events == expected
    bad = quarantined(engine, str(path.resolve()))
    wanted = sorted(EXPECTED_BAD + extra_bad)
    assert [b["line"] for b in bad] == [line for line, _, _ in wanted]
    for got, (line, start, end) in zip(bad, wanted, strict=True):
        assert got["reason"].startswith(start) and got["reason"].endswith(end), (line, got)
    assert [r.split(":")[0] for r in first.reasons] == [f"line {line}" for line, _, _ in wanted]
    plya = next(b for b in bad if b["line"] == 6)
    assert json.loads(plya["raw"])["event_type"] == "plya"

    second = import_file(engine, "events", path, chunk_rows=5)
    assert second.accepted == 0
    assert second.duplicates == first.accepted + first.duplicates
    assert second.quarantined == first.quarantined
    assert second.stubs_created == 0
    assert [e for e in stored_events(engine) if e[0] != "x"] == expected
    assert len(quarantined(engine)) == n_bad


def test_stub_records_for_unknown_users_artists_and_tracks(engine: Engine) -> None:
    records = [
        (
            2,
            {
                "user_id": "u1",
                "event_type": "like_track",
                "occurred_at": T_MS,
                "artist_id": "a1",
                "track_id": "t1",
            },
        ),
        (
            3,
            {
                "user_id": "u1",
                "event_type": "follow_artist",
                "occurred_at": T_MS,
                "artist_id": "a2",
            },
        ),
    ]
    report = import_records(engine, "events", records, source="api")
    assert (report.accepted, report.stubs_created) == (2, 4)  # u1, a1, a2, t1
    u, a, t = schema.users.c, schema.artists.c, schema.tracks.c
    assert count(engine, schema.users, u.is_stub.is_(True)) == 1
    assert count(engine, schema.artists, a.is_stub.is_(True)) == 2
    with engine.connect() as conn:
        assert conn.execute(select(t.artist_id, t.is_stub)).all() == [("a1", True)]
    # A stub track does not resolve artists: the result does not depend on row order.
    orphan = [
        (4, {"user_id": "u1", "event_type": "play_track", "occurred_at": T_MS, "track_id": "t1"})
    ]
    report = import_records(engine, "events", orphan, source="api")
    assert (report.accepted, report.quarantined) == (0, 1)


def test_strict_import_quarantines_unknown_references(engine: Engine) -> None:
    import_records(engine, "users", [(2, {"user_id": "u1"})], source="users")
    import_records(engine, "artists", [(2, {"artist_id": "a1", "name": "A"})], source="artists")
    records = [
        (
            2,
            {
                "user_id": "u1",
                "event_type": "follow_artist",
                "occurred_at": T_MS,
                "artist_id": "a1",
            },
        ),
        (
            3,
            {
                "user_id": "u9",
                "event_type": "follow_artist",
                "occurred_at": T_MS,
                "artist_id": "a1",
            },
        ),
        (
            4,
            {
                "user_id": "u1",
                "event_type": "follow_artist",
                "occurred_at": T_MS,
                "artist_id": "a9",
            },
        ),
        (
            5,
            {
                "user_id": "u1",
                "event_type": "like_track",
                "occurred_at": T_MS,
                "artist_id": "a1",
                "track_id": "t9",
            },
        ),
        (6, {"user_id": "u1", "event_type": "visit", "occurred_at": T_MS}),
    ]
    report = import_records(engine, "events", records, source="strict", strict=True)
    assert (report.accepted, report.quarantined, report.stubs_created) == (2, 3, 0)
    assert report.reasons == [
        "line 3: user_id: 'u9' is not valid; expected a known user (strict import).",
        "line 4: artist_id: 'a9' is not valid; expected a known artist (strict import).",
        "line 5: track_id: 't9' is not valid; expected a known track (strict import).",
    ]
    assert count(engine, schema.users) == 1 and count(engine, schema.tracks) == 0
    raw = json.loads(quarantined(engine, "strict")[0]["raw"])
    assert raw["user_id"] == "u9"


def test_users_artists_tracks_import_and_stub_replacement(engine: Engine) -> None:
    events = [
        (
            2,
            {
                "user_id": "u1",
                "event_type": "follow_artist",
                "occurred_at": T_MS,
                "artist_id": "a1",
            },
        )
    ]
    assert import_records(engine, "events", events, source="e").stubs_created == 2
    users = [
        (2, {"user_id": "u1", "country": "DE", "signup_at": "2026-03-01T19:15:00Z", "age": "31"}),
        (3, {"user_id": "u2", "country": "FR", "gender": "f"}),
        (4, {"user_id": "u3", "age": "-4"}),
        (5, {"user_id": "", "country": "FR"}),
    ]
    report = import_records(engine, "users", users, source="users.csv")
    assert (report.accepted, report.duplicates, report.quarantined) == (2, 0, 2)
    assert report.reasons == [
        "line 4: age: '-4' is not valid; expected a whole number >= 0.",
        "line 5: user_id: '' is not valid; expected a non-empty user id.",
    ]
    u = schema.users.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(u.user_id, u.country, u.signup_at_ms, u.age, u.is_stub).order_by(u.user_id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("u1", "DE", T_MS, 31, False),
        ("u2", "FR", None, None, False),
    ]
    again = import_records(engine, "users", users[:2], source="users.csv")
    assert (again.accepted, again.duplicates) == (0, 2)

    artists = [
        (2, {"artist_id": "a1", "name": "Nina", "tags": "jazz| soul |jazz||blues"}),
        (3, {"artist_id": "a2", "name": "Max", "tags": ["rock"]}),
    ]
    report = import_records(engine, "artists", artists, source="artists.jsonl")
    assert (report.accepted, report.duplicates) == (2, 0)  # a1 was a stub: replaced
    t = schema.artist_tags.c
    with engine.connect() as conn:
        tags = conn.execute(
            select(t.artist_id, t.tag, t.rank, t.weight).order_by(t.artist_id, t.rank)
        ).all()
        a1 = conn.execute(select(schema.artists).where(schema.artists.c.artist_id == "a1")).one()
    assert [tuple(r) for r in tags] == [
        ("a1", "jazz", 1, 1.0),
        ("a1", "soul", 2, 1.0),
        ("a1", "blues", 3, 1.0),
        ("a2", "rock", 1, 1.0),
    ]
    assert (a1.name, bool(a1.is_stub)) == ("Nina", False)
    # Events about a now real artist never turn it back into a stub.
    more = [
        (
            3,
            {
                "user_id": "u5",
                "event_type": "follow_artist",
                "occurred_at": T_MS,
                "artist_id": "a1",
            },
        )
    ]
    assert import_records(engine, "events", more, source="e").stubs_created == 1  # only u5
    with engine.connect() as conn:
        a1 = conn.execute(select(schema.artists).where(schema.artists.c.artist_id == "a1")).one()
    assert (a1.name, bool(a1.is_stub)) == ("Nina", False)

    tracks = [
        (2, {"track_id": "t1", "artist_id": "a1", "title": "One", "duration_ms": "200000"}),
        (3, {"track_id": "t2", "artist_id": "a7", "title": "Two"}),
        (4, {"track_id": "t3", "title": "No artist"}),
    ]
    report = import_records(engine, "tracks", tracks, source="tracks.csv")
    assert (report.accepted, report.quarantined, report.stubs_created) == (2, 1, 1)  # stub a7
    strict = import_records(
        engine, "tracks", [(2, {"track_id": "t4", "artist_id": "a8"})], source="t", strict=True
    )
    assert (strict.accepted, strict.quarantined) == (0, 1)
    assert strict.reasons == [
        "line 2: artist_id: 'a8' is not valid; expected a known artist (strict import)."
    ]
    # The real track now resolves an event's artist.
    play = [
        (5, {"user_id": "u1", "event_type": "play_track", "occurred_at": T_MS, "track_id": "t1"})
    ]
    assert import_records(engine, "events", play, source="e2").accepted == 1


def test_import_file_errors(engine: Engine, tmp_path: Path) -> None:
    from cratedig.exceptions import ValidationError

    with pytest.raises(ValidationError, match="kind: 'songs' is not valid"):
        import_file(engine, "songs", tmp_path / "x.csv")
    (tmp_path / "x.txt").write_text("a\n")
    with pytest.raises(ValidationError, match=r"path: .* is not valid; expected a file ending in"):
        import_file(engine, "events", tmp_path / "x.txt")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    report = import_file(engine, "events", empty)
    assert report.rows == 0


def test_csv_spanning_several_read_blocks_keeps_every_line_number(
    sqlite_url: str, tmp_path: Path
) -> None:
    from cratedig.store import init_db, make_engine

    engine = make_engine(sqlite_url)
    init_db(engine)
    path = tmp_path / "big.csv"
    n_rows, expected_bad = 30_000, []
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("event_id,user_id,event_type,occurred_at,artist_id,session_id\n")
        for i in range(n_rows):
            line = i + 2
            session = f"session-{i:040d}"
            if i % 997 == 5:
                handle.write(f"k{i},u1,follow_artist\n")  # too few fields
                expected_bad.append((line, "row has 3 fields; expected 6"))
            elif i % 997 == 9:
                handle.write(f"k{i},u1,bad,1772392500,a1,{session}\n")
                expected_bad.append((line, "event_type: 'bad' is not valid"))
            elif i % 1000 == 7:
                handle.write(",,,,,\n")  # a blank row: skipped, but it still counts as a line
            else:
                row = f"k{i},u{i % 9},follow_artist,{1772392500 + i},a{i % 4},{session}"
                handle.write(row + "\n")
    assert path.stat().st_size > 2 << 20  # several 1 MiB read blocks
    report = import_file(engine, "events", path, chunk_rows=7_000)
    n_blank = sum(1 for i in range(n_rows) if i % 1000 == 7 and i % 997 not in (5, 9))
    assert report.quarantined == len(expected_bad)
    assert report.accepted == n_rows - len(expected_bad) - n_blank
    got = [(b["line"], b["reason"]) for b in quarantined(engine)]
    assert [line for line, _ in got] == [line for line, _ in expected_bad]
    for (_, reason), (_, start) in zip(got, expected_bad, strict=True):
        assert reason.startswith(start)
    with engine.connect() as conn:
        last = conn.execute(
            select(schema.user_events.c.occurred_at_ms).where(
                schema.user_events.c.event_id == f"k{n_rows - 1}"
            )
        ).scalar_one()
    assert last == (1772392500 + n_rows - 1) * 1000
    engine.dispose()


def test_import_batches_and_import_records_agree_with_the_file_import(engine: Engine) -> None:
    from cratedig.ingest.bulk import import_batches

    seed_tracks(engine)
    table = pa.Table.from_pylist(ROWS)
    report = import_batches(engine, "events", [table.slice(0, 5), table.slice(5)], source="b")
    assert (report.accepted, report.duplicates, report.quarantined) == (6, 1, len(EXPECTED_BAD))
    assert stored_events(engine) == EXPECTED_EVENTS
    # Rows are lines 1, 2...: one less than in the CSV, whose line 1 is the header.
    assert [b["line"] for b in quarantined(engine, "b")] == [x[0] - 1 for x in EXPECTED_BAD]
    records = [(i + 1, r) for i, r in enumerate(ROWS)]
    again = import_records(engine, "events", records, source="r", chunk_rows=3)
    assert (again.accepted, again.duplicates, again.quarantined) == (0, 7, len(EXPECTED_BAD))
    assert [r.split(": ", 1)[1] for r in again.reasons] == [
        r.split(": ", 1)[1] for r in report.reasons
    ]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_rows_that_are_not_utf8_are_quarantined(sqlite_url: str, tmp_path: Path, fmt: str) -> None:
    from cratedig.store import init_db, make_engine

    engine = make_engine(sqlite_url)
    init_db(engine)
    good = '{"user_id": "u%d", "event_type": "visit", "occurred_at": "2026-03-01"}\n'
    if fmt == "csv":
        body = b"user_id,event_type,occurred_at\nu1,visit,2026-03-01\nu\xff,visit,2026-03-01\n"
        body += b"u3,visit,2026-03-01\n"
    else:
        body = (good % 1).encode() + b'{"user_id": "u\xff"}\n' + (good % 3).encode()
    path = tmp_path / f"events.{fmt}"
    path.write_bytes(body)
    report = import_file(engine, "events", path)
    assert (report.accepted, report.quarantined) == (2, 1)
    line = 3 if fmt == "csv" else 2
    assert report.reasons[0].startswith(f"line {line}: ")
    assert "not valid UTF-8 text" in report.reasons[0]
    engine.dispose()
