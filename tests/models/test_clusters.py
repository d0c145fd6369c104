"""User clusters: the two taste blocks are found, reported, and serve cold users by country."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
from click.testing import CliRunner

from cratedig.matrix.side import SideInfo
from cratedig.models import make_model
from cratedig.models.clusters import cluster_report
from tests.models.conftest import BLOCK_USERS, COLD_USER, block_of_artist


def test_kmeans_report_finds_the_two_blocks(X: sp.csr_matrix, side: SideInfo) -> None:
    runs = cluster_report(X, side, method="kmeans", ks=[2, 3], n_components=4, top=3)
    two = runs[0]
    assert (two.parameter, two.n_clusters, two.n_noise) == (2, 2, 0)
    assert sorted(c.size for c in two.clusters) == [BLOCK_USERS, BLOCK_USERS]
    assert two.silhouette > 0.5 and two.davies_bouldin < 1.0 and two.calinski_harabasz > 10
    for cluster in two.clusters:
        assert len(cluster.top_countries) == 1  # each block is one country
        assert len(cluster.top_artists) == 3 and all(
            a.startswith("Band ") for a in cluster.top_artists
        )
    assert runs[1].n_clusters == 3 and np.isfinite(runs[1].silhouette)


def test_dbscan_report_runs_and_counts_noise(X: sp.csr_matrix, side: SideInfo) -> None:
    runs = cluster_report(
        X, side, method="dbscan", eps_values=[0.05, 0.9], min_samples=3, n_components=4
    )
    assert len(runs) == 2
    for run in runs:
        assert run.n_noise + sum(c.size for c in run.clusters) == 2 * BLOCK_USERS
    assert runs[1].n_clusters >= 2 and runs[1].silhouette > 0


def test_cold_user_and_country_get_their_countrys_cluster(X: sp.csr_matrix, side: SideInfo) -> None:
    model = make_model("user_clusters", n_clusters=2, n_components=4, country_weight=1.0).fit(
        X, side
    )
    idx, _ = model.recommend_for_country(1, k=4)
    assert {block_of_artist(int(a)) for a in idx} == {1}
    cold, _ = model.recommend([COLD_USER], k=4)  # country 0, no history
    assert {block_of_artist(int(a)) for a in cold[0]} == {0}
    assert "country" in model.explain(COLD_USER, int(cold[0, 0]))


def test_clusters_command_prints_tables(tmp_path: Path) -> None:
    from cratedig.cli import cli
    from cratedig.simulator.site import SimulationConfig, simulate_to_store
    from cratedig.store import init_db, make_engine

    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    engine = make_engine(url)
    init_db(engine)
    simulate_to_store(
        engine, SimulationConfig(n_users=40, n_artists=30, n_events=2000, days=10, seed=3)
    )
    engine.dispose()
    result = CliRunner().invoke(cli, ["--db", url, "clusters", "--k", "2,3", "--components", "4"])
    assert result.exit_code == 0, result.output
    assert "silhouette" in result.output and "Clusters for k=3" in result.output
    result = CliRunner().invoke(cli, ["--db", url, "clusters", "--k", "0"])
    assert result.exit_code != 0 and "must be > 0" in result.output
