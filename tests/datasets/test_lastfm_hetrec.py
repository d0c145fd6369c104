"""The HetRec 2011 Last.fm 2K importer: hand-made files in the dataset's exact formats,
and (realdata) the real folder, whose counts must equal the dataset's readme."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from cratedig.commands.common import CliContext
from cratedig.commands.datasets import lastfm_hetrec_command
from cratedig.datasets.hetrec_parse import HETREC_PLAY_TIME_MS, parse_hetrec
from cratedig.datasets.lastfm_hetrec import import_hetrec, summarise_parse
from cratedig.store import init_db, make_engine, schema

ARTISTS = [
    (1, "MALICE MIZER"),
    (2, "Diary of Dreams"),
    (3, "Björk"),
    (4, "NA"),  # must stay the text "NA", not become a missing value
]
TAGS = [(1, "metal"), (2, "tropicália"), (3, "fußball"), (4, "rock")]
PLAYS = [(2, 1, 100), (2, 3, 50), (3, 1, 7), (3, 4, 1), (5, 2, 9)]
FRIENDS = [(2, 3), (3, 2), (2, 5), (5, 2)]
TAGGINGS = [  # user, artist, tag, day, month, year
    (2, 1, 1, 1, 4, 2009),
    (3, 1, 1, 1, 5, 2010),
    (3, 1, 4, 9, 5, 2011),
    (2, 1, 2, 1, 4, 2009),
    (5, 1, 4, 1, 6, 1956),  # a bogus year, kept as it is
    (2, 99, 3, 1, 1, 2010),  # artist 99 is not in artists.dat
    (3, 99, 3, 1, 2, 2010),
]


def _tsv(rows: list[tuple[object, ...]]) -> list[str]:
    return ["\t".join(str(v) for v in row) for row in rows]


def write_hetrec(
    folder: Path,
    extra_plays: list[str] | None = None,
    extra_taggings: list[str] | None = None,
) -> Path:
    """Write a tiny HetRec folder: artists UTF-8/LF, tags Latin-1/CRLF, the rest ASCII/CRLF."""
    folder.mkdir(parents=True, exist_ok=True)
    artists = ["id\tname\turl\tpictureURL"] + [
        f"{i}\t{name}\thttp://www.last.fm/music/{i}\thttp://userserve-ak.last.fm/{i}.jpg"
        for i, name in ARTISTS
    ]
    (folder / "artists.dat").write_bytes(("\n".join(artists) + "\n").encode("utf-8"))

    def crlf(name: str, lines: list[str], encoding: str = "ascii") -> None:
        (folder / name).write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))

    crlf("tags.dat", ["tagID\ttagValue", *_tsv(TAGS)], "latin-1")
    crlf("user_artists.dat", ["userID\tartistID\tweight", *_tsv(PLAYS), *(extra_plays or [])])
    crlf("user_friends.dat", ["userID\tfriendID", *_tsv(FRIENDS)])
    header = "userID\tartistID\ttagID\tday\tmonth\tyear"
    crlf("user_taggedartists.dat", [header, *_tsv(TAGGINGS), *(extra_taggings or [])])
    return folder


def _count(engine: Engine, table: object, *where: object) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(table)  # type: ignore[arg-type]
        return int(conn.execute(query.where(*where)).scalar_one())


def _ms(year: int, month: int, day: int) -> int:
    return int(datetime(year, month, day, tzinfo=UTC).timestamp() * 1000)


def test_parse_reads_each_files_encoding(tmp_path: Path) -> None:
    data = parse_hetrec(write_hetrec(tmp_path / "hetrec"))
    names = {a["artist_id"]: a["name"] for a in data.artists}
    assert names["hetrec-a3"] == "Björk"
    assert names["hetrec-a4"] == "NA"
    tags = set(data.tag_events.column("tag").to_pylist())
    assert tags == {"metal", "tropicália", "fußball", "rock"}
    assert summarise_parse(data) == {
        "users": 3,
        "artists": 4,
        "stub_artists": 1,
        "artist_tags": 4,
        "play_track": 5,
        "tag_artist": 7,
        "user_friends": 4,
    }
    assert all(not problems for problems in data.problems.values())


def test_line_by_line_reading_gives_what_the_fast_reader_gives(tmp_path: Path) -> None:
    clean = parse_hetrec(write_hetrec(tmp_path / "clean"))
    # one bad line per integer file sends each through the line-by-line reader
    messy_dir = write_hetrec(
        tmp_path / "messy", extra_plays=["2\t-1\t5"], extra_taggings=["2\t1\t1\t1\t4"]
    )
    with (messy_dir / "user_friends.dat").open("ab") as handle:
        handle.write(b"\r\n2\t3\t4\r\n")  # a blank line and a line with 3 fields
    messy = parse_hetrec(messy_dir)
    assert messy.plays.equals(clean.plays)
    assert messy.tag_events.equals(clean.tag_events)
    assert (messy.play_lines == clean.play_lines).all()
    assert (messy.tag_lines == clean.tag_lines).all()
    assert messy.artist_tags == clean.artist_tags
    assert messy.friends == clean.friends and messy.users == clean.users
    assert [(n, why) for n, why, _ in messy.problems["user_artists.dat"]] == [
        (7, "artistID: '-1' is not a whole number >= 0")
    ]
    assert [n for n, _, _ in messy.problems["user_taggedartists.dat"]] == [9]
    assert [n for n, _, _ in messy.problems["user_friends.dat"]] == [7]


def test_import_maps_every_file_and_is_idempotent(engine: Engine, tmp_path: Path) -> None:
    folder = write_hetrec(tmp_path / "hetrec")
    counts = import_hetrec(engine, folder)
    expected = {
        "users": 3,
        "artists": 4,
        "stub_artists": 1,
        "artist_tags": 4,
        "user_friends": 4,
        "play_track": 5,
        "tag_artist": 7,
        "quarantined": 0,
    }
    assert {k: v for k, v in counts.items() if k != "seconds"} == expected

    events, tags, artists = schema.user_events, schema.artist_tags, schema.artists
    with engine.connect() as conn:
        ranked = conn.execute(
            select(tags.c.tag, tags.c.weight, tags.c.rank)
            .where(tags.c.artist_id == "hetrec-a1")
            .order_by(tags.c.rank)
        ).all()
        # metal: users 2 and 3; rock: users 3 and 5 (tie, alphabetical); tropicália: user 2
        assert [tuple(r) for r in ranked] == [("metal", 2, 1), ("rock", 2, 2), ("tropicália", 1, 3)]
        stub = conn.execute(
            select(artists.c.name, artists.c.is_stub).where(artists.c.artist_id == "hetrec-a99")
        ).one()
        assert tuple(stub) == (None, True)
        stub_tags = conn.execute(
            select(tags.c.tag, tags.c.weight, tags.c.rank).where(tags.c.artist_id == "hetrec-a99")
        ).all()
        assert [tuple(r) for r in stub_tags] == [("fußball", 2, 1)]
        plays = conn.execute(
            select(events.c.event_id, events.c.user_id, events.c.artist_id, events.c.count)
            .where(events.c.event_type == "play_track")
            .order_by(events.c.event_id)
        ).all()
        assert ("hetrec-play-2-1", "hetrec-u2", "hetrec-a1", 100) in [tuple(p) for p in plays]
        assert sum(p.count for p in plays) == 100 + 50 + 7 + 1 + 9
        times = conn.execute(
            select(func.min(events.c.occurred_at_ms), func.max(events.c.occurred_at_ms)).where(
                events.c.event_type == "play_track"
            )
        ).one()
        assert tuple(times) == (HETREC_PLAY_TIME_MS, HETREC_PLAY_TIME_MS)
        tagged = dict(
            conn.execute(
                select(events.c.event_id, events.c.occurred_at_ms).where(
                    events.c.event_type == "tag_artist"
                )
            ).all()
        )
        assert tagged["hetrec-tag-3-1-4"] == _ms(2011, 5, 9)
        assert tagged["hetrec-tag-5-1-4"] == _ms(1956, 6, 1)
        assert tagged["hetrec-tag-2-99-3"] == _ms(2010, 1, 1)
        tag_of = conn.execute(
            select(events.c.tag).where(events.c.event_id == "hetrec-tag-2-1-2")
        ).scalar_one()
        assert tag_of == "tropicália"
        friends = conn.execute(select(schema.user_friends)).all()
        assert sorted(tuple(f) for f in friends) == sorted(
            (f"hetrec-u{a}", f"hetrec-u{b}") for a, b in FRIENDS
        )

    again = import_hetrec(engine, folder)
    assert all(v == 0 for k, v in again.items() if k != "seconds")
    assert _count(engine, schema.user_events) == 12
    assert _count(engine, schema.artists) == 5


def test_bad_lines_are_quarantined_and_the_rest_imported(engine: Engine, tmp_path: Path) -> None:
    folder = write_hetrec(
        tmp_path / "hetrec",
        extra_plays=["2\tx\t5", "7\t2"],  # lines 7 and 8 of user_artists.dat
        extra_taggings=["2\t2\t777\t1\t1\t2010", "2\t2\t1\t31\t2\t2010"],  # lines 9, 10
    )
    counts = import_hetrec(engine, folder)
    assert counts["play_track"] == 5
    assert counts["tag_artist"] == 7
    assert counts["quarantined"] == 4
    q = schema.quarantine
    with engine.connect() as conn:
        rows = conn.execute(select(q.c.source, q.c.line, q.c.reason).order_by(q.c.line)).all()
    assert [(Path(s).name, line) for s, line, _ in rows] == [
        ("user_artists.dat", 7),
        ("user_artists.dat", 8),
        ("user_taggedartists.dat", 9),
        ("user_taggedartists.dat", 10),
    ]
    assert "artistID" in rows[0].reason and "'x'" in rows[0].reason
    assert "2 fields, expected 3" in rows[1].reason
    assert "777" in rows[2].reason
    assert "2010-2-31" in rows[3].reason
    again = import_hetrec(engine, folder)
    assert again["quarantined"] == 4 and again["play_track"] == 0
    assert _count(engine, q) == 4  # one row per file and line, however many runs


def test_cli_prints_a_summary(sqlite_url: str, tmp_path: Path) -> None:
    folder = write_hetrec(tmp_path / "hetrec")
    result = CliRunner().invoke(
        lastfm_hetrec_command,
        [str(folder), "--no-progress"],
        obj=CliContext(database_url=sqlite_url),
    )
    assert result.exit_code == 0, result.output
    assert "tag_artist" in result.output and "user_events" in result.output
    assert "Done in" in result.output
    engine = make_engine(sqlite_url)
    assert _count(engine, schema.user_events) == 12
    engine.dispose()


def test_cli_is_attached_to_the_import_group(sqlite_url: str, tmp_path: Path) -> None:
    from cratedig.cli import cli

    if "import" not in cli.commands:
        pytest.skip("the `import` group (commands/ingest.py) is not there yet")
    folder = write_hetrec(tmp_path / "hetrec")
    result = CliRunner().invoke(
        cli, ["--db", sqlite_url, "import", "lastfm-hetrec", str(folder), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "play_track" in result.output


# -- the real dataset -------------------------------------------------------------------


def _weight_sum(path: Path) -> int:
    lines = path.read_text(encoding="ascii").splitlines()[1:]
    return sum(int(line.split("\t")[2]) for line in lines if line.strip())


def _check_real_counts(engine: Engine, folder: Path) -> dict[str, int | float]:
    counts = import_hetrec(engine, folder)
    events = schema.user_events
    assert _count(engine, schema.users) == 1892
    assert _count(engine, schema.artists, schema.artists.c.is_stub.is_(False)) == 17632
    assert _count(engine, schema.artists, schema.artists.c.is_stub.is_(True)) == 390
    assert _count(engine, events, events.c.event_type == "play_track") == 92834
    assert _count(engine, events, events.c.event_type == "tag_artist") == 186479
    assert _count(engine, schema.user_friends) == 25434
    with engine.connect() as conn:
        total = conn.execute(
            select(func.sum(events.c.count)).where(events.c.event_type == "play_track")
        ).scalar_one()
    assert total == _weight_sum(folder / "user_artists.dat")
    assert counts["quarantined"] == 0
    return counts


@pytest.mark.realdata
@pytest.mark.slow
def test_real_hetrec_on_sqlite_matches_the_readme(shared_data: Path, sqlite_url: str) -> None:
    folder = shared_data / "hetrec2011-lastfm-2k"
    engine = make_engine(sqlite_url)
    init_db(engine)
    started = time.perf_counter()
    counts = _check_real_counts(engine, folder)
    assert counts["play_track"] == 92834 and counts["tag_artist"] == 186479
    assert time.perf_counter() - started < 180  # generous: the machine is shared
    again = import_hetrec(engine, folder)
    assert all(v == 0 for k, v in again.items() if k != "seconds")
    assert _count(engine, schema.user_events) == 92834 + 186479
    engine.dispose()


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.postgres
def test_real_hetrec_on_postgres_matches_the_readme(shared_data: Path, postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    init_db(engine)
    _check_real_counts(engine, shared_data / "hetrec2011-lastfm-2k")
    engine.dispose()
