"""Import the HetRec 2011 Last.fm 2K dataset (GroupLens) into the store.

The dataset folder holds tab-separated files with one header line each (see its
``readme.txt``): ``artists.dat`` (UTF-8, LF), ``tags.dat`` (Latin-1, CRLF),
``user_artists.dat``, ``user_friends.dat`` and ``user_taggedartists.dat`` (ASCII,
CRLF). :func:`import_hetrec` maps them onto the store as follows.

Ids
    The dataset's numbers, kept recognisable behind a prefix that keeps them apart
    from a site's own ids: user ``2`` is ``"hetrec-u2"``, artist ``51`` is
    ``"hetrec-a51"`` (:func:`hetrec_user_id`, :func:`hetrec_artist_id`).
Artists
    One row per line of ``artists.dat`` (name kept; the Last.fm URL and picture URL
    have no column in the store and are dropped). Their tags go to ``artist_tags``
    with ``weight`` = the number of users who applied the tag to the artist and
    ``rank`` 1 = the most applied (ties broken by tag text, A before B).
Missing artists
    390 artist ids of ``user_taggedartists.dat`` (1,538 rows) are not in
    ``artists.dat``. No event is lost: each becomes a **stub artist**
    (``is_stub = True``, no name) so its tag events and tags are kept.
Users
    The 1,892 users of the three user files (the dataset has no profile data).
Plays
    ``user_artists.dat`` becomes one aggregated ``play_track`` event per
    (user, artist) pair with ``count`` = the listening count and event id
    ``"hetrec-play-<user>-<artist>"``. The dataset carries no time for plays: every
    play event is dated :data:`HETREC_PLAY_TIME_MS`, 2011-05-01 00:00 UTC (the month
    of the crawl). ``duration_ms`` is unknown (``None``).
Tag events
    Each line of ``user_taggedartists.dat`` is one ``tag_artist`` event with the tag
    text in ``tag``, dated UTC midnight of its day/month/year, event id
    ``"hetrec-tag-<user>-<artist>-<tagID>"``. The 5 rows with bogus years (1956 x3,
    1957, 1979) are kept as they are, so the store holds exactly what the dataset
    says; filter ``occurred_at_ms < 2005`` if they matter to you.
Friends
    ``user_friends.dat`` into ``user_friends``, one directed row per line (25,434).

Every write is insert-or-ignore in chunks of ``chunk_rows`` rows, one transaction
per chunk, so a second import adds nothing. Events go through the bulk importer's
chunk machinery (vectorised validation, as for a Parquet file). Lines that cannot be
read (wrong number of fields, a non-integer id, an unknown tagID, an impossible date)
go to the ``quarantine`` table with their line number and reason; the good lines
still go in.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from cratedig.datasets.common import (
    import_event_table,
    write_quarantine,
    write_rows,
)
from cratedig.datasets.hetrec_parse import HetrecData, parse_hetrec
from cratedig.ingest.progress import make_progress
from cratedig.store import schema


def import_hetrec(
    engine: Engine, data_dir: str | Path, progress: bool = False, chunk_rows: int = 50_000
) -> dict[str, int | float]:
    """Import a HetRec 2011 Last.fm 2K folder into the store (idempotent).

    See the module docstring for how each file maps onto the store: prefixed ids,
    tags ranked by the number of users who applied them, plays as aggregated
    ``play_track`` events dated 2011-05-01 UTC, dated ``tag_artist`` events, stub
    artists (``is_stub``) for the 390 artist ids named only in the tag file, and
    directed friend rows. Users, artists, tags and friends are written first, then
    the events through the bulk importer (:func:`import_event_table`: validated, one
    transaction per chunk; every reference already exists, so it creates no stubs).

    Parameters
    ----------
    engine
        The store (schema already created).
    data_dir
        The ``hetrec2011-lastfm-2k`` folder.
    progress
        Show rich progress bars.
    chunk_rows
        Rows per transaction.

    Returns
    -------
    dict
        Rows **added** by this call: ``users``, ``artists`` (named), ``stub_artists``,
        ``artist_tags``, ``user_friends``, ``play_track``, ``tag_artist``,
        ``quarantined`` (bad lines found); plus ``seconds`` (wall time). A second run
        adds 0 rows (``quarantined`` counts the bad lines again, but the quarantine
        table keeps one row per file and line).
    """
    started = time.perf_counter()
    folder = Path(data_dir).resolve()
    kw: dict[str, Any] = {"chunk_rows": chunk_rows}
    with make_progress(progress) as bars:
        data = parse_hetrec(folder, bars)
        named = [a for a in data.artists if not a["is_stub"]]
        stubs = [
            {"artist_id": a["artist_id"], "is_stub": True} for a in data.artists if a["is_stub"]
        ]
        kw["progress"] = bars
        counts: dict[str, int | float] = {
            "users": write_rows(engine, schema.users, data.users, **kw),
            "artists": write_rows(engine, schema.artists, named, **kw),
            "stub_artists": write_rows(engine, schema.artists, stubs, label="stub artists", **kw),
            "artist_tags": write_rows(engine, schema.artist_tags, data.artist_tags, **kw),
            "user_friends": write_rows(engine, schema.user_friends, data.friends, **kw),
        }
        quarantined = 0
        for kind, name, events, lines in (
            ("play_track", "user_artists.dat", data.plays, data.play_lines),
            ("tag_artist", "user_taggedartists.dat", data.tag_events, data.tag_lines),
        ):
            source = str(folder / name)
            done = import_event_table(
                engine, events, lines, source=source, label=f"{kind} events", **kw
            )
            counts[kind] = done.accepted
            quarantined += done.quarantined
    for name, problems in data.problems.items():
        write_quarantine(engine, str(folder / name), problems)
        quarantined += len(problems)
    counts["quarantined"] = quarantined
    counts["seconds"] = round(time.perf_counter() - started, 3)
    return counts


def summarise_parse(data: HetrecData) -> Counter[str]:
    """Row counts of a parsed folder, by kind (for reports and tests)."""
    return Counter(
        users=len(data.users),
        artists=len(data.artists) - data.stub_artists,
        stub_artists=data.stub_artists,
        artist_tags=len(data.artist_tags),
        play_track=data.plays.num_rows,
        tag_artist=data.tag_events.num_rows,
        user_friends=len(data.friends),
    )
