"""Names and text from files and users, as a hostile archive or a careless shell gives them:
invisible characters that reorder text, names that are not UTF-8, cells a spreadsheet would
run after a blank, a damaged schema record, a progress burst (issue 9, found on review)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from fixtures import family_image

from panoptui.core import cluster, export, store, tags, vector_sets, vectorize
from panoptui.core.folders import list_folders
from panoptui.core.models import load_embedder
from panoptui.core.progress import RateMeter
from panoptui.core.query import folder_images
from panoptui.core.scan import import_folders
from panoptui.core.text import shown

LATIN1 = os.fsdecode(b"caf\xe9")  # what Python makes of a Latin-1 shell argument


def project_of(tmp_path: Path, folder: Path):
    con = store.open_project(tmp_path / "project", create=True)
    import_folders(con, [str(folder)], workers=1)
    return con


def test_invisible_characters_that_reorder_or_hide_text_are_shown_escaped():
    # "\u202e" turns "gpj.exe" around on screen; zero-width characters hide in names.
    assert shown("invoice\u202egpj.exe") == "invoice\\u202egpj.exe"
    assert shown("a\u200bb\ufeffc\u2066d") == "a\\u200bb\\ufeffc\\u2066d"
    assert shown("été 日本 ü") == "été 日本 ü"  # letters of any script stay as they are


def test_names_that_are_not_utf8_are_refused_in_one_line(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        family_image("circles", i, (40, 30)).save(folder / f"c{i}.png")
    con = project_of(tmp_path, folder)
    with pytest.raises(store.ProjectError, match="tag name caf\\\\xe9 is not valid UTF-8"):
        tags.tag_images(con, LATIN1, [1])
    with pytest.raises(store.ProjectError, match="not valid UTF-8"):
        tags.delete_tag(con, LATIN1)
    with pytest.raises(store.ProjectError, match="group name caf\\\\xe9 is not valid UTF-8"):
        cluster.group_members(con, LATIN1)
    with pytest.raises(store.ProjectError, match="clustering name caf\\\\xe9 is not valid UTF-8"):
        cluster.load_clustering(con, LATIN1)
    embedder = load_embedder("pixels", None, "cpu")
    set_id = vector_sets.create_set(con, embedder, False, None, 8)
    vectorize.compute_vectors(con, set_id, embedder)
    with pytest.raises(store.ProjectError, match="clustering name caf\\\\xe9 is not valid UTF-8"):
        cluster.cluster_set(con, set_id, 2, LATIN1)
    assert tags.list_tags(con) == []  # nothing half-made


def test_a_latin1_folder_is_found_for_queries_and_listed_as_present(tmp_path):
    folder = tmp_path / LATIN1
    folder.mkdir()
    family_image("stripes", 1, (40, 30)).save(folder / "a.png")
    con = project_of(tmp_path, folder)
    assert folder_images(con, str(folder)).tolist() == [1]
    ((info),) = list_folders(con)
    assert info.exists and info.path == f"{tmp_path}/caf\\xe9"


def test_csv_cells_with_a_formula_after_blanks_are_neutralised_and_latin1_names_written(
    tmp_path,
):
    folder = tmp_path / "imgs"
    folder.mkdir()
    family_image("circles", 1, (40, 30)).save(folder / " =1+2.png")
    con = project_of(tmp_path, folder)
    tags.tag_images(con, "  @SUM(A1)", [1])  # stripped to "@SUM(A1)"
    target = tmp_path / os.fsdecode(b"r\xe9sultats.csv")
    assert export.export(con, str(target)) == 1
    with open(target, newline="") as handle:
        row = next(csv.DictReader(handle))
    assert row["rel_path"] == "' =1+2.png" and row["tags"] == "'@SUM(A1)"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    (tmp_path / LATIN1).mkdir()
    with pytest.raises(store.ProjectError, match="folder's name is not UTF-8"):
        export.export(con, str(tmp_path / LATIN1 / "out.csv"))


@pytest.mark.parametrize(
    "damage",
    [
        "DROP TABLE schema_meta; CREATE TABLE schema_meta (key VARCHAR, value VARCHAR)",
        "DROP TABLE schema_meta; CREATE TABLE schema_meta (version VARCHAR);"
        "INSERT INTO schema_meta VALUES ('abc')",
    ],
)
def test_a_damaged_schema_record_is_one_line(tmp_path, damage):
    con = store.open_project(tmp_path / "project", create=True)
    con.execute(damage)
    con.close()
    with pytest.raises(store.ProjectError, match="is damaged: its schema version cannot be read"):
        store.open_project(tmp_path / "project")


def test_a_burst_of_results_is_not_read_as_a_rate():
    now = [0.0]
    meter = RateMeter(clock=lambda: now[0])
    meter.event("importing", 0, 1000)
    now[0] += 1.0
    meter.event("importing", 8, 1000)  # the first chunk, after start-up
    now[0] += 0.00005
    burst = meter.event("importing", 16, 1000)  # a chunk that was ready meanwhile
    assert burst.rate == 0.0 and burst.eta is None
    now[0] += 1.0
    assert meter.event("importing", 116, 1000).rate == pytest.approx(108 / 1.00005)
