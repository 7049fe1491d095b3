"""Issue 12, clusters (core): members ranked by representativeness, names kept with the
clustering, one cluster named into a tag."""

from __future__ import annotations

import numpy as np
import pytest
import tui_helpers

from panoptui.core import cluster, store, tags
from panoptui.core.query import VectorMatrix

demo_base, project = tui_helpers.demo_base, tui_helpers.project


def test_members_are_ranked_closest_to_the_centre_first():
    # Symmetric around the x axis, so the centre is x: 11 and 13 are closest (a tie, by id),
    # 10 and 12 farther; 14 has no vector.
    vectors = np.array([[1, 0.5, 0], [1, 0, 0.1], [1, -0.5, 0], [1, 0, -0.1]], np.float32)
    matrix = VectorMatrix(np.array([10, 11, 12, 13], np.int64), vectors)
    ranked = cluster.by_representativeness(matrix, [10, 11, 12, 13, 14])
    assert [i for i, _ in ranked] == [11, 13, 10, 12, 14]
    scores = [s for _, s in ranked[:4]]
    assert scores == sorted(scores, reverse=True)
    assert ranked[-1] == (14, None)
    # The centre is the group's own: among 10 and 12 alone, they tie.
    assert [i for i, _ in cluster.by_representativeness(matrix, [12, 10])] == [10, 12]


def test_rename_kept_with_the_clustering_and_used_by_tags(project):
    con = store.open_project(project)
    try:
        name, found = cluster.cluster_set(con, 1, 3, "three")
        assert cluster.rename_cluster(con, name, 1, "  stripes ") == "stripes"
        loaded = cluster.load_clustering(con, name)
        assert [c.name for c in loaded] == [None, "stripes", None]
        assert loaded[1].title == "stripes" and loaded[0].title == "cluster 0"
        with pytest.raises(store.ProjectError, match="already called"):
            cluster.rename_cluster(con, name, 2, "stripes")
        with pytest.raises(store.ProjectError, match="no cluster 9"):
            cluster.rename_cluster(con, name, 9, "x")
        made = cluster.tags_from_clustering(con, name)
        assert made == ["three/0", "three/stripes", "three/2"]
        assert sorted(tags.tag_members(con, "three/stripes").tolist()) == sorted(found[1].ids)
        # A named cluster is a group by its name too (recommend, similar...).
        assert sorted(cluster.group_members(con, "three:stripes").tolist()) == found[1].ids
        assert sorted(cluster.group_members(con, "three:1").tolist()) == found[1].ids
        # Blank: back to the label.
        assert cluster.rename_cluster(con, name, 1, " ") is None
        assert cluster.load_clustering(con, name)[1].name is None
    finally:
        con.close()


def test_one_cluster_into_a_tag_and_ranked_members(project):
    con = store.open_project(project)
    try:
        name, found = cluster.cluster_set(con, 1, 2, "two")
        assert cluster.cluster_to_tag(con, name, 0, "chosen") == found[0].size
        assert cluster.cluster_to_tag(con, name, 0, "chosen") == 0  # already tagged
        assert sorted(tags.tag_members(con, "chosen").tolist()) == sorted(found[0].ids)
        ranked = cluster.representative_members(con, name, 1)
        assert sorted(i for i, _ in ranked) == sorted(found[1].ids)
        scores = [s for _, s in ranked]
        assert None not in scores and scores == sorted(scores, reverse=True)
    finally:
        con.close()


def test_the_default_clustering_is_the_newest_of_the_most_images(project):
    """A re-clustering inside one cluster is newer but covers a part of the set: maps and
    rankings keep to the clustering of the whole set (the reviewer saw most points grey)."""
    con = store.open_project(project)
    try:
        assert cluster.newest_clustering(con, 1) is None
        whole, found = cluster.cluster_set(con, 1, 3, "whole")
        assert cluster.newest_clustering(con, 1) == "whole"
        biggest = max(found, key=lambda c: c.size)
        inside = np.array(biggest.ids, np.int64)
        cluster.cluster_set(con, 1, 2, "inside", inside)
        assert cluster.newest_clustering(con, 1) == "whole"
        cluster.cluster_set(con, 1, 4, "again")  # a newer one of the whole set wins
        assert cluster.newest_clustering(con, 1) == "again"
    finally:
        con.close()
