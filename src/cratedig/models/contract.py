"""The model contract as a structural type, for the packages that use models.

:class:`cratedig.models.base.Recommender` is the contract every cratedig model inherits;
packages downstream (evaluation, the pipeline's precompute) and test doubles type
against this one Protocol instead of restating the parts they use.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import numpy.typing as npt


class RecommenderLike(Protocol):
    """What the rest of cratedig needs of a model (see ``Recommender`` for the meaning)."""

    def fit(self, X: Any, side: Any = None) -> Any: ...

    def recommend(
        self, user_idx: Any, k: int = 10, exclude_seen: bool = True
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]]: ...

    def similar_artists(
        self, artist_idx: Any, k: int = 10
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]]: ...

    def explain_batch(self, user_idx: Any, artist_idx: Any) -> list[list[str | None]]: ...
