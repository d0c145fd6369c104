"""Impressions: every list served is logged, and nothing is lost on shutdown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flask import Flask
from sqlalchemy import Engine, func, select

from cratedig.serving.impressions import ImpressionWriter, impression_artists
from cratedig.store import init_db, make_engine
from cratedig.store.schema import impressions


def _rows(engine: Engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(impressions).order_by(impressions.c.impression_id)).all()


def test_served_lists_are_logged(app: Flask, store: Engine) -> None:
    client = app.test_client()
    body = client.get("/api/v1/users/u01/recommendations?k=3&list=hidden_gems").get_json()
    sim = client.get("/api/v1/artists/r5/similar?k=2&user_id=u01").get_json()
    app.extensions["cratedig"].impressions.flush()
    rows = _rows(store)
    assert len(rows) == 2  # one row per list served
    gems, similar = rows
    assert (gems.list_id, gems.list_type, gems.n_items) == (body["list_id"], "hidden_gems", 3)
    by_position = {i["position"]: i["artist_id"] for i in body["items"]}
    assert impression_artists(gems) == [by_position[p] for p in (1, 2, 3)]
    assert {r.model_version for r in rows} == {body["model_version"]}
    assert {r.user_id for r in rows} == {"u01"}
    assert (similar.list_id, similar.list_type) == (sim["list_id"], "similar_artists")
    assert impression_artists(similar) == [i["artist_id"] for i in sim["items"]]


def test_close_writes_everything(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    init_db(engine)
    writer = ImpressionWriter(engine, flush_rows=10**6, flush_seconds=3600)
    for n in range(250):
        writer.log(f"L{n}", "u", "may_like", ["a", "b", "c", "d"], "v1")
    writer.close()
    rows = _rows(engine)
    assert len(rows) == 250 and writer.written == 250
    assert sum(r.n_items for r in rows) == 1000
    assert impression_artists(rows[7]) == ["a", "b", "c", "d"] and rows[7].list_id == "L7"
    writer.log("late", "u", "may_like", ["a"], "v1")  # after close: written at once
    assert len(_rows(engine)) == 251


def test_atexit_flushes_on_normal_exit(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    init_db(engine)
    script = (
        "from cratedig.store import make_engine\n"
        "from cratedig.serving.impressions import ImpressionWriter, impression_artists\n"
        f"w = ImpressionWriter(make_engine({sqlite_url!r}), flush_rows=10**6, "
        "flush_seconds=3600)\n"
        "for n in range(100):\n"
        "    w.log(f'L{n}', 'u', 'may_like', ['a', 'b'], 'v1')\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(impressions)).scalar_one() == 100
        assert conn.execute(select(func.sum(impressions.c.n_items))).scalar_one() == 200


def test_list_ids_are_unique_within_and_across_a_fork() -> None:
    import os

    from cratedig.serving.service import new_list_id

    first = [new_list_id() for _ in range(1000)]  # several refills of the buffer
    assert len(set(first)) == 1000 and all(len(i) == 21 and i[0] == "L" for i in first)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child (a gunicorn worker forked after the buffer was filled)
        os.write(write, ",".join(new_list_id() for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 1 << 16).decode().split(",")
    os.close(read)
    os.waitpid(pid, 0)
    parent = [new_list_id() for _ in range(50)]
    assert len(child) == 50 and not set(child) & set(parent)
