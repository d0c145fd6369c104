"""`cratedig evaluate` end to end on a small simulated store, and the report files."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cratedig.cli import cli
from cratedig.evaluation.report import metrics_table, write_html, write_json


def test_evaluate_command_writes_json_and_html(simulated_store: str, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    result = CliRunner().invoke(
        cli,
        ["--db", simulated_store, "evaluate", "--models", "popularity,item_knn", "--k", "5",
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "NDCG@5" in result.output and "item_knn" in result.output
    payload = json.loads((out / "metrics.json").read_text())
    assert set(payload["results"]) == {"popularity", "item_knn"}
    popularity = payload["results"]["popularity"]
    assert 0.0 <= popularity["ndcg@5"] <= 1.0
    assert popularity["users"] > 0
    assert payload["meta"]["k"] == 5
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 2
    assert "item_knn" in html


def test_evaluate_rejects_empty_model_list(simulated_store: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", simulated_store, "evaluate", "--models", " , "])
    assert result.exit_code != 0
    assert "--models" in result.output


def test_evaluate_rejects_unknown_model_before_any_work(simulated_store: str) -> None:
    result = CliRunner().invoke(cli, ["--db", simulated_store, "evaluate", "--models", "nope,als"])
    assert result.exit_code == 2
    assert "nope unknown" in result.output and "Matrix:" not in result.output


def test_report_files_handle_nan_and_missing_metrics(tmp_path: Path) -> None:
    results = {"a": {"ndcg@10": 0.25, "novelty@10": float("nan")}, "b": {"ndcg@10": 0.1}}
    payload = json.loads(write_json(results, tmp_path / "m.json", {"seed": 1}).read_text())
    assert payload["results"]["a"]["novelty@10"] is None
    page = write_html(results, tmp_path / "r.html", k=10).read_text()
    assert '<td class="num">0.2500</td>' in page
    table = metrics_table(results, k=10)
    assert [c.header for c in table.columns] == ["Model", "NDCG@10", "Novelty"]


def test_evaluate_with_tuning_records_best_params(simulated_store: str, tmp_path: Path) -> None:
    out = tmp_path / "tuned"
    result = CliRunner().invoke(
        cli,
        ["--db", simulated_store, "evaluate", "--models", "ease", "--k", "5", "--tune",
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    row = json.loads((out / "metrics.json").read_text())["results"]["ease"]
    assert row["params"]["l2"] in {100.0, 300.0, 1000.0, 3000.0}
    assert 0.0 <= row["validation_ndcg@5"] <= 1.0
