"""The one contract every cratedig recommender follows.

A model sees only contiguous integer indices and a users x artists CSR matrix of
engagement weights (see :mod:`cratedig.matrix`). The life of a model:

>>> model = make_model("ease", l2=500.0)          # doctest: +SKIP
>>> model.fit(X, side)                             # doctest: +SKIP
>>> idx, scores = model.recommend([0, 1], k=10)    # doctest: +SKIP

Conventions (scikit-learn style): the constructor stores keyword hyperparameters and does
nothing else; learned attributes end in ``_``; using a model before ``fit`` raises
:class:`~cratedig.exceptions.NotFittedError`.

Subclasses implement :meth:`Recommender._fit` and :meth:`Recommender._score` (dense scores
of some users over every artist, ``-inf`` meaning "not a candidate"). The base class does
validation, cold-user fallback, masking of seen/blocked artists and top-k (with
:mod:`cratedig.models.ranking`), explanations (with :mod:`cratedig.models.explain`) and
persistence (with :mod:`cratedig.models.persistence`).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cratedig.exceptions import NotFittedError
from cratedig.matrix.side import SideInfo
from cratedig.models import persistence
from cratedig.models.checks import check_matrix, check_positive_int, invalid
from cratedig.models.explain import sentences, similarity_reasons
from cratedig.models.history import FromHistory
from cratedig.models.ranking import top_k

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
ArrayLike = int | Sequence[int] | npt.NDArray[np.integer]

#: Users scored at once; bounds the dense (batch x artists) score block in memory. Small
#: blocks stay in the CPU cache through the several passes of normalising, blending and
#: ranking: on HetRec (18,022 artists) 64 users at a time ranked everyone with about 30%
#: less CPU than 512 (same lists: rows are scored independently).
BATCH_USERS = 64


class Recommender(FromHistory):
    """Base class of every cratedig model (see the module docstring for the contract).

    Attributes set by ``fit``
    -------------------------
    X_ : scipy.sparse.csr_matrix
        The training matrix (float32), used to mask seen artists and explain.
    side_ : SideInfo or None
        The side information given to ``fit``.
    n_users_, n_artists_ : int
        The shape of ``X_``.
    popularity_ : ndarray of float32
        Listeners per artist in ``X_`` (the cold-user fallback of most models).
    """

    #: The registry name of the model.
    name: ClassVar[str] = "base"
    #: What a user with no history gets, in words (for documentation and reports).
    fallback: ClassVar[str] = "global popularity (most listeners first)"
    #: Whether scores depend on the user's own history. A model that does not
    #: (popularity) is never re-scored from a current history at request time: serving
    #: keeps its ranking and only drops the artists the user knows now.
    uses_history: ClassVar[bool] = True

    # ------------------------------------------------------------------ params
    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values() if p.name != "self"]

    def get_params(self) -> dict[str, Any]:
        """The constructor's keyword hyperparameters, as given (JSON-friendly values)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Recommender:
        """Change hyperparameters (takes effect at the next ``fit``)."""
        known = self._param_names()
        for key, value in params.items():
            if key not in known:
                raise invalid(key, value, f"one of the parameters: {', '.join(known) or 'none'}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # --------------------------------------------------------------------- fit
    def fit(self, X: sp.spmatrix, side: SideInfo | None = None) -> Recommender:
        """Learn from a users x artists engagement matrix.

        Parameters
        ----------
        X
            Users x artists sparse matrix of engagement weights (converted to CSR float32).
        side
            Optional side information indexed like ``X``.

        Returns
        -------
        self
        """
        X = check_matrix(X)
        self._check_side(X, side)
        self.X_ = X
        self.side_ = side
        self._listeners: sp.csc_matrix | None = None  # artists' listeners, built on first use
        self.n_users_, self.n_artists_ = X.shape
        self.popularity_ = np.bincount(X.indices, minlength=X.shape[1]).astype(np.float32)
        self._fit(X, side)
        return self

    def _fit_with(self, X: sp.spmatrix, side: SideInfo | None, **inputs: Any) -> Recommender:
        """``fit`` with extra inputs that only this fit sees (``self._inputs``, then cleared).

        For models whose ``fit`` takes more than the contract's (validation data, an
        already fitted base model).
        """
        self._inputs = inputs
        try:
            return Recommender.fit(self, X, side)
        finally:
            self._inputs = {}

    @staticmethod
    def _check_side(X: sp.csr_matrix, side: SideInfo | None) -> None:
        if side is None:
            return
        n_users, n_artists = X.shape
        if side.artist_tags is not None and side.artist_tags.shape[0] != n_artists:
            raise invalid("side.artist_tags", side.artist_tags.shape, f"{n_artists} rows")
        if side.user_country is not None and len(side.user_country) != n_users:
            raise invalid("side.user_country", len(side.user_country), f"{n_users} entries")
        if side.artist_names and len(side.artist_names) != n_artists:
            raise invalid("side.artist_names", len(side.artist_names), f"{n_artists} names")

    def _fit(self, X: sp.csr_matrix, side: SideInfo | None) -> None:
        """Learn the model's state from a validated matrix (subclasses)."""
        raise NotImplementedError

    def _score(self, users: IntArray) -> FloatArray:
        """Dense float32 scores (len(users) x n_artists); ``-inf`` = not a candidate."""
        raise NotImplementedError

    def _cold_scores(self, users: IntArray) -> FloatArray:
        """Scores for users without history (default: global popularity)."""
        return np.tile(self.popularity_, (len(users), 1))

    # ---------------------------------------------------------------- checking
    def _check_fitted(self) -> None:
        if not hasattr(self, "X_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(X) before using it."
            )

    def _check_indices(self, values: ArrayLike, field: str, size: int) -> IntArray:
        array = np.atleast_1d(np.asarray(values))
        if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
            raise invalid(field, values, "an integer index or a 1-D array of them")
        array = array.astype(np.int64)
        bad = (array < 0) | (array >= size)
        if bad.any():
            value = int(array[bad][0])
            raise invalid(
                field,
                value,
                f"an index in 0..{size - 1}",
                f"{field} == {value} is out of range; valid indices are 0..{size - 1}.",
            )
        return array

    def _seen(self, user: int) -> IntArray:
        X = self.X_
        return X.indices[X.indptr[user] : X.indptr[user + 1]].astype(np.int64)

    # --------------------------------------------------------------- recommend
    def scores(self, user_idx: ArrayLike) -> FloatArray:
        """Raw scores of users over every artist (no masking), cold users via the fallback."""
        self._check_fitted()
        users = self._check_indices(user_idx, "user_idx", self.n_users_)
        out = np.empty((len(users), self.n_artists_), dtype=np.float32)
        history = np.diff(self.X_.indptr)[users]
        warm = history > 0
        if warm.any():
            out[warm] = self._score(users[warm])
        if (~warm).any():
            out[~warm] = self._cold_scores(users[~warm])
        return out

    def candidate_scores(self, users: IntArray) -> tuple[IntArray | None, FloatArray]:
        """:meth:`scores` restricted to the columns that can be finite, for blending.

        Returns ``(columns, block)``: ``block[:, j]`` is the score of artist
        ``columns[j]`` and every other artist scores ``-inf``; ``columns`` None means
        ``block`` is :meth:`scores` itself. By default all columns (models with a
        catalogue cap, such as EASE, return only theirs).
        """
        return None, self.scores(users)

    def recommend(
        self,
        user_idx: ArrayLike,
        k: int = 10,
        exclude_seen: bool = True,
        exclude: sp.spmatrix | None = None,
    ) -> tuple[IntArray, FloatArray]:
        """The ``k`` best artists for each user, best first.

        Parameters
        ----------
        user_idx
            One user index or a 1-D array of them.
        k
            List length (>= 1). Lists are padded with index ``-1`` and score ``-inf``
            when fewer than ``k`` candidates exist.
        exclude_seen
            Leave out artists the user engaged with in the training matrix.
        exclude
            Optional users x artists sparse matrix; nonzero pairs are never recommended
            (e.g. the engagement's ``blocked`` unfollows).

        Returns
        -------
        (artist_idx, scores)
            int64 and float32 arrays of shape ``(n_users, k)``.
        """
        self._check_fitted()
        k = check_positive_int("k", k)
        users = self._check_indices(user_idx, "user_idx", self.n_users_)
        if exclude is not None:
            if not sp.issparse(exclude) or exclude.shape != (self.n_users_, self.n_artists_):
                raise invalid(
                    "exclude", getattr(exclude, "shape", exclude), "a sparse matrix shaped like X"
                )
            exclude = sp.csr_matrix(exclude)
        idx_parts, score_parts = [], []
        for start in range(0, len(users), BATCH_USERS):
            batch = users[start : start + BATCH_USERS]
            block = self.scores(batch)
            for row, user in enumerate(batch):
                if exclude_seen:
                    block[row, self._seen(int(user))] = -np.inf
                if exclude is not None:
                    block[
                        row, exclude.indices[exclude.indptr[user] : exclude.indptr[user + 1]]
                    ] = -np.inf
            idx, sc = top_k(block, k)
            idx_parts.append(idx)
            score_parts.append(sc)
        if not idx_parts:
            return np.empty((0, k), np.int64), np.empty((0, k), np.float32)
        return np.vstack(idx_parts), np.vstack(score_parts)

    # ---------------------------------------------------------------- similar
    def _similar_scores(self, artist: int) -> FloatArray:
        """Similarity of one artist to every artist (default: cosine of listener sets)."""
        by_artist = getattr(self, "_listeners", None)
        if by_artist is None:
            by_artist = self._listeners = sp.csc_matrix(self.X_)
        users = by_artist.indices[by_artist.indptr[artist] : by_artist.indptr[artist + 1]]
        co = np.bincount(self.X_[users].indices, minlength=self.n_artists_).astype(np.float32)
        norms = np.sqrt(self.popularity_ * max(self.popularity_[artist], 1.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            sim = np.where(co > 0, co / np.maximum(norms, 1e-12), -np.inf)
        return sim.astype(np.float32)

    def similar_artists(self, artist_idx: ArrayLike, k: int = 10) -> tuple[IntArray, FloatArray]:
        """The ``k`` artists most similar to each given artist (itself excluded).

        Returns
        -------
        (artist_idx, scores)
            Arrays of shape ``(n_artists_given, k)``, padded with ``-1`` / ``-inf``.
        """
        self._check_fitted()
        k = check_positive_int("k", k)
        artists = self._check_indices(artist_idx, "artist_idx", self.n_artists_)
        block = self._similar_block(artists)
        block[np.arange(len(artists)), artists] = -np.inf
        return top_k(block, k)

    def _similar_block(self, artists: IntArray) -> FloatArray:
        """Rows of :meth:`_similar_scores` for several artists (a new array).

        The listener-set cosine is one sparse product for the whole batch; a model with
        its own ``_similar_scores`` is asked artist by artist unless it overrides this.
        """
        if type(self)._similar_scores is Recommender._similar_scores:
            return self._cosine_block(artists)
        block = np.empty((len(artists), self.n_artists_), dtype=np.float32)
        for row, artist in enumerate(artists.tolist()):
            block[row] = self._similar_scores(artist)
        return block

    def _cosine_block(self, artists: IntArray) -> FloatArray:
        """:meth:`Recommender._similar_scores` of several artists at once (same values):
        co-listener counts from one product of the listener pattern with itself."""
        X = self.X_
        cached = getattr(self, "_pattern", None)
        if cached is None or cached[0] is not X:  # built once per fitted matrix
            ones = np.ones(len(X.indices), dtype=np.float32)
            built = sp.csr_matrix((ones, X.indices, X.indptr), shape=X.shape)
            cached = (X, built, sp.csr_matrix(built.T))
            self._pattern = cached
        _, pattern, by_artist = cached
        co = sp.csr_matrix(by_artist[artists] @ pattern)
        co.eliminate_zeros()
        rows = np.repeat(np.arange(len(artists)), np.diff(co.indptr))
        own = np.maximum(self.popularity_[artists], np.float32(1.0))
        norms = np.sqrt(self.popularity_[co.indices] * own[rows])
        sim = np.full((len(artists), self.n_artists_), -np.inf, dtype=np.float32)
        sim[rows, co.indices] = co.data.astype(np.float32) / np.maximum(norms, np.float32(1e-12))
        return sim

    # ---------------------------------------------------------------- explain
    def explain(self, user_idx: int, artist_idx: int) -> str:
        """Why ``artist_idx`` suits ``user_idx``, in one short sentence."""
        self._check_fitted()
        artist = self._check_indices(artist_idx, "artist_idx", self.n_artists_)[:1]
        text = self.explain_batch(np.atleast_1d(user_idx)[:1], artist[None, :])[0][0]
        return text or ""

    def explain_batch(self, user_idx: ArrayLike, artist_idx: Any) -> list[list[str | None]]:
        """Explanations of several users' lists at once.

        Parameters
        ----------
        user_idx
            ``n`` user indices.
        artist_idx
            ``n x m`` artist indices, row ``i`` the candidates of ``user_idx[i]``;
            ``-1`` marks padding.

        Returns
        -------
        list of list of str or None
            One sentence per entry (None for padding).
        """
        self._check_fitted()
        users = self._check_indices(user_idx, "user_idx", self.n_users_)
        items = np.asarray(artist_idx)
        if items.ndim != 2 or items.shape[0] != len(users):
            raise invalid("artist_idx", items.shape, f"a {len(users)} x m array of artist indices")
        items = items.astype(np.int64)
        self._check_indices(items[items >= 0], "artist_idx", self.n_artists_)
        return self._explain_batch(users, items)

    def _explain_batch(self, users: IntArray, items: IntArray) -> list[list[str | None]]:
        """Sentences for a validated batch (models with their own ``_explain`` go pair by pair)."""
        if type(self)._explain is Recommender._explain:
            return self._because(users, items)
        return [
            [None if a < 0 else self._explain(int(u), int(a)) for a in row.tolist()]
            for u, row in zip(users.tolist(), items, strict=True)
        ]

    def _explain(self, user: int, artist: int) -> str:
        """One pair's sentence naming its top contributors (override for other wording)."""
        return self._because(np.array([user]), np.array([[artist]]))[0][0] or ""

    def _because(self, users: IntArray, items: IntArray) -> list[list[str | None]]:
        return sentences(self.side_, items, self._reasons(users, items))

    def _history(self, user: int) -> tuple[IntArray, FloatArray]:
        """The user's artists (ascending) and their training weights."""
        X = self.X_
        span = slice(X.indptr[user], X.indptr[user + 1])
        return X.indices[span].astype(np.int64), X.data[span]

    def _reasons(self, users: IntArray, items: IntArray) -> IntArray:
        """The top contributors of each (user, candidate): ``n x m x REASONS``, ``-1`` padded.

        By default a history artist contributes ``similarity x |weight|`` (the similarity
        of :meth:`_similar_scores`), computed once per distinct candidate of the batch.
        Models whose scores are sums over the history override this with their own terms.
        """
        histories = [self._history(int(user)) for user in users]
        return similarity_reasons(histories, self._similar_scores, items)

    # ------------------------------------------------------------ persistence
    def _state(self) -> dict[str, Any]:
        """Learned arrays to save (dense ndarrays or scipy sparse matrices)."""
        return {}

    def _set_state(self, state: dict[str, Any], meta: dict[str, Any]) -> None:
        """Restore what :meth:`_state` returned (subclasses)."""
        for key, value in state.items():
            setattr(self, key, value)

    def _meta(self) -> dict[str, Any]:
        """Extra JSON-able learned values to save (subclasses)."""
        return {}

    def save(self, path: str | Path, *, with_data: bool = True) -> Path:
        """Write the fitted model to a folder (arrays as .npy/.npz, params as JSON).

        Parameters
        ----------
        with_data
            Also write the training matrix and side information. A model saved inside
            another (a hybrid's components, a wrapper's base model) leaves them out and
            is loaded with the outer model's (see :func:`cratedig.models.registry.load_model`).
        """
        self._check_fitted()
        folder = Path(path)
        data = {"X_": self.X_, "side_": self.side_} if with_data else None
        manifest = {
            "model": self.name,
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "params": self.get_params(),
            "meta": self._meta(),
        }
        persistence.write_model(folder, manifest, self._state(), data)
        self._save_extra(folder)
        return folder

    def _save_extra(self, folder: Path) -> None:
        """Save anything else (e.g. component models in sub-folders)."""

    def _load_extra(self, folder: Path, meta: dict[str, Any]) -> None:
        """Load what :meth:`_save_extra` wrote."""

    def _restore(
        self, folder: Path, meta: dict[str, Any], outer: Recommender | None = None
    ) -> None:
        """Load learned state; the training data comes from ``outer`` when it saved it."""
        if outer is None:
            self.X_, self.side_ = persistence.read_data(folder)
        else:
            self.X_, self.side_ = outer.X_, outer.side_
        self.popularity_ = np.bincount(self.X_.indices, minlength=self.X_.shape[1]).astype(
            np.float32
        )
        self.n_users_, self.n_artists_ = self.X_.shape
        self._load_extra(folder, meta)
        self._set_state(persistence.load_arrays(folder / "state"), meta)
