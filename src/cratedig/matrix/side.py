"""Side information for models, indexed like the engagement matrix."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp


@dataclass
class SideInfo:
    """What models may know besides the engagement matrix.

    Every part is optional; indices follow the matrix's user and artist maps.

    Attributes
    ----------
    artist_tags
        Artists x tags CSR matrix of tag weights (how many users applied the tag).
    tag_names
        The tag of each column of ``artist_tags``.
    user_country
        Country index of each user, ``-1`` when unknown.
    country_names
        The country of each country index.
    friends
        Users x users CSR adjacency matrix (1 where a friendship exists).
    artist_names
        Display name of each artist (for explanations), or empty.
    """

    artist_tags: sp.csr_matrix | None = None
    tag_names: list[str] = field(default_factory=list)
    user_country: npt.NDArray[np.int64] | None = None
    country_names: list[str] = field(default_factory=list)
    friends: sp.csr_matrix | None = None
    artist_names: list[str] = field(default_factory=list)
