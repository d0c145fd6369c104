"""Schema migrations: head equals the code, stores from today upgrade with nothing lost,
outdated stores are refused with a clear message, killed upgrades can be rerun."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import Engine, MetaData, Table, func, insert, inspect, select, text

from cratedig.cli import cli
from cratedig.ingest.bulk import import_file
from cratedig.ingest.quarantine import content_hash
from cratedig.ingest.simulator import SimulationConfig, simulate_to_store
from cratedig.serving import create_app
from cratedig.store import SchemaOutdatedError, ensure_schema, init_db, make_engine, migrate
from cratedig.store.schema import metadata
from tests.serving.conftest import KEY, train_tiny

BASELINE = migrate.BASELINE


def _baseline_module() -> Any:
    return migrate.script_directory().get_revision(BASELINE).module  # type: ignore[union-attr]


def _revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# -- the head is the code ----------------------------------------------------------------


def test_head_equals_the_models_metadata(engine: Engine) -> None:
    """A schema change without a revision fails here (Alembic's compare is empty)."""
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"schema changes without a migration revision: {diff}"
    assert _revision(engine) == migrate.head_revision()


def test_upgrading_from_nothing_equals_creating_head(db_url: str) -> None:
    """Running every revision from an empty store gives the same schema as ``init_db``."""
    engine = make_engine(db_url)
    migrate.upgrade(engine, BASELINE)
    assert _revision(engine) == BASELINE
    migrate.upgrade(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    engine.dispose()


def test_every_revision_says_whether_it_can_be_undone() -> None:
    infos = migrate.history()
    assert infos[0].revision == BASELINE and infos[0].down_revision is None
    assert infos[-1].revision == migrate.head_revision()
    for info in infos:
        module = migrate.script_directory().get_revision(info.revision).module  # type: ignore[union-attr]
        assert isinstance(module.LOSSLESS_DOWNGRADE, bool), info.revision
        assert info.title, f"{info.revision} needs a one-line docstring title"


# -- a filled store from today upgrades with nothing lost ---------------------------------


def _fill_head_store(engine: Engine, tmp_path: Path) -> None:
    """Simulator events, an import with quarantined rows, a trained version, impressions
    and feedback: what a site's store holds."""
    init_db(engine)
    cfg = SimulationConfig(n_users=40, n_artists=60, n_events=2_500, days=10, seed=3)
    simulate_to_store(engine, cfg)
    bad = tmp_path / "events.csv"
    bad.write_text(
        "event_id,user_id,event_type,occurred_at,artist_id\n"
        "imp-1,u-import,follow_artist,2025-01-02T10:00:00Z,a-import\n"
        "imp-2,u-import,plya,2025-01-02T10:01:00Z,a-import\n"
        "imp-3,,visit,2025-01-02T10:02:00Z,\n"
        "imp-4,u-import,tag_artist,2025-01-02T10:03:00Z,a-import\n",
        encoding="utf-8",
    )
    report = import_file(engine, "events", bad)
    assert report.quarantined == 3
    train_tiny(engine, tmp_path / "artifacts")
    app = create_app({"ENGINE": engine, "API_KEYS": (KEY,), "TESTING": True})
    client = app.test_client()
    with engine.connect() as conn:
        users = [r[0] for r in conn.execute(text("SELECT user_id FROM users LIMIT 5"))]
    for user in users:
        body = client.get(f"/api/v1/users/{user}/recommendations?k=5").get_json()
        artist = body["items"][0]["artist_id"]
        r = client.post(
            "/api/v1/feedback",
            headers={"X-API-Key": KEY},
            json={"user_id": user, "list_id": body["list_id"], "artist_id": artist, "thumb": "up"},
        )
        assert r.status_code in (200, 201), r.get_json()
    app.extensions["cratedig"].close()  # writes the buffered impressions


def _checksums(engine: Engine, tables: MetaData) -> dict[str, tuple[int, str]]:
    """Rows and a SHA-256 over every row (the baseline's columns, in key order)."""
    out = {}
    with engine.connect() as conn:
        for table in tables.sorted_tables:
            cols = [table.c[c.name] for c in table.columns]
            keys = [table.c[c.name] for c in table.primary_key.columns] or cols
            digest = hashlib.sha256()
            n = 0
            for row in conn.execute(select(*cols).order_by(*keys)):
                digest.update(json.dumps(list(row), default=str).encode())
                n += 1
            out[table.name] = (n, digest.hexdigest())
    return out


def _copy_into_baseline(source: Engine, target: Engine, baseline: MetaData) -> None:
    """Write the source's rows into a baseline-schema store, table by table."""
    with source.connect() as src, target.begin() as dst:
        for table in baseline.sorted_tables:
            live = Table(table.name, MetaData(), autoload_with=src)
            cols = [c.name for c in table.columns]
            rows = [dict(r._mapping) for r in src.execute(select(*[live.c[c] for c in cols]))]
            if rows:
                dst.execute(insert(table), rows)


@pytest.mark.slow
def test_a_filled_baseline_store_upgrades_with_every_row_intact(
    db_url: str, sqlite_url: str, tmp_path: Path
) -> None:
    filled = make_engine(f"sqlite:///{tmp_path / 'filled.sqlite'}")
    _fill_head_store(filled, tmp_path)
    baseline = _baseline_module().baseline_metadata()

    old = make_engine(db_url)
    migrate.upgrade(old, BASELINE)
    _copy_into_baseline(filled, old, baseline)
    before = _checksums(old, baseline)
    assert all(before[t][0] > 0 for t in ("user_events", "quarantine", "impressions", "feedback"))
    assert all(before[t][0] > 0 for t in ("model_versions", "precomputed_lists"))

    with pytest.raises(SchemaOutdatedError, match="cratedig db upgrade"):
        ensure_schema(old)
    applied = migrate.upgrade(old)
    assert applied and applied[-1] == migrate.head_revision()
    assert _checksums(old, baseline) == before
    with old.connect() as conn:
        rows = conn.execute(text("SELECT raw, raw_sha256 FROM quarantine")).all()
    assert rows and all(h == content_hash(raw) for raw, h in rows)

    # the service answers from the upgraded store, with the version trained before
    app = create_app({"ENGINE": old, "API_KEYS": (KEY,), "TESTING": True})
    with old.connect() as conn:
        user = conn.execute(text("SELECT user_id FROM precomputed_lists LIMIT 1")).scalar_one()
    body = app.test_client().get(f"/api/v1/users/{user}/recommendations?k=5").get_json()
    app.extensions["cratedig"].close()
    assert len(body["items"]) == 5 and body["model_version"]
    old.dispose()
    filled.dispose()


def test_a_store_from_before_migrations_is_recognised_stamped_and_upgraded(
    db_url: str,
) -> None:
    engine = make_engine(db_url)
    baseline = _baseline_module().baseline_metadata()
    # a pre-migration init-db: the baseline's tables, no version table, one missing
    baseline.create_all(engine, tables=[t for t in baseline.sorted_tables if t.name != "feedback"])
    with engine.begin() as conn:
        conn.execute(
            insert(baseline.tables["quarantine"]),
            [
                {
                    "source": "f.csv",
                    "line": 2,
                    "reason": "bad",
                    "raw": '{"a": 1}',
                    "created_at_ms": 1,
                }
            ],
        )
    assert migrate.schema_status(engine).state == "legacy"
    with pytest.raises(SchemaOutdatedError, match="before cratedig had schema migrations"):
        ensure_schema(engine)
    created = init_db(engine)
    assert "feedback" in created and "alembic_version" in created
    assert _revision(engine) == migrate.head_revision()
    with engine.connect() as conn:
        row = conn.execute(text("SELECT raw, raw_sha256 FROM quarantine")).one()
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    assert row.raw_sha256 == content_hash(row.raw)
    engine.dispose()


def test_a_foreign_schema_is_not_upgraded_blindly(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE users (user_id TEXT PRIMARY KEY, name TEXT)"))
    with pytest.raises(Exception, match="does not match cratedig's baseline"):
        init_db(engine)
    engine.dispose()


# -- commands: no-op when current, a clear stop when outdated ------------------------------


def _run(db: str, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--db", db, *args], catch_exceptions=False)


def test_db_upgrade_on_a_current_store_is_a_no_op(sqlite_url: str) -> None:
    assert _run(sqlite_url, "init-db").exit_code == 0
    engine = make_engine(sqlite_url)
    before = inspect(engine).get_table_names()
    result = _run(sqlite_url, "db", "upgrade")
    assert result.exit_code == 0 and "nothing to do" in result.output
    assert inspect(engine).get_table_names() == before
    assert _revision(engine) == migrate.head_revision()
    current = _run(sqlite_url, "db", "current")
    assert "state:    current" in current.output
    history = _run(sqlite_url, "db", "history")
    assert BASELINE in history.output and "downgrade loses data" in history.output
    engine.dispose()


@pytest.mark.parametrize("command", [["train"], ["serve"], ["evaluate"], ["report", "--out", "r"]])
def test_commands_stop_on_an_outdated_store_naming_db_upgrade(
    sqlite_url: str, tmp_path: Path, command: list[str]
) -> None:
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine, BASELINE)
    engine.dispose()
    proc = subprocess.run(
        [sys.executable, "-m", "cratedig.cli", "--db", sqlite_url, *command],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "cratedig db upgrade" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"is at schema revision {BASELINE}" in proc.stderr


def test_the_service_refuses_an_outdated_store(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine, BASELINE)
    with pytest.raises(SchemaOutdatedError, match="cratedig db upgrade"):
        create_app({"ENGINE": engine, "TESTING": True})
    engine.dispose()


def test_db_upgrade_brings_an_outdated_store_to_head(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine, BASELINE)
    result = _run(sqlite_url, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert "Applied" in result.output
    assert _revision(engine) == migrate.head_revision()
    engine.dispose()


# -- downgrades ------------------------------------------------------------------------------


def test_downgrade_where_lossless_and_refuse_where_not(db_url: str) -> None:
    engine = make_engine(db_url)
    init_db(engine)
    # the baseline cannot be undone without dropping everything
    with pytest.raises(Exception, match="cannot be undone without losing data"):
        migrate.downgrade(engine, "base")
    quarantine = metadata.tables["quarantine"]
    rows = [
        {"source": "f.csv", "line": 3, "reason": "bad", "raw": raw, "created_at_ms": 1}
        for raw in ('{"v": 1}', '{"v": 2}')
    ]
    with engine.begin() as conn:
        conn.execute(
            insert(quarantine), [{**r, "raw_sha256": content_hash(r["raw"])} for r in rows]
        )
    # two rows share (source, line): undoing the content key would lose one
    with pytest.raises(Exception, match="without losing rows"):
        migrate.downgrade(engine, BASELINE)
    # each revision is undone in its own transaction: later (lossless) ones are undone,
    # the store stays at the revision that refused
    assert _revision(engine) == "0002_quarantine_content_key"
    with engine.begin() as conn:
        conn.execute(quarantine.delete().where(quarantine.c.raw == '{"v": 2}'))
    assert migrate.downgrade(engine, BASELINE) == ["0002_quarantine_content_key"]
    assert _revision(engine) == BASELINE
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(text("quarantine"))).scalar() == 1
    migrate.upgrade(engine)
    assert _revision(engine) == migrate.head_revision()
    engine.dispose()


# -- a killed upgrade is rerun ---------------------------------------------------------------

_KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from cratedig.store import make_engine, migrate

    def die(what, done, total):
        if what.startswith("quarantine") and done >= 5000:
            os.kill(os.getpid(), signal.SIGKILL)

    migrate.upgrade(make_engine(sys.argv[1]), progress=die)
    """
)


@pytest.mark.slow
def test_an_upgrade_killed_mid_revision_leaves_the_old_revision_and_reruns(
    db_url: str,
) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(engine, BASELINE)
    table = _baseline_module().baseline_metadata().tables["quarantine"]
    rows = [
        {"source": "big.csv", "line": i, "reason": "r", "raw": f'{{"i": {i}}}', "created_at_ms": i}
        for i in range(12_000)
    ]
    with engine.begin() as conn:
        conn.execute(insert(table), rows)
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_SCRIPT, db_url],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    assert proc.returncode == -9, proc.stderr
    # the half-done revision was rolled back: still the baseline, no new column
    assert _revision(engine) == BASELINE
    assert "raw_sha256" not in {c["name"] for c in inspect(engine).get_columns("quarantine")}
    migrate.upgrade(engine)
    assert _revision(engine) == migrate.head_revision()
    with engine.connect() as conn:
        got = conn.execute(text("SELECT line, raw, raw_sha256 FROM quarantine ORDER BY line")).all()
    assert len(got) == 12_000
    assert all(h == content_hash(raw) for _line, raw, h in got)
    engine.dispose()


def test_the_frozen_hash_in_the_revision_matches_the_code() -> None:
    module = migrate.script_directory().get_revision("0002_quarantine_content_key").module  # type: ignore[union-attr]
    for raw in (None, "", '{"a": "é"}', '{"u": "\\ud800"}', "\ud800"):
        assert module.content_hash(raw) == content_hash(raw)


def test_every_revision_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "migrations.md").read_text()
    for info in migrate.history():
        assert f"`{info.revision}`" in doc, f"docs/migrations.md does not list {info.revision}"
