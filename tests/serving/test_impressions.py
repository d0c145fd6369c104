"""Impressions: every list served is logged, and nothing is lost on shutdown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flask import Flask
from sqlalchemy import Engine, func, select

from cratedig.serving.impressions import ImpressionWriter
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
    assert [(r.list_id, r.artist_id, r.position, r.list_type) for r in rows[:3]] == [
        (body["list_id"], i["artist_id"], i["position"], "hidden_gems") for i in body["items"]
    ]
    assert {r.model_version for r in rows} == {body["model_version"]}
    assert {r.user_id for r in rows} == {"u01"}
    assert [(r.list_id, r.list_type) for r in rows[3:]] == [(sim["list_id"], "similar_artists")] * 2


def test_close_writes_everything(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    init_db(engine)
    writer = ImpressionWriter(engine, flush_rows=10**6, flush_seconds=3600)
    for n in range(250):
        writer.log(f"L{n}", "u", "may_like", ["a", "b", "c", "d"], "v1")
    writer.close()
    assert len(_rows(engine)) == 1000 and writer.written == 1000
    writer.log("late", "u", "may_like", ["a"], "v1")  # after close: written at once
    assert len(_rows(engine)) == 1001


def test_atexit_flushes_on_normal_exit(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    init_db(engine)
    script = (
        "from cratedig.store import make_engine\n"
        "from cratedig.serving.impressions import ImpressionWriter\n"
        f"w = ImpressionWriter(make_engine({sqlite_url!r}), flush_rows=10**6, "
        "flush_seconds=3600)\n"
        "for n in range(100):\n"
        "    w.log(f'L{n}', 'u', 'may_like', ['a', 'b'], 'v1')\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(impressions)).scalar_one() == 200
