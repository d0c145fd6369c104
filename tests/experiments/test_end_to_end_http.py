"""End to end over HTTP: a real gunicorn, ``cratedig simulate-traffic --base-url``.

Two experiments run together through one simulated month of traffic, in different
layers and on different lists: ``pop-vs-good`` (the ``popularity`` version, being
served, against a personalised model, on May Like) and an A/A test (that model against
itself, on Hidden Gems). Nothing is patched in the service.

The personalised model is the production default (trained as ``cratedig train
--no-tune``), served with live rescoring on, as in production: each listener's list is
re-scored from their current history, while the popularity arm keeps its ranking and
only drops the artists the listener knows now (see ``docs/experiments_running.md``,
"Simulated traffic").

Clocks. The simulated listeners' events carry simulated times: the month after the
site's period, long before the wall clock, so the service accepts every one of them.
The service stamps impressions with its own wall clock, so every list of the month is
shown on the day the test runs. Experiment metrics credit events to lists by ``source =
list_id`` (click-through), never by time, so CTR and ratings are exact; only time-based
views differ from a real month: the daily sequential path has one look per wall-clock day
(usually one), and retention (a visit on a later day than the first list) cannot be
measured, so it is not a guardrail here. The in-process test
(``test_end_to_end.py``) moves the service's clock with the simulated days instead.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

import cratedig
from cratedig.cli import cli
from cratedig.clock import now_ms
from cratedig.experiments import manage
from cratedig.experiments.analysis import analyse
from cratedig.pipeline import registry
from cratedig.store import make_engine
from tests.experiments.sites import default_and_popularity

KEY = "e2e-http-key"
SITE_ARGS = ["--site-users", "300", "--site-artists", "200", "--site-events", "24000",
             "--site-days", "30", "--site-seed", "5"]  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str, str]:
    """The site, the default model and ``popularity`` (promoted: being served)."""
    return default_and_popularity(tmp_path_factory.mktemp("e2e-http"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_gunicorn(url: str, artifacts: Path, cwd: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A 2-worker gunicorn serving the store at ``url``; returns it and its base URL."""
    port = free_port()
    src = str(Path(cratedig.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "CRATEDIG_DATABASE_URL": url,
        "CRATEDIG_API_KEYS": KEY,
        "CRATEDIG_ARTIFACTS_DIR": str(artifacts),
        "CRATEDIG_LIVE_RESCORING": "true",  # as in production
    }
    argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
            "--worker-class", "gthread", "--threads", "2", "--log-level", "warning",
            "cratedig.serving:create_app()"]  # fmt: skip
    server = subprocess.Popen(argv, env=env, cwd=cwd)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(base + "/api/v1/health", timeout=2).status_code == 200:
                return server, base
        except requests.RequestException:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise AssertionError("gunicorn did not start")
        time.sleep(0.2)


def invoke(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
def test_a_simulated_month_over_gunicorn(
    store: tuple[Path, Path, str, str], tmp_path: Path
) -> None:
    path, artifacts, good, popular = store
    shutil.copy(path, tmp_path / "store.sqlite")
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    db = ["--db", url]
    invoke([*db, "experiment", "create", "pop-vs-good", "--variant", f"control={popular}",
            "--variant", f"treatment={good}", "--weights", "50,50", "--guardrail", "rating",
            "--salt", "http-1"])  # fmt: skip
    invoke([*db, "experiment", "create", "a-a", "--variant", f"a={good}",
            "--variant", f"b={good}", "--list", "hidden_gems", "--layer", "gems",
            "--salt", "http-2"])  # fmt: skip
    invoke([*db, "experiment", "start", "pop-vs-good"])
    invoke([*db, "experiment", "start", "a-a"])

    server, base = start_gunicorn(url, artifacts, tmp_path)
    try:
        output = invoke(
            [*db, "simulate-traffic", "--base-url", base, "--api-key", KEY, "--days", "28",
             "--users", "150", "--seed", "11", "--log", str(tmp_path / "log.jsonl"), *SITE_ARGS]
        )  # fmt: skip
    finally:
        server.send_signal(signal.SIGTERM)  # the workers write their impressions on exit
        server.wait(timeout=60)
    print(output)
    assert "over 28 simulated days" in output
    engine = make_engine(url)
    invoke([*db, "experiment", "stop", "pop-vs-good"])
    invoke([*db, "experiment", "stop", "a-a"])
    assert manage.load(engine, "pop-vs-good").stopped_at_ms <= now_ms()  # type: ignore[operator]

    # the analysis reads CTR from the online rollup once a refresh covers the period
    # (--full: the simulated events lie before an incremental refresh's window)
    invoke([*db, "online", "refresh", "--full"])
    report = analyse(engine, manage.load(engine, "pop-vs-good"))
    assert report["source"] == "online"
    raw = analyse(engine, manage.load(engine, "pop-vs-good"), source="raw")
    assert raw["source"] == "raw" and {**raw, "source": "online"} == report  # same numbers
    ctr = next(m for m in report["metrics"] if m["metric"] == "ctr")
    print("pop-vs-good users", report["users"], "srm p", report["srm"]["p_value"])
    print("ctr", json.dumps(ctr["fixed"]), "holm p", ctr["adjusted_p"], "boot", ctr["bootstrap"])
    print("decision:", report["decision"]["text"])
    assert report["srm"]["mismatch"] is False and report["srm"]["p_value"] > 0.001
    assert sum(report["users"].values()) > 100  # of 150 listeners
    assert ctr["fixed"]["lift"] > 0 and ctr["fixed"]["p_value"] < 0.01
    assert ctr["adjusted_p"] < 0.01
    assert report["decision"]["verdict"] == "ship"
    assert report["decision"]["text"].startswith("treatment wins on CTR")

    aa = analyse(engine, manage.load(engine, "a-a"))
    aa_ctr = next(m for m in aa["metrics"] if m["metric"] == "ctr")
    print("a-a users", aa["users"], "srm p", aa["srm"]["p_value"], "ctr", json.dumps(aa_ctr))
    print("a-a decision:", aa["decision"]["text"])
    assert sum(aa["users"].values()) > 100
    assert aa["srm"]["mismatch"] is False
    assert aa_ctr["fixed"]["lift_ci"][0] < 0 < aa_ctr["fixed"]["lift_ci"][1]
    assert aa_ctr["fixed"]["p_value"] >= 0.05
    assert aa["decision"]["verdict"] == "keep_running"
    assert aa["decision"]["text"].startswith("no detectable difference yet")

    out = invoke([*db, "experiment", "report", "pop-vs-good", "--out", str(tmp_path / "rep")])
    assert "Decision: treatment wins on CTR" in out
    out = invoke([*db, "experiment", "conclude", "pop-vs-good", "--promote-winner"])
    print(out)
    assert f"Promoted {good}" in out
    assert registry.active_version(engine).version_id == good  # type: ignore[union-attr]
    assert manage.load(engine, "pop-vs-good").conclusion["promoted"] == good  # type: ignore[index]
    engine.dispose()
