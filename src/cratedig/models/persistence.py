"""Saving and loading model state without pickle.

A saved model is a folder::

    model.json      {"format", "model" (registry name), "class", "params", "meta", "data"}
    base/           the training matrix ("data": "own")
    side/           the side information (when given), names as JSON
    state/          the model's learned arrays, one file each

A model saved inside another (a hybrid's components, a wrapper's base model) has
``"data": "outer"``, no ``base/`` or ``side/``, and shares the outer model's on loading.

Dense arrays are ``.npy`` files (loaded with ``allow_pickle=False``); sparse matrices are
``.npz`` files written by :func:`scipy.sparse.save_npz`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from cratedig.matrix.side import SideInfo

FORMAT_VERSION = 1


def save_arrays(folder: Path, arrays: dict[str, Any]) -> None:
    """Write each array to ``folder/<name>.npy`` (dense) or ``.npz`` (sparse)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in arrays.items():
        if value is None:
            continue
        if sp.issparse(value):
            sp.save_npz(folder / f"{name}.npz", sp.csr_matrix(value), compressed=False)
        else:
            np.save(folder / f"{name}.npy", np.asarray(value), allow_pickle=False)


def load_arrays(folder: Path) -> dict[str, Any]:
    """Read every array written by :func:`save_arrays` (sparse ones as CSR)."""
    out: dict[str, Any] = {}
    if not folder.is_dir():
        return out
    for file in sorted(folder.iterdir()):
        if file.suffix == ".npy":
            out[file.stem] = np.load(file, allow_pickle=False)
        elif file.suffix == ".npz":
            out[file.stem] = sp.csr_matrix(sp.load_npz(file))
    return out


def save_side(folder: Path, side: SideInfo | None) -> None:
    """Write side information (nothing when ``side`` is None)."""
    if side is None:
        return
    save_arrays(
        folder,
        {
            "artist_tags": side.artist_tags,
            "user_country": side.user_country,
            "friends": side.friends,
        },
    )
    names = {
        "tag_names": list(side.tag_names),
        "country_names": list(side.country_names),
        "artist_names": list(side.artist_names),
    }
    (folder / "names.json").write_text(json.dumps(names), encoding="utf-8")


def load_side(folder: Path) -> SideInfo | None:
    """Read side information written by :func:`save_side` (None when absent)."""
    if not folder.is_dir():
        return None
    arrays = load_arrays(folder)
    names = json.loads((folder / "names.json").read_text(encoding="utf-8"))
    country = arrays.get("user_country")
    return SideInfo(
        artist_tags=arrays.get("artist_tags"),
        tag_names=names["tag_names"],
        user_country=None if country is None else country.astype(np.int64),
        country_names=names["country_names"],
        friends=arrays.get("friends"),
        artist_names=names["artist_names"],
    )


def write_model(
    folder: Path, manifest: dict[str, Any], state: dict[str, Any], data: dict[str, Any] | None
) -> None:
    """Write a model folder: ``model.json``, ``state/`` and, when ``data`` (``X_`` and
    ``side_``) is given, the training matrix and side information."""
    folder.mkdir(parents=True, exist_ok=True)
    if data is not None:
        save_arrays(folder / "base", {"X_": data["X_"]})
        save_side(folder / "side", data["side_"])
    save_arrays(folder / "state", state)
    full = {"format": FORMAT_VERSION, **manifest, "data": "own" if data is not None else "outer"}
    (folder / "model.json").write_text(json.dumps(full, indent=2, default=_json_default))


def read_data(folder: Path) -> tuple[sp.csr_matrix, SideInfo | None]:
    """The training matrix and side information :func:`write_model` saved."""
    return load_arrays(folder / "base")["X_"], load_side(folder / "side")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
