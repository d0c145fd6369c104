"""The ``[engagement]`` settings table, its environment variables and the one constructor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cratedig.config import EngagementSettings, Settings, load_settings
from cratedig.events import DEFAULT_WEIGHTS
from cratedig.exceptions import ConfigError, ValidationError
from cratedig.matrix import EngagementConfig

TABLE = """
[weights]
play_track = 0.5

[engagement]
half_life_days = 90
transform = "bm25"
bm25_k1 = 1.2
bm25_b = 0.75
min_user_interactions = 2
min_artist_interactions = 3
filter_until_stable = false
unfollow_policy = "negative"
block_days = "none"
full_play_ms = 60000
skip_ms = 10000
skip_fraction = 0.25
"""


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cratedig.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_match_the_documented_ones() -> None:
    assert Settings().engagement == EngagementSettings()
    config = EngagementConfig.from_settings(Settings())
    assert config == EngagementConfig()
    assert dict(config.weights) == DEFAULT_WEIGHTS


def test_every_option_is_read_from_the_toml_table(tmp_path: Path) -> None:
    settings = load_settings(_toml(tmp_path, TABLE), env={})
    assert settings.engagement == EngagementSettings(
        half_life_days=90.0,
        transform="bm25",
        bm25_k1=1.2,
        bm25_b=0.75,
        min_user_interactions=2,
        min_artist_interactions=3,
        filter_until_stable=False,
        unfollow_policy="negative",
        block_days=None,
        full_play_ms=60_000,
        skip_ms=10_000,
        skip_fraction=0.25,
    )
    config = EngagementConfig.from_settings(settings, now_ms=5)
    assert config.weights["play_track"] == 0.5 and config.transform == "bm25"
    assert config.block_days is None and config.now_ms == 5
    assert config.full_play_ms == 60_000 and not config.filter_until_stable


def test_environment_overrides_the_table(tmp_path: Path) -> None:
    env = {
        "CRATEDIG_ENGAGEMENT_HALF_LIFE_DAYS": "none",
        "CRATEDIG_ENGAGEMENT_TRANSFORM": "log1p",
        "CRATEDIG_ENGAGEMENT_FILTER_UNTIL_STABLE": "yes",
        "CRATEDIG_ENGAGEMENT_MIN_USER_INTERACTIONS": "4",
        "CRATEDIG_ENGAGEMENT_BLOCK_DAYS": "",  # empty: not set, the table's value stays
    }
    settings = load_settings(_toml(tmp_path, TABLE), env=env)
    eng = settings.engagement
    assert eng.half_life_days is None and eng.transform == "log1p"
    assert eng.filter_until_stable is True and eng.min_user_interactions == 4
    assert eng.block_days is None and eng.bm25_k1 == 1.2  # from the file
    # overrides come last, and replace single options too
    settings = load_settings(_toml(tmp_path, TABLE), env=env, engagement={"bm25_b": 0.5})
    assert settings.engagement.bm25_b == 0.5 and settings.engagement.transform == "log1p"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[engagement]\nhalf_life = 3\n", "engagement.half_life: unknown engagement option"),
        ("[engagement]\nhalf_life_days = 0\n", "engagement.half_life_days: 0.0 is not valid"),
        ("[engagement]\nhalf_life_days = 'soon'\n", "expected a number"),
        ("[engagement]\ntransform = 'sqrt'\n", "engagement.transform: 'sqrt'.*log1p, bm25"),
        ("[engagement]\nunfollow_policy = 'forget'\n", "one of remove, negative, ignore"),
        ("[engagement]\nmin_user_interactions = 0\n", "min_user_interactions: 0.*>= 1"),
        ("[engagement]\nmin_artist_interactions = 2.5\n", "expected a whole number"),
        ("[engagement]\nskip_ms = 200000\n", "engagement.skip_ms: 200000.*full_play_ms"),
        ("[engagement]\nskip_fraction = 2\n", "engagement.skip_fraction: 2.0.*\\[0, 1\\]"),
        ("[engagement]\nbm25_b = 1.5\n", "engagement.bm25_b: 1.5"),
        ("[engagement]\nblock_days = -1\n", "engagement.block_days: -1.0.*>= 0"),
        ("[engagement]\nfilter_until_stable = 'maybe'\n", "true or false"),
        ("engagement = 3\n", "engagement: 3 is not valid; expected a table"),
    ],
)
def test_bad_values_name_option_value_and_expectation(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(_toml(tmp_path, text), env={})


def test_bad_environment_values_name_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./cratedig.toml here
    with pytest.raises(ConfigError, match=r"CRATEDIG_ENGAGEMENT_HALF_LIFE_DAYS: -2\.0 is not"):
        load_settings(env={"CRATEDIG_ENGAGEMENT_HALF_LIFE_DAYS": "-2"})
    with pytest.raises(ConfigError, match="CRATEDIG_ENGAGEMENT_DECAY: unknown engagement"):
        load_settings(env={"CRATEDIG_ENGAGEMENT_DECAY": "3"})


def test_config_checks_its_own_fields() -> None:
    with pytest.raises(ValidationError, match="transform"):
        EngagementConfig(transform="sqrt")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="weights"):
        EngagementConfig(weights={"plya": 1.0})
    with pytest.raises(ValidationError, match="nope"):
        EngagementConfig.from_settings(Settings(), nope=1)


def test_record_round_trips_through_json() -> None:
    config = EngagementConfig(
        weights={"play_track": 2.0, "follow_artist": 3.0},
        half_life_days=30.0,
        transform="tfidf",
        block_days=None,
        now_ms=123,
    )
    record = json.loads(json.dumps(config.as_record()))
    assert EngagementConfig.from_record(record) == config
    with pytest.raises(ValidationError, match="colour"):
        EngagementConfig.from_record({**record, "colour": "red"})
    with pytest.raises(ValidationError, match="skip_fraction"):
        EngagementConfig.from_record({**record, "skip_fraction": 3})


def test_the_documented_example_loads(tmp_path: Path) -> None:
    doc = Path(__file__).parents[2] / "docs" / "engagement.md"
    text = doc.read_text(encoding="utf-8")
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    settings = load_settings(_toml(tmp_path, example), env={})
    expected = EngagementSettings(half_life_days=90.0, transform="bm25")
    assert settings.engagement == expected
    assert settings.weights["play_track"] == 0.5
