"""Sensitivity (slow): served `popularity` for the first days of a simulated run, then
the default model promoted; the rollups, the report and the admin page show the step
per model version, and the default model's lists are clicked more.

Runs ``benchmarks/online_sensitivity.py`` (the full-size figures are in its output)
on a small site.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "online_sensitivity.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("online_sensitivity", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_promoting_the_default_model_shows_a_step_in_ctr(tmp_path: Path) -> None:
    script = _script()
    args = script.parse_args(
        ["--out", str(tmp_path / "out"), "--site-users", "300", "--site-artists", "400",
         "--site-events", "20000", "--listeners", "150", "--days", "12", "--promote-day", "6",
         "--visit-scale", "3"]
    )  # fmt: skip
    result = script.run(args)
    before, after = result["by_version"]["popularity"], result["by_version"]["default"]
    assert before["lists"] > 50 and after["lists"] > 50
    assert after["item_ctr"] > before["item_ctr"]
    assert after["list_ctr"] > before["list_ctr"]
    weeks = result["adjacent_weeks"]
    assert weeks["week_after"]["item_ctr"] > weeks["week_before"]["item_ctr"]
    # the daily series switches version at the promotion, and only there
    switch = result["promotion"]["at"]
    for row in result["daily"]:
        assert row["model_version"] == ("default" if row["day"] >= switch else "popularity")
    # the report and the admin page show both versions
    summary = json.loads((tmp_path / "out" / "report" / "summary.json").read_text())
    shown = {g["model_version"] for g in summary["groups"]}
    assert shown == set(result["versions"].values())
    html = (tmp_path / "out" / "admin_online.html").read_text()
    assert result["admin_page_status"] == 200
    assert all(v in html for v in result["versions"].values())
