"""The HetRec file loader (tiny hand-made files, and the real folder) and default grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cratedig.evaluation.datasets import load_hetrec_lastfm
from cratedig.evaluation.grids import grid_for
from cratedig.exceptions import NotFoundError


def write_tiny_hetrec(folder: Path) -> Path:
    (folder / "user_artists.dat").write_text(
        "userID\tartistID\tweight\r\n2\t51\t100\r\n2\t7\t5\r\n10\t7\t3\r\n", encoding="utf-8"
    )
    (folder / "artists.dat").write_text(
        'id\tname\turl\tpictureURL\n7\tSeven\tu\tp\n51\tFifty "One"\tu\tp\n99\tNobody\tu\tp\n',
        encoding="utf-8",
    )
    tags = "tagID\ttagValue\r\n1\trock\r\n3\tmétal\r\n"
    (folder / "tags.dat").write_bytes(tags.encode("latin-1"))
    (folder / "user_taggedartists.dat").write_text(
        "userID\tartistID\ttagID\tday\tmonth\tyear\r\n"
        "2\t7\t1\t1\t1\t2009\r\n10\t7\t1\t1\t1\t2009\r\n2\t51\t3\t1\t1\t2009\r\n"
        "2\t99\t3\t1\t1\t2009\r\n",  # artist 99 has no plays: ignored
        encoding="utf-8",
    )
    (folder / "user_friends.dat").write_text(
        "userID\tfriendID\r\n2\t10\r\n10\t2\r\n2\t77\r\n", encoding="utf-8"
    )
    return folder


def test_tiny_hetrec_folder(tmp_path: Path) -> None:
    data = load_hetrec_lastfm(write_tiny_hetrec(tmp_path))
    assert data.users.ids == ["2", "10"]
    assert data.artists.ids == ["7", "51"]
    assert data.X.dtype == np.float32
    assert data.X.toarray().tolist() == [[5.0, 100.0], [3.0, 0.0]]
    assert data.side.artist_names == ["Seven", 'Fifty "One"']
    assert data.side.tag_names == ["rock", "métal"]
    assert data.side.artist_tags is not None
    assert data.side.artist_tags.toarray().tolist() == [[2.0, 0.0], [0.0, 1.0]]
    assert data.side.friends is not None
    assert data.side.friends.toarray().tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_missing_folder_is_reported(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"user_artists\.dat"):
        load_hetrec_lastfm(tmp_path / "nowhere")


@pytest.mark.realdata
def test_real_hetrec_counts(shared_data: Path) -> None:
    data = load_hetrec_lastfm(shared_data / "hetrec2011-lastfm-2k", with_side=False)
    assert data.X.shape == (1892, 17632)
    assert data.X.nnz == 92834
    assert data.X[data.users.index("2"), data.artists.index("51")] == 13883


def test_grid_for_drops_parameters_a_model_does_not_take() -> None:
    grid = grid_for("ease", extra={"no_such_param": [1, 2]})
    assert "no_such_param" not in grid
    assert grid["l2"] == [100.0, 300.0, 1000.0, 3000.0]
    assert grid_for("unknown_model_name") == {}
