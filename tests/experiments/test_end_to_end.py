"""End to end: simulated listeners use the service while experiments run.

The traffic simulator (in process, through Flask's test client) drives a month of
visits. The service stamps impressions with its own clock; here the clock follows the
simulated days (``on_day``) so that exposures, visits and the daily sequential path
line up with the simulated events (events are credited to lists by ``source =
list_id`` in any case).
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

import cratedig.serving.impressions as impressions_module
from cratedig.cli import cli
from cratedig.config import Settings
from cratedig.experiments import manage
from cratedig.experiments.analysis import analyse
from cratedig.pipeline import registry
from cratedig.serving import create_app
from cratedig.simulator.client import TestClientAdapter
from cratedig.simulator.traffic import TrafficConfig, simulate_traffic
from cratedig.store import make_engine
from tests.experiments.sites import SITE, default_and_popularity
from tests.simulator.conftest import KEY, start_after_store

DAY_MS = 86_400_000
#: Listeners (of the site's 300 users): the default's CTR lift over popularity (+130%)
#: is far beyond what 150 need for p < 0.01, and the month costs half the CPU of 300.
LISTENERS = 150


def run_month(
    engine: Engine, artifacts: Path, monkeypatch: pytest.MonkeyPatch, log: Path, days: int = 28
) -> tuple[int, int]:
    """Simulate ``days`` of traffic; the service's impression clock follows the days."""
    start = start_after_store(engine)
    clock = {"day": start}
    tick = itertools.count()
    monkeypatch.setattr(impressions_module, "now_ms", lambda: clock["day"] + next(tick))

    def on_day(_day: int, day_start_ms: int) -> None:
        clock["day"] = day_start_ms

    # as served in production: live rescoring on (the default model is re-scored from
    # each listener's current history; popularity keeps its ranking minus known artists)
    settings = Settings(
        database_url=str(engine.url),
        api_keys=(KEY,),
        artifacts_dir=str(artifacts),
        live_rescoring=True,
    )
    app = create_app({"ENGINE": engine, "SETTINGS": settings, "TESTING": True})
    try:
        config = TrafficConfig(start_ms=start, days=days, users=LISTENERS, seed=11)
        client = TestClientAdapter(app.test_client(), KEY)
        simulate_traffic(client, SITE, config, log, on_day=on_day)
    finally:
        app.extensions["cratedig"].close()
    return start, start + days * DAY_MS


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str, str]:
    """The site, the production default model and ``popularity``, which is being served.

    Both are trained as ``cratedig train --no-tune`` does (the default: ``cratedig train
    --no-tune``; popularity: ``--model popularity``).
    """
    return default_and_popularity(tmp_path_factory.mktemp("e2e"))


@pytest.fixture
def site(
    base: tuple[Path, Path, str, str], tmp_path: Path
) -> Iterator[tuple[Engine, Path, str, str]]:
    """A fresh copy of the base store (no traffic yet)."""
    path, artifacts, good, popular = base
    shutil.copy(path, tmp_path / "store.sqlite")
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    yield engine, artifacts, good, popular
    engine.dispose()


@pytest.mark.slow
def test_a_good_model_beats_popularity_on_ctr_and_is_promoted(
    site: tuple[Engine, Path, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, artifacts, good, popular = site
    runner = CliRunner()
    db = ["--db", str(engine.url)]
    result = runner.invoke(
        cli,
        [*db, "experiment", "create", "pop-vs-good", "--variant", f"control={popular}",
         "--variant", f"treatment={good}", "--weights", "50,50", "--guardrail", "rating,retention",
         "--salt", "e2e-1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    start = start_after_store(engine)
    manage.start(engine, "pop-vs-good", at_ms=start)
    _, end = run_month(engine, artifacts, monkeypatch, tmp_path / "log.jsonl")
    manage.stop(engine, "pop-vs-good", at_ms=end)

    report = analyse(engine, manage.load(engine, "pop-vs-good"))
    ctr = next(m for m in report["metrics"] if m["metric"] == "ctr")
    print("pop-vs-good users", report["users"], "srm p", report["srm"]["p_value"])
    print("ctr", json.dumps(ctr["fixed"]), "holm p", ctr["adjusted_p"], "seq", ctr["sequential"])
    print("decision:", report["decision"]["text"])
    assert report["srm"]["mismatch"] is False
    assert ctr["fixed"]["lift"] > 0 and ctr["fixed"]["p_value"] < 0.01
    assert report["decision"]["verdict"] == "ship"
    assert report["decision"]["text"].startswith("treatment wins on CTR")
    assert len(ctr["path"]) >= 20  # one look per simulated day
    assert ctr["path"][-1]["sequential_p"] >= ctr["fixed"]["p_value"]
    assert {m["metric"] for m in report["metrics"]} == {"ctr", "rating", "retention"}

    out = tmp_path / "report"
    result = runner.invoke(cli, [*db, "experiment", "report", "pop-vs-good", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Decision: treatment wins on CTR" in result.output
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "http://" not in html and "https://" not in html
    assert json.loads((out / "report.json").read_text())["decision"]["verdict"] == "ship"
    assert (out / "path.png").read_bytes()[:4] == b"\x89PNG"

    result = runner.invoke(cli, [*db, "experiment", "power", "--baseline", "0.10", "--mde", "0.05"])
    assert result.exit_code == 0, result.output
    assert "Users per arm: 57,756" in result.output and "Days needed:" in result.output
    print(result.output)

    result = runner.invoke(cli, [*db, "experiment", "conclude", "pop-vs-good", "--promote-winner"])
    assert result.exit_code == 0, result.output
    assert f"Promoted {good}" in result.output
    assert registry.active_version(engine).version_id == good  # type: ignore[union-attr]
    concluded = manage.load(engine, "pop-vs-good")
    assert concluded.state == "concluded" and concluded.conclusion["promoted"] == good  # type: ignore[index]
    result = runner.invoke(cli, [*db, "experiment", "status"])
    assert "concluded" in result.output


@pytest.mark.slow
def test_an_a_a_experiment_reports_no_difference(
    site: tuple[Engine, Path, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, artifacts, good, _ = site
    manage.create(engine, "a-a", [f"a={good}", f"b={good}"], guardrails=["rating"], salt="e2e-2")
    start = start_after_store(engine)
    manage.start(engine, "a-a", at_ms=start)
    _, end = run_month(engine, artifacts, monkeypatch, tmp_path / "log.jsonl", days=14)
    manage.stop(engine, "a-a", at_ms=end)
    report = analyse(engine, manage.load(engine, "a-a"))
    ctr = next(m for m in report["metrics"] if m["metric"] == "ctr")
    print("a-a users", report["users"], "ctr", json.dumps(ctr["fixed"]), report["decision"])
    assert report["srm"]["mismatch"] is False
    assert ctr["fixed"]["lift_ci"][0] < 0 < ctr["fixed"]["lift_ci"][1]
    assert ctr["adjusted_p"] >= 0.05
    assert report["decision"]["verdict"] == "keep_running"
    assert report["decision"]["text"].startswith("no detectable difference yet")
