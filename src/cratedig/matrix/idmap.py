"""Map external string ids to contiguous integer indices and back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cratedig.exceptions import NotFoundError, ValidationError


class IdMap:
    """A bijection between external ids (strings) and indices ``0..n-1``.

    Parameters
    ----------
    ids
        The external ids, in index order; they must be unique.

    Examples
    --------
    >>> m = IdMap(["u9", "u3"])
    >>> m.index("u3"), m.id(0), len(m)
    (1, 'u9', 2)
    """

    def __init__(self, ids: Iterable[str]) -> None:
        self._ids: list[str] = [str(i) for i in ids]
        self._index: dict[str, int] = {value: i for i, value in enumerate(self._ids)}
        if len(self._index) != len(self._ids):
            seen: set[str] = set()
            dup = next(i for i in self._ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
            raise ValidationError("ids", dup, "unique ids (this one appears twice)")

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, ident: object) -> bool:
        return ident in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and self._ids == other._ids

    def __repr__(self) -> str:
        return f"IdMap(n={len(self)})"

    @property
    def ids(self) -> list[str]:
        """The external ids in index order (a copy)."""
        return list(self._ids)

    def index(self, ident: str, kind: str = "id") -> int:
        """The index of one external id.

        Raises
        ------
        NotFoundError
            When the id is unknown.
        """
        try:
            return self._index[ident]
        except KeyError:
            raise NotFoundError(kind, ident) from None

    def get(self, ident: str, default: int = -1) -> int:
        """The index of one external id, or ``default`` when unknown."""
        return self._index.get(ident, default)

    def indices(self, idents: Iterable[str], missing: int = -1) -> npt.NDArray[np.int64]:
        """Indices of many ids, with ``missing`` where an id is unknown."""
        get = self._index.get
        return np.fromiter((get(i, missing) for i in idents), dtype=np.int64)

    def id(self, idx: int) -> str:
        """The external id at one index.

        Raises
        ------
        ValidationError
            When the index is outside ``0..n-1``.
        """
        if not 0 <= int(idx) < len(self._ids):
            raise ValidationError("index", int(idx), f"an index in 0..{len(self._ids) - 1}")
        return self._ids[int(idx)]

    def to_ids(self, idxs: Sequence[int] | npt.NDArray[np.integer]) -> list[str]:
        """External ids of many indices (each must be valid)."""
        return [self.id(int(i)) for i in idxs]

    def save(self, path: str | Path) -> None:
        """Write the ids, one per line, UTF-8 (ids must not contain newlines)."""
        Path(path).write_text("\n".join(self._ids) + ("\n" if self._ids else ""), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> IdMap:
        """Read a map written by :meth:`save`."""
        text = Path(path).read_text(encoding="utf-8")
        return cls(text.split("\n")[:-1] if text else [])
