"""The contract every cratedig model passes (a mixin, as in RecTools/LensKit).

A test class sets ``model_name`` and ``params`` (small, fast hyperparameters) and
inherits every test below; ``personalised = False`` skips the checks that need a model
to follow a user's own taste (global popularity does not).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import scipy.sparse as sp

from cratedig.exceptions import NotFittedError, ValidationError
from cratedig.matrix.side import SideInfo
from cratedig.models import Recommender, load_model, make_model
from tests.models.conftest import (
    BLOCK_USERS,
    COLD_USER,
    N_ARTISTS,
    N_USERS,
    block_of_artist,
    block_of_user,
)

WARM_USERS = np.arange(2 * BLOCK_USERS)
ALL_USERS = np.arange(N_USERS)


def as_json(params: dict[str, Any]) -> Any:
    """Params as they read back from model.json (tuples become lists)."""
    return json.loads(json.dumps(params))


class ModelContract:
    model_name: ClassVar[str]
    params: ClassVar[dict[str, Any]] = {}
    personalised: ClassVar[bool] = True
    #: ``history_scores`` of a training row equals the user's ``scores`` (item-based).
    history_exact: ClassVar[bool] = False

    def make(self) -> Recommender:
        return make_model(self.model_name, **self.params)

    def fitted(self, X: sp.csr_matrix, side: SideInfo) -> Recommender:
        return self.make().fit(X, side)

    def test_fit_returns_self(self, X: sp.csr_matrix, side: SideInfo) -> None:
        model = self.make()
        assert model.fit(X, side) is model

    def test_constructor_does_no_work_and_params_round_trip(self) -> None:
        model = self.make()
        assert not any(name.endswith("_") and not name.startswith("_") for name in vars(model))
        params = model.get_params()
        assert make_model(model.name, **params).get_params() == params

    def test_use_before_fit_raises_not_fitted(self) -> None:
        model = self.make()
        with pytest.raises(NotFittedError):
            model.recommend([0], k=3)
        with pytest.raises(NotFittedError):
            model.similar_artists([0], k=3)

    def test_shapes_dtypes_and_order(self, X: sp.csr_matrix, side: SideInfo) -> None:
        idx, scores = self.fitted(X, side).recommend(ALL_USERS, k=4)
        assert idx.shape == scores.shape == (N_USERS, 4)
        assert idx.dtype == np.int64 and scores.dtype == np.float32
        assert np.all(np.diff(scores, axis=1) <= 0), "best first"

    def test_batch_equals_single_user(self, X: sp.csr_matrix, side: SideInfo) -> None:
        model = self.fitted(X, side)
        batch_idx, batch_scores = model.recommend(ALL_USERS, k=5)
        for user in ALL_USERS:
            idx, scores = model.recommend(int(user), k=5)
            np.testing.assert_array_equal(idx[0], batch_idx[user])
            np.testing.assert_allclose(scores[0], batch_scores[user], rtol=1e-5, atol=1e-6)

    def test_seen_artists_are_excluded(self, X: sp.csr_matrix, side: SideInfo) -> None:
        idx, _ = self.fitted(X, side).recommend(WARM_USERS, k=N_ARTISTS)
        for user in WARM_USERS:
            seen = set(X[user].indices.tolist())
            assert not seen & set(idx[user].tolist())

    def test_extra_exclusions_are_respected(self, X: sp.csr_matrix, side: SideInfo) -> None:
        model = self.fitted(X, side)
        first, _ = model.recommend([0, 1], k=2)
        blocked = sp.csr_matrix(
            (np.ones(2, np.float32), ([0, 1], [first[0, 0], first[1, 0]])), shape=X.shape
        )
        again, _ = model.recommend([0, 1], k=N_ARTISTS, exclude=blocked)
        assert first[0, 0] not in again[0] and first[1, 0] not in again[1]

    def test_k_larger_than_catalogue_pads(self, X: sp.csr_matrix, side: SideInfo) -> None:
        k = N_ARTISTS + 5
        idx, scores = self.fitted(X, side).recommend(ALL_USERS, k=k)
        assert idx.shape == (N_USERS, k)
        for user in ALL_USERS:
            valid = idx[user] >= 0
            n_valid = int(valid.sum())
            assert valid[:n_valid].all() and not valid[n_valid:].any(), "padding at the end"
            assert len(set(idx[user, :n_valid].tolist())) == n_valid
            assert np.isfinite(scores[user, :n_valid]).all()
            assert np.isneginf(scores[user, n_valid:]).all()
            assert n_valid <= N_ARTISTS - X[user].nnz

    def test_cold_user_gets_a_full_fallback_list(self, X: sp.csr_matrix, side: SideInfo) -> None:
        idx, _ = self.fitted(X, side).recommend([COLD_USER], k=3)
        assert (idx >= 0).all()

    def test_save_load_round_trip(self, X: sp.csr_matrix, side: SideInfo, tmp_path: Path) -> None:
        model = self.fitted(X, side)
        model.save(tmp_path / "m")
        assert not list((tmp_path / "m").rglob("*.pkl"))
        loaded = load_model(tmp_path / "m")
        assert type(loaded) is type(model)
        assert as_json(loaded.get_params()) == as_json(model.get_params())
        for a, b in zip(
            model.recommend(ALL_USERS, k=6), loaded.recommend(ALL_USERS, k=6), strict=True
        ):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(
            model.similar_artists([0, 9], k=3), loaded.similar_artists([0, 9], k=3), strict=True
        ):
            np.testing.assert_array_equal(a, b)
        assert loaded.explain(0, 5) == model.explain(0, 5)

    def test_refit_with_same_seed_gives_same_lists(self, X: sp.csr_matrix, side: SideInfo) -> None:
        first = self.fitted(X, side).recommend(ALL_USERS, k=5)
        second = self.fitted(X, side).recommend(ALL_USERS, k=5)
        np.testing.assert_array_equal(first[0], second[0])
        np.testing.assert_allclose(first[1], second[1], rtol=1e-5, atol=1e-6)

    def test_unknown_user_index_is_a_clear_error(self, X: sp.csr_matrix, side: SideInfo) -> None:
        model = self.fitted(X, side)
        with pytest.raises(ValidationError, match=rf"user_idx == {N_USERS}.*0\.\.{N_USERS - 1}"):
            model.recommend([0, N_USERS], k=3)
        with pytest.raises(ValidationError, match="user_idx == -1"):
            model.recommend(-1, k=3)
        with pytest.raises(ValidationError, match=rf"artist_idx == {N_ARTISTS}"):
            model.similar_artists(N_ARTISTS)

    def test_k_below_one_is_a_clear_error(self, X: sp.csr_matrix, side: SideInfo) -> None:
        model = self.fitted(X, side)
        with pytest.raises(ValidationError, match=r"^k == 0, must be >= 1\.$"):
            model.recommend([0], k=0)
        with pytest.raises(ValidationError, match=r"^k == 0, must be >= 1\.$"):
            model.similar_artists([0], k=0)

    def test_checkerboard_recommends_from_own_block(self, X: sp.csr_matrix, side: SideInfo) -> None:
        if not self.personalised:
            pytest.skip("not a personalised model")
        idx, _ = self.fitted(X, side).recommend(WARM_USERS, k=2)
        for user in WARM_USERS:
            assert {block_of_artist(int(a)) for a in idx[user]} == {block_of_user(int(user))}, (
                user,
                idx[user],
            )

    def test_similar_artists_exclude_self(self, X: sp.csr_matrix, side: SideInfo) -> None:
        idx, scores = self.fitted(X, side).similar_artists([0, 9], k=3)
        assert idx.shape == scores.shape == (2, 3)
        assert 0 not in idx[0] and 9 not in idx[1]
        if self.personalised:
            assert block_of_artist(int(idx[0, 0])) == 0 and block_of_artist(int(idx[1, 0])) == 1

    def test_explain_is_a_sentence_with_names(self, X: sp.csr_matrix, side: SideInfo) -> None:
        model = self.fitted(X, side)
        idx, _ = model.recommend([0], k=1)
        text = model.explain(0, int(idx[0, 0]))
        assert isinstance(text, str) and len(text) > 10
        assert "#" not in text, "uses side.artist_names, not indices"

    # ------------------------------------------------- request-time history
    def history(self, artists: list[int], weight: float = 40.0) -> sp.csr_matrix:
        rows = np.zeros(len(artists), np.int64)
        return sp.csr_matrix(
            (np.full(len(artists), weight, np.float32), (rows, artists)), shape=(1, N_ARTISTS)
        )

    def test_recommend_from_history_shapes_and_exclusions(
        self, X: sp.csr_matrix, side: SideInfo
    ) -> None:
        model = self.fitted(X, side)
        row = X[0] + self.history([9])
        idx, scores = model.recommend_from_history(row, k=5, exclude=[1])
        assert idx.shape == scores.shape == (5,)
        assert idx.dtype == np.int64 and scores.dtype == np.float32
        assert np.all(np.diff(scores) <= 0), "best first"
        assert not set(idx.tolist()) & {*row.indices.tolist(), 1}

    def test_a_new_history_moves_the_list_and_names_its_artists(
        self, X: sp.csr_matrix, side: SideInfo
    ) -> None:
        if not self.personalised:
            pytest.skip("not a personalised model")
        model = self.fitted(X, side)
        row = self.history([8, 9, 10])  # a user nobody trained on, block B only
        idx, _ = model.recommend_from_history(row, k=2)
        assert {block_of_artist(int(a)) for a in idx} == {1}, idx
        reasons = model.history_reasons(row, idx)
        assert reasons.shape[0] == 2
        named = {int(a) for a in reasons.ravel() if a >= 0}
        assert named <= {8, 9, 10}

    def test_an_empty_history_gets_a_full_fallback_list(
        self, X: sp.csr_matrix, side: SideInfo
    ) -> None:
        model = self.fitted(X, side)
        empty = sp.csr_matrix((1, N_ARTISTS), dtype=np.float32)
        idx, scores = model.recommend_from_history(empty, k=3)
        assert (idx >= 0).all() and np.isfinite(scores).all()

    def test_a_training_row_scores_like_its_user(self, X: sp.csr_matrix, side: SideInfo) -> None:
        if not self.history_exact:
            pytest.skip("the model's history scores are not its training scores")
        model = self.fitted(X, side)
        for user in (0, 13):
            np.testing.assert_allclose(
                model.history_scores(X[user]), model.scores([user])[0], rtol=1e-4, atol=1e-5
            )

    def test_a_bad_history_row_is_a_clear_error(self, X: sp.csr_matrix, side: SideInfo) -> None:
        model = self.fitted(X, side)
        with pytest.raises(ValidationError, match="history_row"):
            model.history_scores(sp.csr_matrix((1, N_ARTISTS + 1), dtype=np.float32))
        with pytest.raises(ValidationError, match="history_row"):
            model.recommend_from_history(np.ones(N_ARTISTS), k=3)
