"""Settings: defaults < TOML file < CRATEDIG_* environment < overrides; bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from cratedig.config import DEFAULT_DATABASE_URL, Settings, load_settings
from cratedig.events import DEFAULT_WEIGHTS
from cratedig.exceptions import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cratedig.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file_or_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./cratedig.toml here
    settings = load_settings(env={})
    assert settings == Settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.import_chunk_rows == 50_000
    assert dict(settings.weights) == dict(DEFAULT_WEIGHTS)


def test_toml_overrides_defaults_and_env_overrides_toml(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'database_url = "sqlite:///from-toml.sqlite"\n'
        "import_chunk_rows = 1000\n"
        "session_gap_minutes = 10\n"
        'api_keys = ["k1", "k2"]\n'
        "[weights]\nplay_track = 0.5\n",
    )
    settings = load_settings(path, env={})
    assert settings.database_url == "sqlite:///from-toml.sqlite"
    assert settings.import_chunk_rows == 1000
    assert settings.session_gap_minutes == 10.0
    assert settings.api_keys == ("k1", "k2")
    assert settings.weights["play_track"] == 0.5
    assert settings.weights["follow_artist"] == DEFAULT_WEIGHTS["follow_artist"]

    env = {
        "CRATEDIG_DATABASE_URL": "postgresql://x@h/db",
        "CRATEDIG_IMPORT_CHUNK_ROWS": "77",
        "CRATEDIG_API_KEYS": "a, b,,c",
        "CRATEDIG_READ_REQUIRES_KEY": "yes",
    }
    settings = load_settings(path, env=env)
    assert settings.database_url == "postgresql://x@h/db"
    assert settings.import_chunk_rows == 77
    assert settings.session_gap_minutes == 10.0  # still from the TOML file
    assert settings.api_keys == ("a", "b", "c")
    assert settings.read_requires_key is True

    settings = load_settings(path, env=env, import_chunk_rows=5, database_url=None)
    assert settings.import_chunk_rows == 5
    assert settings.database_url == "postgresql://x@h/db"  # None overrides nothing


def test_config_file_from_env_and_from_working_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "import_chunk_rows = 123\n")
    assert load_settings(env={"CRATEDIG_CONFIG": str(path)}).import_chunk_rows == 123
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={}).import_chunk_rows == 123


def test_empty_env_value_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={"CRATEDIG_IMPORT_CHUNK_ROWS": ""}).import_chunk_rows == 50_000


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CRATEDIG_IMPORT_CHUNK_ROWS": "many"}, "CRATEDIG_IMPORT_CHUNK_ROWS: 'many' is not valid"),
        ({"CRATEDIG_READ_REQUIRES_KEY": "maybe"}, "CRATEDIG_READ_REQUIRES_KEY: 'maybe'"),
        ({"CRATEDIG_PROMOTION_MARGIN": "x"}, "'x' is not valid; expected a number"),
        (
            {"CRATEDIG_IMPORT_CHUNK_ROWS": "0"},
            "import_chunk_rows: 0 is not valid; expected a number >= 1",
        ),
        ({"CRATEDIG_SESSION_GAP_MINUTES": "0"}, "session_gap_minutes: 0.0 is not valid"),
    ],
)
def test_bad_env_values(
    env: dict[str, str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=message):
        load_settings(env=env)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("chunk_rows = 5\n", "chunk_rows: unknown setting"),
        ('import_chunk_rows = "lots"\n', "'lots' is not valid; expected a whole number"),
        (
            "import_chunk_rows = 2.5\n",
            "import_chunk_rows: 2.5 is not valid; expected a whole number",
        ),
        ("import_chunk_rows = -3\n", "import_chunk_rows: -3 is not valid; expected a number >= 1"),
        ('[weights]\nplay_track = "loud"\n', "weights.play_track: 'loud' is not valid"),
        ("[weights]\nplya = 1\n", "weights.plya: unknown event type"),
        ("this is = not toml [\n", "cannot be read"),
    ],
)
def test_bad_toml(text: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text), env={})


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings(tmp_path / "absent.toml", env={})


def test_unknown_override_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="nonsense: unknown setting"):
        load_settings(env={}, nonsense=1)
