"""``cratedig evaluate`` and ``cratedig clusters`` build the matrix as the config file says.

Both run through the real CLI (click's runner) with a TOML file given by ``--config``
on a small simulated store; changing ``[weights]`` (or ``[engagement]``) changes what
they report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cratedig.cli import cli

#: Same pairs, other values: follows and likes count ten times more, plays less.
REWEIGHTED = "[weights]\nfollow_artist = 50.0\nlike_track = 20.0\nplay_track = 0.2\n"
#: Plays do not count at all: pairs with only plays leave the matrix.
NO_PLAYS = "[weights]\nplay_track = 0.0\n"


def _config(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _evaluate(store: str, tmp_path: Path, name: str, toml: str) -> dict[str, Any]:
    out = tmp_path / name
    args = ["--db", store, "--config", _config(tmp_path, name, toml), "evaluate"]
    args += ["--models", "popularity,item_knn", "--k", "5", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return dict(json.loads((out / "metrics.json").read_text()))


def _clusters(store: str, tmp_path: Path, name: str, toml: str) -> list[dict[str, Any]]:
    args = ["--db", store, "--config", _config(tmp_path, name, toml), "clusters"]
    args += ["--k", "3,5", "--components", "8", "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return list(json.loads(result.stdout))


def test_evaluate_follows_the_weights_table(simulated_store: str, tmp_path: Path) -> None:
    default = _evaluate(simulated_store, tmp_path, "default", "")
    reweighted = _evaluate(simulated_store, tmp_path, "reweighted", REWEIGHTED)
    no_plays = _evaluate(simulated_store, tmp_path, "no-plays", NO_PLAYS)
    assert default["meta"]["engagement"]["weights"]["follow_artist"] == 5.0
    assert reweighted["meta"]["engagement"]["weights"]["follow_artist"] == 50.0
    # other values on the same pairs: the split is the same, the value-aware model differs
    assert reweighted["meta"]["pairs"] == default["meta"]["pairs"]
    assert reweighted["results"]["item_knn"] != default["results"]["item_knn"]
    # plays left out: fewer pairs, other scores for both models
    assert no_plays["meta"]["pairs"] < default["meta"]["pairs"]
    for model in ("popularity", "item_knn"):
        assert no_plays["results"][model]["ndcg@5"] != default["results"][model]["ndcg@5"]


def test_evaluate_follows_the_engagement_table(simulated_store: str, tmp_path: Path) -> None:
    default = _evaluate(simulated_store, tmp_path, "default", "")
    filtered = _evaluate(
        simulated_store, tmp_path, "filtered", "[engagement]\nmin_artist_interactions = 15\n"
    )
    assert filtered["meta"]["engagement"]["min_artist_interactions"] == 15
    assert filtered["meta"]["artists"] < default["meta"]["artists"]
    assert filtered["results"]["popularity"] != default["results"]["popularity"]


def test_clusters_follow_the_weights_table(simulated_store: str, tmp_path: Path) -> None:
    default = _clusters(simulated_store, tmp_path, "default", "")
    again = _clusters(simulated_store, tmp_path, "again", "[weights]\nfollow_artist = 5.0\n")
    reweighted = _clusters(simulated_store, tmp_path, "reweighted", REWEIGHTED)
    assert again == default  # the same configuration written out gives the same report
    assert [run["parameter"] for run in reweighted] == [run["parameter"] for run in default]
    assert [run["silhouette"] for run in reweighted] != [run["silhouette"] for run in default]


def test_a_bad_engagement_table_is_a_clear_error(simulated_store: str, tmp_path: Path) -> None:
    toml = _config(tmp_path, "bad", "[engagement]\ntransform = 'sqrt'\n")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "cratedig.cli",
            "--db",
            simulated_store,
            "--config",
            toml,
            "clusters",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "Error: engagement.transform: 'sqrt' is not valid; expected none or one of" in (
        run.stderr
    )
    assert "Traceback" not in run.stderr
