"""The Last.fm 1K importer: hand-made profile and log files with the formats' quirks, and
(realdata) the real profile file and the 5,000-line head of the log."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from cratedig.commands.common import CliContext
from cratedig.commands.datasets import lastfm_1k_command
from cratedig.datasets.lastfm_1k import find_files, import_lastfm_1k
from cratedig.datasets.lastfm_1k_parse import artist_id_for, track_id_for
from cratedig.exceptions import NotFoundError
from cratedig.store import init_db, make_engine, schema

PROFILE = [
    "#id\tgender\tage\tcountry\tregistered",
    "user_000001\tm\t\tJapan\tAug 13, 2006",
    "user_000002\tf\t22\tUnited States\tOct 30, 2005",
    "user_000003\t\t\t\t",
    "user_000004\tx\t\t\tApr 26, 2006",  # line 5: unknown gender
    "user_000005\tm\tabc\t\t",  # line 6: age not a number
    "user_000006\tf\t30\tPeru\tSmarch 1, 2006",  # line 7: not a date
    "user_000007\tm\t25\tCôte d'Ivoire\tFeb 24, 2006",
]
DEEP_DISH = "f1b1cf71-bd35-4e99-8624-24a6e15f133a"
SAKAMOTO = "a7f7df4a-77d8-4f12-8acd-5c60c93f4de8"
LOG: list[bytes] = [
    f"user_000001\t2009-05-04T23:08:57Z\t{DEEP_DISH}\tDeep Dish\t\tFuck Me Im Famous".encode(),
    f"user_000001\t2009-05-04T13:54:10Z\t{SAKAMOTO}\t坂本龍一\t\tComposition 0919".encode(),
    "user_000001\t2009-05-04T13:52:04Z\t\tSome Unknown Band\t\tSong ☃".encode(),
    "user_000001\t2009-05-04T13:50:00Z\t\tSome Unknown Band\t\tSong ☃".encode(),
    "user_000001\t2009-05-04T13:50:00Z\t\tSome Unknown Band\t\tSong ☃".encode(),  # repeat
    b"user_000009\t2009-05-03T10:00:00Z\tart-mbid\tName\ttrack-mbid\tTitle",  # no profile
    b"user_000001\t2009-05-03T10:00:00Z\tonly\tfive\tfields",  # line 7
    b"user_000001\tyesterday\t\tBand\t\tSong",  # line 8
    b"user_000001\t2009-05-03T09:00:00Z\t\tBad \xff\xfe bytes\t\tSong",  # line 9
    b"user_000001\t2009-05-03T08:00:00Z\t\t\t\tNo artist",  # line 10
    b"user_000002\t2009-05-02T00:00:00Z\t\tArtist Only\t\t",  # no track at all
]


def write_1k(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "userid-profile.tsv").write_bytes(("\n".join(PROFILE) + "\n").encode("utf-8"))
    log = folder / "userid-timestamp-artid-artname-traid-traname.tsv"
    log.write_bytes(b"\n".join(LOG) + b"\n")
    return folder


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def _count(engine: Engine, table: object, *where: object) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(table)  # type: ignore[arg-type]
        return int(conn.execute(query.where(*where)).scalar_one())


def test_import_profiles_and_log(engine: Engine, tmp_path: Path) -> None:
    folder = write_1k(tmp_path / "lastfm-1K")
    counts = import_lastfm_1k(engine, folder)
    assert {k: v for k, v in counts.items() if k != "seconds"} == {
        "users": 4,
        "stub_users": 1,
        "artists": 5,
        "tracks": 4,
        "play_track": 6,
        "duplicates": 1,
        "quarantined": 7,
    }
    users, events, artists, tracks = schema.users, schema.user_events, schema.artists, schema.tracks
    with engine.connect() as conn:
        rows = {
            r.user_id: r
            for r in conn.execute(
                select(
                    users.c.user_id,
                    users.c.gender,
                    users.c.age,
                    users.c.country,
                    users.c.signup_at_ms,
                    users.c.is_stub,
                )
            )
        }
        assert set(rows) == {
            "user_000001",
            "user_000002",
            "user_000003",
            "user_000007",
            "user_000009",
        }
        assert tuple(rows["user_000001"])[1:] == ("m", None, "Japan", _ms("2006-08-13"), False)
        assert tuple(rows["user_000002"])[1:] == (
            "f",
            22,
            "United States",
            _ms("2005-10-30"),
            False,
        )
        assert tuple(rows["user_000003"])[1:] == (None, None, None, None, False)
        assert rows["user_000007"].country == "Côte d'Ivoire"
        assert rows["user_000009"].is_stub
        names = dict(conn.execute(select(artists.c.artist_id, artists.c.name)).all())
        unknown = artist_id_for("", "Some Unknown Band")
        assert unknown.startswith("lfm1k-ar-")
        assert names == {
            DEEP_DISH: "Deep Dish",
            SAKAMOTO: "坂本龍一",
            unknown: "Some Unknown Band",
            "art-mbid": "Name",
            artist_id_for("", "Artist Only"): "Artist Only",
        }
        titles = dict(conn.execute(select(tracks.c.track_id, tracks.c.title)).all())
        assert titles[track_id_for("", unknown, "Song ☃")] == "Song ☃"
        assert titles["track-mbid"] == "Title"
        assert len(titles) == 4
        first = conn.execute(
            select(events.c.artist_id, events.c.occurred_at_ms, events.c.event_type).where(
                events.c.occurred_at_ms == _ms("2009-05-04T23:08:57")
            )
        ).one()
        assert tuple(first) == (DEEP_DISH, _ms("2009-05-04T23:08:57"), "play_track")
        trackless = conn.execute(
            select(events.c.track_id).where(events.c.user_id == "user_000002")
        ).one()
        assert trackless.track_id is None
        q = schema.quarantine
        lines = conn.execute(
            select(q.c.source, q.c.line, q.c.reason).order_by(q.c.source, q.c.line)
        ).all()
    by_file = [(Path(s).name, line) for s, line, _ in lines]
    assert by_file == [
        ("userid-profile.tsv", 5),
        ("userid-profile.tsv", 6),
        ("userid-profile.tsv", 7),
        ("userid-timestamp-artid-artname-traid-traname.tsv", 7),
        ("userid-timestamp-artid-artname-traid-traname.tsv", 8),
        ("userid-timestamp-artid-artname-traid-traname.tsv", 9),
        ("userid-timestamp-artid-artname-traid-traname.tsv", 10),
    ]
    reasons = [r for _, _, r in lines]
    assert "gender" in reasons[0] and "age" in reasons[1] and "registered" in reasons[2]
    assert "6 tab-separated fields" in reasons[3] and "timestamp" in reasons[4]
    assert "UTF-8" in reasons[5] and "artist" in reasons[6]

    again = import_lastfm_1k(engine, folder)
    assert {k: v for k, v in again.items() if k != "seconds"} == {
        **dict.fromkeys(("users", "stub_users", "artists", "tracks", "play_track"), 0),
        "duplicates": 7,
        "quarantined": 7,  # found again, but stored once per file and line
    }
    assert _count(engine, schema.user_events) == 6
    assert _count(engine, schema.quarantine) == 7


def test_a_profile_imported_after_the_log_replaces_the_stub(
    sqlite_url: str, tmp_path: Path
) -> None:
    folder = write_1k(tmp_path / "lastfm-1K")
    engine = make_engine(sqlite_url)
    init_db(engine)
    log = folder / "userid-timestamp-artid-artname-traid-traname.tsv"
    first = import_lastfm_1k(engine, log, limit=2)
    assert first["play_track"] == 2 and first["stub_users"] == 1 and first["users"] == 0
    import_lastfm_1k(engine, folder / "userid-profile.tsv")
    with engine.connect() as conn:
        row = conn.execute(
            select(schema.users.c.is_stub, schema.users.c.country).where(
                schema.users.c.user_id == "user_000001"
            )
        ).one()
    assert tuple(row) == (False, "Japan")
    engine.dispose()


def test_find_files(tmp_path: Path) -> None:
    folder = write_1k(tmp_path / "lastfm-1K")
    profile, log = find_files(folder)
    assert profile == folder / "userid-profile.tsv"
    assert log is not None and log.name.startswith("userid-timestamp")
    renamed = folder / "plays.tsv"
    renamed.write_bytes(log.read_bytes())
    assert find_files([renamed, folder / "userid-profile.tsv"]) == (profile, renamed)
    with pytest.raises(NotFoundError):
        find_files(tmp_path / "nope")


def test_cli_prints_a_summary(sqlite_url: str, tmp_path: Path) -> None:
    folder = write_1k(tmp_path / "lastfm-1K")
    result = CliRunner().invoke(
        lastfm_1k_command, [str(folder), "--no-progress"], obj=CliContext(database_url=sqlite_url)
    )
    assert result.exit_code == 0, result.output
    assert "play_track" in result.output and "quarantine" in result.output


@pytest.mark.realdata
def test_real_profile_and_log_head(shared_data: Path, sqlite_url: str) -> None:
    folder = shared_data / "lastfm-1K"
    log = folder / "userid-timestamp-artid-artname-traid-traname.first5000lines.tsv"
    lines = log.read_text(encoding="utf-8").splitlines()
    expected_artists = {f[2] or f[3] for f in (line.split("\t") for line in lines)}
    engine = make_engine(sqlite_url)
    init_db(engine)
    counts = import_lastfm_1k(engine, folder)
    assert counts["users"] == 992
    assert counts["play_track"] == 5000
    assert counts["artists"] == len(expected_artists)
    assert counts["stub_users"] == 0 and counts["quarantined"] == 0
    users = schema.users
    assert _count(engine, users, users.c.age.is_not(None)) == 286
    assert _count(engine, users, users.c.country.is_not(None)) == 907
    assert _count(engine, users, users.c.gender == "m") == 502
    assert _count(engine, users, users.c.gender == "f") == 382
    assert _count(engine, users, users.c.signup_at_ms.is_not(None)) == 984
    events = schema.user_events
    assert _count(engine, events, events.c.user_id == "user_000001") == 4997
    assert _count(engine, events, events.c.user_id == "user_000002") == 3
    again = import_lastfm_1k(engine, folder)
    assert again["play_track"] == 0 and again["users"] == 0 and again["duplicates"] == 5000
    engine.dispose()


def test_small_chunks_and_gzip_give_the_same_store(sqlite_url: str, tmp_path: Path) -> None:
    folder = write_1k(tmp_path / "lastfm-1K")
    log = folder / "userid-timestamp-artid-artname-traid-traname.tsv"
    packed = tmp_path / "log.tsv.gz"
    packed.write_bytes(gzip.compress(log.read_bytes()))
    engine = make_engine(sqlite_url)
    init_db(engine)
    counts = import_lastfm_1k(engine, [folder / "userid-profile.tsv", packed], chunk_rows=2)
    assert {k: v for k, v in counts.items() if k != "seconds"} == {
        "users": 4,
        "stub_users": 1,
        "artists": 5,
        "tracks": 4,
        "play_track": 6,
        "duplicates": 1,  # the repeated line sits in another chunk than its twin
        "quarantined": 7,
    }
    assert _count(engine, schema.user_events) == 6
    engine.dispose()
