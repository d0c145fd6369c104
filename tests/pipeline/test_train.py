"""The train-to-serve pipeline: registry, promotion, precomputed lists, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from cratedig.config import Settings
from cratedig.pipeline import registry
from cratedig.pipeline.train import train
from cratedig.store.schema import (
    fallback_lists,
    model_versions,
    precomputed_lists,
    similar_artist_lists,
)
from tests.serving.helpers import JAZZ, ReverseModel, TinyModel, fill_store, tiny_gems


def _train(engine: Engine, tmp_path: Path, model=TinyModel, margin: float = 0.05):
    settings = Settings(artifacts_dir=str(tmp_path / "artifacts"), promotion_margin=margin)
    return train(
        engine,
        settings,
        model_name=model.__name__,
        model_factory=model,
        gems_factory=tiny_gems,
        k_lists=8,
        k_similar=5,
    )


def test_train_registers_promotes_and_precomputes(engine: Engine, tmp_path: Path) -> None:
    fill_store(engine)
    version = _train(engine, tmp_path)
    assert version.status == "ready" and version.active
    assert version.ndcg_at_10 is not None and 0 < version.ndcg_at_10 <= 1
    assert version.n_users == 12 and version.n_artists == 13
    assert registry.active_version(engine).version_id == version.version_id
    with engine.connect() as conn:
        n_lists = conn.execute(
            select(precomputed_lists.c.list_type, func.count())
            .where(precomputed_lists.c.version_id == version.version_id)
            .group_by(precomputed_lists.c.list_type)
        ).all()
        u01 = json.loads(
            conn.execute(
                select(precomputed_lists.c.entries).where(
                    precomputed_lists.c.version_id == version.version_id,
                    precomputed_lists.c.list_type == "may_like",
                    precomputed_lists.c.user_id == "u01",
                )
            ).scalar_one()
        )
        n_similar = conn.execute(
            select(func.count())
            .select_from(similar_artist_lists)
            .where(similar_artist_lists.c.version_id == version.version_id)
        ).scalar_one()
        scopes = conn.execute(
            select(fallback_lists.c.scope, fallback_lists.c.scope_key).where(
                fallback_lists.c.version_id == version.version_id
            )
        ).all()
    assert dict(n_lists) == {"may_like": 12, "hidden_gems": 12}
    # u01 plays r1..r4 (and xss): the unplayed rock artists come first, then jazz
    assert [i["artist_id"] for i in u01[:2]] == ["r5", "r6"] or {
        i["artist_id"] for i in u01[:2]
    } == {"r5", "r6"}
    assert {i["artist_id"] for i in u01[2:]} <= set(JAZZ)
    assert "explanation" in u01[0]
    assert n_similar == 13
    assert set(scopes) == {("global", ""), ("country", "GB"), ("country", "FR")}
    assert (Path(version.artifact_path) / "model" / "S.npy").is_file()
    assert (Path(version.artifact_path) / "artists.txt").read_text().count("\n") == 13
    stages = {"engagement", "fitting", "may_like_lists"}
    stages |= {"hidden_gems_lists", "similar_artists", "cold-start_lists", "evaluation"}
    for stage in stages:
        assert version.metrics[f"seconds_{stage}"] >= 0, stage


def test_worse_model_is_not_promoted(engine: Engine, tmp_path: Path) -> None:
    fill_store(engine)
    good = _train(engine, tmp_path)
    bad = _train(engine, tmp_path, model=ReverseModel)
    assert bad.ndcg_at_10 < good.ndcg_at_10 * 0.95
    assert bad.status == "rejected" and not bad.active
    assert "not promoted" in bad.note
    assert registry.active_version(engine).version_id == good.version_id
    # with a margin of 100% anything is promoted
    lenient = _train(engine, tmp_path, model=ReverseModel, margin=1.0)
    assert lenient.active and lenient.status == "ready"
    # a rejected version can still be promoted by hand (rollback/override)
    assert registry.promote(engine, bad.version_id).active


def test_failed_run_changes_nothing_served(sqlite_url: str, tmp_path: Path) -> None:
    from cratedig.store import init_db, make_engine

    engine = make_engine(sqlite_url)
    init_db(engine)
    fill_store(engine)
    good = _train(engine, tmp_path)

    class Broken(TinyModel):
        calls = 0

        def fit(self, X, side=None):
            Broken.calls += 1
            if Broken.calls == 2:  # the holdout fit works, the full fit fails
                raise RuntimeError("disk full")
            return super().fit(X, side)

    with pytest.raises(RuntimeError, match="disk full"):
        _train(engine, tmp_path, model=Broken)
    versions = registry.list_versions(engine)
    assert versions[0].status == "failed" and "disk full" in versions[0].note
    assert registry.active_version(engine).version_id == good.version_id


def test_should_promote_margin() -> None:
    assert registry.should_promote(0.190, 0.200, 0.05)
    assert not registry.should_promote(0.189, 0.200, 0.05)
    assert registry.should_promote(0.5, None, 0.05)
    assert registry.should_promote(None, 0.2, 0.05)


def test_versions_listing_and_unknown(engine: Engine, tmp_path: Path) -> None:
    from cratedig.exceptions import NotFoundError

    fill_store(engine)
    v = _train(engine, tmp_path)
    assert [x.version_id for x in registry.list_versions(engine)] == [v.version_id]
    with pytest.raises(NotFoundError):
        registry.get_version(engine, "v-nope")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(model_versions)).scalar_one() == 1


def test_default_model_is_tuned_on_validation(engine: Engine, tmp_path: Path) -> None:
    from cratedig.evaluation import evaluate_model
    from cratedig.matrix import EngagementConfig, build_engagement
    from cratedig.matrix.split import random_holdout
    from cratedig.models import make_model
    from cratedig.models.default import DEFAULT_PARAMS, default_candidates

    fill_store(engine)
    settings = Settings(artifacts_dir=str(tmp_path / "artifacts"), promotion_margin=1.0)
    version = train(engine, settings, k_lists=8, k_similar=5, seed=1)
    assert version.metrics["tuning_candidates"] == len(default_candidates()) == 6
    # the recorded choice is the candidate with the best validation NDCG@10
    X = build_engagement(engine, EngagementConfig()).X
    train_x, val_x, _test = random_holdout(X, seed=1)
    scores = [
        evaluate_model(make_model("default", **params), train_x, val_x, k=10)["ndcg@10"]
        for params in default_candidates()
    ]
    assert version.metrics["validation_ndcg@10"] == pytest.approx(max(scores))
    chosen = default_candidates()[scores.index(max(scores))]
    assert version.params["components"] == chosen["components"]
    assert version.params["seed"] == 1 and version.params["k_lists"] == 8
    # --no-tune: the default's own parameters, evaluated once
    plain = train(engine, settings, k_lists=8, k_similar=5, seed=1, tune=False)
    assert "tuning_candidates" not in plain.metrics and "components" not in plain.params
    assert default_candidates()[0] == DEFAULT_PARAMS
