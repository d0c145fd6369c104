"""`cratedig import events|users|artists|tracks FILE`: the summary and the options."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from cratedig.cli import cli


def test_import_events_prints_the_summary(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    lines = ["event_id,user_id,event_type,occurred_at,artist_id"]
    lines += [f"g{i},u1,follow_artist,2026-03-01T19:15:00Z,a1" for i in range(3)]
    lines += [f"b{i},u1,bad{i},2026-03-01T19:15:00Z,a1" for i in range(7)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    runner = CliRunner()
    args = ["--db", db_url, "import", "events", str(path), "--chunk-rows", "4", "--quiet"]
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.output
    assert re.search(r"accepted:\s+3\n", out)
    assert re.search(r"duplicates:\s+0\n", out)
    assert re.search(r"quarantined:\s+7\n", out)
    assert re.search(r"stubs created:\s+2\n", out)  # u1 and a1
    shown = re.findall(r"line (\d+): event_type: 'bad\d' is not valid", out)
    assert shown == ["5", "6", "7", "8", "9"]  # the first five reasons
    assert "... and 2 more" in out
    assert re.search(r"time:\s+[\d.]+ s \([\d,]+ rows/s\)", out)

    again = runner.invoke(cli, args, catch_exceptions=False)
    assert re.search(r"accepted:\s+0\n", again.output)
    assert re.search(r"duplicates:\s+3\n", again.output)


def test_import_group_help_lists_every_kind() -> None:
    result = CliRunner().invoke(cli, ["import", "--help"])
    assert result.exit_code == 0
    for kind in ("events", "users", "artists", "tracks"):
        assert kind in result.output
    help_text = CliRunner().invoke(cli, ["import", "events", "--help"]).output
    assert "--strict" in help_text and "--chunk-rows" in help_text and "--format" in help_text


def test_import_users_with_explicit_format(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "users.data"
    path.write_text('{"user_id": "u1", "country": "DE"}\n{"user_id": ""}\n', encoding="utf-8")
    args = ["--db", sqlite_url, "import", "users", str(path), "--format", "jsonl", "--quiet"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert re.search(r"accepted:\s+1\n", result.output)
    assert "line 2: user_id: '' is not valid" in result.output
