"""Hidden Gems placement as an experiment option: ``gems=first|last|off`` per arm."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from cratedig.exceptions import ValidationError
from cratedig.experiments import manage
from cratedig.experiments.assignment import assign
from cratedig.experiments.spec import parse_variant
from cratedig.store.schema import impressions
from tests.experiments.test_serving import USERS, two_versions  # noqa: F401 (a fixture)
from tests.serving.conftest import make_app


def test_the_option_parses_and_needs_the_hidden_gems_list(
    two_versions: tuple[Engine, str, str],  # noqa: F811
) -> None:
    engine, v1, _ = two_versions
    assert parse_variant(f"t={v1},gems=first").gems == "first"
    assert parse_variant("t=gems=off").gems == "off"
    assert parse_variant(f"t={v1}").gems is None
    with pytest.raises(ValidationError, match=re.escape("gems=first|last|off")):
        parse_variant("t=gems=middle")
    expected = "--list: 'may_like' is not valid; expected hidden_gems or all"
    with pytest.raises(ValidationError, match=expected):
        manage.create(engine, "g", ["a=active", "b=gems=off"])  # --list may_like


def test_arms_place_hidden_gems_first_last_or_nowhere(
    two_versions: tuple[Engine, str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    engine, _, _ = two_versions
    exp = manage.create(
        engine, "gems", ["last=active", "first=active,gems=first", "off=active,gems=off"],
        list_scope="all", salt="g1",
    )  # fmt: skip
    manage.start(engine, "gems")
    app = make_app(engine, tmp_path)
    client = app.test_client()
    arms: dict[str, str] = {}
    try:
        for user in USERS[120:]:  # the users with history (and pages)
            arm = assign(exp.design, user)
            assert arm is not None
            arms[user] = arm
            gems = client.get(f"/api/v1/users/{user}/recommendations?list=hidden_gems&k=5")
            body: dict[str, Any] = gems.get_json()
            assert gems.status_code == 200 and body["variant"] == f"gems:{arm}"
            assert body["placement"] == arm
            assert (body["items"] == []) == (arm == "off")
            may = client.get(f"/api/v1/users/{user}/recommendations?list=may_like&k=5")
            assert may.get_json()["variant"] == f"gems:{arm}" and may.get_json()["items"]
            assert "placement" not in may.get_json()
            html = client.get(f"/users/{user}").get_data(as_text=True)
            may_at, gems_at = html.find("Artists You May Like"), html.find("Hidden Gems")
            assert may_at >= 0
            if arm == "off":
                assert gems_at < 0
            else:
                assert gems_at >= 0 and (gems_at < may_at) == (arm == "first")
    finally:
        app.extensions["cratedig"].close()
    assert set(arms.values()) == {"first", "last", "off"}
    with engine.connect() as conn:
        rows = conn.execute(select(impressions.c.user_id, impressions.c.list_type)).all()
    gems_users = {u for u, lt in rows if lt == "hidden_gems"}
    may_users = {u for u, lt in rows if lt == "may_like"}
    assert may_users == set(arms)  # every arm was exposed through May Like
    assert gems_users == {u for u, a in arms.items() if a != "off"}  # nothing shown, nothing logged
