"""Clustering recovers planted groups; tags and clusterings through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import run_cli
from sklearn.metrics import adjusted_rand_score

from panoptui.core.cluster import choose_k, kmeans, summarise
from panoptui.core.samples import write_samples


def planted(groups: int, per_group: int, dim: int = 64, spread: float = 0.15, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(groups, dim))
    truth = np.repeat(np.arange(groups), per_group)
    x = centres[truth] + spread * rng.normal(size=(len(truth), dim)) * np.sqrt(1 / dim) * 8
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), truth


@pytest.mark.parametrize("groups", [3, 8, 20])
def test_kmeans_recovers_planted_groups(groups):
    x, truth = planted(groups, 60)
    assert adjusted_rand_score(truth, kmeans(x, groups)) >= 0.9


@pytest.mark.parametrize("groups", [4, 9])
def test_auto_mode_finds_the_number_of_groups(groups):
    x, truth = planted(groups, 80, seed=groups)
    k = choose_k(x)
    assert k == groups
    assert adjusted_rand_score(truth, kmeans(x, k)) >= 0.9


def test_clusters_are_ordered_by_cohesion():
    tight, _ = planted(1, 30, spread=0.05, seed=1)
    loose, _ = planted(1, 30, spread=0.6, seed=2)
    x = np.concatenate([loose, tight])
    ids = np.arange(100, 160)
    labels = np.array([0] * 30 + [1] * 30)
    clusters = summarise(ids, x, labels)
    assert [c.size for c in clusters] == [30, 30]
    assert clusters[0].ids == list(range(130, 160))  # the tight one first, relabelled 0
    assert clusters[0].score > clusters[1].score > 0


def test_cluster_tag_recommend_through_the_cli(tmp_path):
    photos = tmp_path / "photos"
    write_samples(photos, per_family=5)
    project = str(tmp_path / "project")
    assert run_cli("import", project, str(photos)).returncode == 0
    assert run_cli("vectors", "create", project, "--model", "pixels").returncode == 0

    done = run_cli("cluster", project, "--k", "4", "--name", "four", "--json")
    assert done.returncode == 0, done.stderr
    clusters = json.loads(done.stdout)
    assert len(clusters) == 4 and {c["clustering"] for c in clusters} == {"four"}
    assert sum(c["size"] for c in clusters) == 30
    assert [c["score"] for c in clusters] == sorted((c["score"] for c in clusters), reverse=True)
    assert all({"label", "size", "score", "ids"} <= set(c) for c in clusters)
    again = run_cli("cluster", project, "--k", "4", "--name", "four")
    assert again.returncode == 1 and "exists already" in again.stderr

    assert run_cli("tag", project, "groups", "--from-clustering", "four").returncode == 0
    listed = json.loads(run_cli("tags", project, "--json").stdout)
    children = {t["name"]: t["images"] for t in listed if t["parent"] == "groups"}
    assert children == {f"groups/{c['label']}": c["size"] for c in clusters}

    # Re-cluster inside one cluster, recommend from a tag, restrict a query to a tag.
    biggest = max(clusters, key=lambda c: c["size"])
    inner = json.loads(
        run_cli(
            "cluster", project, "--k", "2", "--within", f"groups/{biggest['label']}", "--json"
        ).stdout
    )
    assert sorted(i for c in inner for i in c["ids"]) == sorted(biggest["ids"])
    hits = json.loads(
        run_cli("recommend", project, "--tag", f"groups/{biggest['label']}", "--json").stdout
    )
    assert hits and not set(biggest["ids"]) & {h["id"] for h in hits}
    inside = json.loads(
        run_cli(
            "similar",
            project,
            "--id",
            str(biggest["ids"][0]),
            "--in-tag",
            f"groups/{biggest['label']}",
            "--json",
        ).stdout
    )
    assert {h["id"] for h in inside} <= set(biggest["ids"])

    # A cluster named directly as CLUSTERING:LABEL works where a tag does.
    direct = json.loads(
        run_cli(
            "similar",
            project,
            "--id",
            str(biggest["ids"][0]),
            "--in-tag",
            f"four:{biggest['label']}",
            "--json",
        ).stdout
    )
    assert direct == inside
    inner_direct = run_cli("cluster", project, "--k", "2", "--within", f"four:{biggest['label']}")
    assert inner_direct.returncode == 0, inner_direct.stderr
    assert "has no cluster 9" in run_cli("recommend", project, "--tag", "four:9").stderr

    # Tags by hand: tag, untag, rename, delete.
    assert run_cli("tag", project, "mine", "--ids", "1,2,3").returncode == 0
    assert run_cli("tag", project, "mine", "--ids", "2", "--remove").returncode == 0
    assert run_cli("tags", project, "--rename", "mine", "keep").returncode == 0
    listed = {t["name"]: t["images"] for t in json.loads(run_cli("tags", project, "--json").stdout)}
    assert listed["keep"] == 2 and "mine" not in listed
    assert run_cli("tags", project, "--delete", "groups").returncode == 0
    listed = json.loads(run_cli("tags", project, "--json").stdout)
    assert [t["name"] for t in listed] == ["keep"]
    for args, words in (
        (["tag", project, "x", "--ids", "999"], "no image 999"),
        (["tags", project, "--delete", "nope"], "no tag 'nope'"),
        (["cluster", project, "--k", "500"], "cannot make 500 clusters"),
        (["recommend", project], "--ids or --tag"),
        (["cluster", project], "required"),
    ):
        done = run_cli(*args)
        assert done.returncode in (1, 2) and words in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr


def test_export_csv_and_parquet(tmp_path):
    import csv

    import pyarrow.parquet as pq

    photos = tmp_path / "photos"
    write_samples(photos, per_family=2)
    (photos / "again").mkdir()
    (photos / "again" / "circles_000.jpg").write_bytes(
        (photos / "circles/circles_000.jpg").read_bytes()
    )
    project = str(tmp_path / "project")
    assert run_cli("import", project, str(photos)).returncode == 0
    assert run_cli("vectors", "create", project, "--model", "pixels").returncode == 0
    assert run_cli("tag", project, "picked", "--ids", "1,2").returncode == 0
    assert run_cli("cluster", project, "--k", "2", "--name", "two").returncode == 0

    target = tmp_path / "out.csv"
    done = run_cli("export", project, str(target))
    assert done.returncode == 0, done.stderr
    with open(target, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 13  # 12 files + the identical copy: one row per path
    assert len({r["path"] for r in rows}) == 13
    assert {r["rel_path"] for r in rows if r["image_id"] == "1"} >= {"circles/circles_000.jpg"}
    assert sum("picked" in r["tags"] for r in rows) >= 2
    assert all(r["clusters"].startswith("two=") for r in rows)

    again = run_cli("export", project, str(target))
    assert again.returncode == 1 and "--force" in again.stderr
    assert run_cli("export", project, str(target), "--force").returncode == 0

    parquet = tmp_path / "out.parquet"
    assert run_cli("export", project, str(parquet), "--vectors", "1").returncode == 0
    table = pq.read_table(parquet)
    assert table.num_rows == 13 and "vector" in table.column_names
    vectors = np.array(table.column("vector").to_pylist(), np.float32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for args, words in (
        (["export", project, str(tmp_path / "x.txt")], ".csv or .parquet"),
        (["export", project, str(tmp_path / "v.csv"), "--vectors", "1"], "Parquet only"),
        (["export", project, str(tmp_path / "nope" / "x.csv")], "does not exist"),
    ):
        done = run_cli(*args)
        assert done.returncode == 1 and words in done.stderr, done.stderr


def test_pca_map_matches_svd_and_is_deterministic():
    from panoptui.core.projection import pca_2d

    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 24)).astype(np.float32) * np.linspace(3, 0.1, 24)
    ours = pca_2d(x)
    centred = x.astype(np.float64) - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    reference = centred @ vt[:2].T
    np.testing.assert_allclose(np.abs(ours), np.abs(reference), atol=1e-3)
    np.testing.assert_array_equal(pca_2d(x), ours)


def test_map_cli_saves_points_and_draws(tmp_path):
    from PIL import Image

    photos = tmp_path / "photos"
    write_samples(photos, per_family=3)
    project = str(tmp_path / "project")
    assert run_cli("import", project, str(photos)).returncode == 0
    assert run_cli("vectors", "create", project, "--model", "pixels").returncode == 0
    assert run_cli("cluster", project, "--k", "3", "--name", "c3").returncode == 0
    png = tmp_path / "map.png"
    done = run_cli("map", project, "--png", str(png), "--by-clustering", "c3", "--json")
    assert done.returncode == 0, done.stderr
    points = json.loads(done.stdout)
    assert len(points) == 18 and {p["group"] for p in points} == {0, 1, 2}
    assert Image.open(png).size == (1024, 1024)
    again = json.loads(run_cli("map", project, "--json").stdout)
    assert [(p["x"], p["y"]) for p in again] == [(p["x"], p["y"]) for p in points]
    tsne = run_cli("map", project, "--method", "tsne", "--json")
    assert tsne.returncode == 0 and len(json.loads(tsne.stdout)) == 18
    import duckdb

    con = duckdb.connect(str(tmp_path / "project" / "project.duckdb"), read_only=True)
    saved = con.execute("SELECT method, count(*) FROM map_points GROUP BY 1 ORDER BY 1").fetchall()
    assert saved == [("pca", 18), ("tsne", 18)]


def test_a_map_is_coloured_by_a_clustering_the_tags_under_a_tag_or_the_newest_clustering(
    tmp_path,
):
    from panoptui.core import cluster, projection, store, tags

    photos = tmp_path / "photos"
    write_samples(photos, per_family=3)
    project = str(tmp_path / "project")
    assert run_cli("import", project, str(photos)).returncode == 0
    assert run_cli("vectors", "create", project, "--model", "pixels").returncode == 0
    con = store.open_project(project)
    try:
        ids, _, groups = projection.coloured_map(con, 1, "pca", newest_clustering=True)
        assert len(ids) == 18 and set(groups) == {-1}  # no clustering yet
        cluster.cluster_set(con, 1, 3, "c3")
        _, _, newest = projection.coloured_map(con, 1, "pca", newest_clustering=True)
        _, _, named = projection.coloured_map(con, 1, "pca", by_clustering="c3")
        assert set(newest) == {0, 1, 2} and list(newest) == list(named)
        _, _, plain = projection.coloured_map(con, 1, "pca")
        assert set(plain) == {-1}
        tags.create_tag(con, "kind")
        tags.create_tag(con, "b", parent="kind")
        tags.create_tag(con, "a", parent="kind")
        tags.tag_images(con, "a", [int(ids[0])])
        tags.tag_images(con, "b", [int(ids[1]), int(ids[2])])
        assert tags.child_tags(con, "kind") == ["a", "b"] and tags.child_tags(con, "a") == []
        _, _, by_tag = projection.coloured_map(con, 1, "pca", by_tag="kind")
        assert list(by_tag[:3]) == [0, 1, 1] and set(by_tag[3:]) == {-1}
        _, _, alone = projection.coloured_map(con, 1, "pca", by_tag="b")
        assert list(alone[:3]) == [-1, 0, 0]
        assert cluster.unique_name(con, "c3") == "c3-2" and cluster.unique_name(con, "x") == "x"
        assert cluster.cluster_set(con, 1, 2, " c3 ", unique=True)[0] == "c3-2"
    finally:
        con.close()
