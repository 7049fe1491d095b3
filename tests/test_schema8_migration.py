"""Issue 13: the upgrade to schema 8 (metadata columns, typed properties, the journal) on a
project that panoptui's schema-7 version made (tests/data/schema7-project.tar.xz: built with the
code of commit 413f61d through its CLI: 12 sample images imported, pixel vectors, a clustering
saved as tags, the tags 'protest' (3 images, 2 refused) and '[b]odd é', a pair marked not
duplicates). Every tag and tagging is kept, as values of the multi-tag property 'tags'."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from helpers import run_cli

from panoptui.core import store, tags

ARCHIVE = Path(__file__).parent / "data" / "schema7-project.tar.xz"


@pytest.fixture
def old_project(tmp_path: Path) -> Path:
    with tarfile.open(ARCHIVE) as archive:
        archive.extractall(tmp_path, filter="data")
    return tmp_path / "project"


def test_the_old_version_wrote_schema_7(tmp_path: Path):
    import duckdb

    with tarfile.open(ARCHIVE) as archive:
        archive.extractall(tmp_path, filter="data")
    con = duckdb.connect(str(tmp_path / "project" / store.DB_NAME), read_only=True)
    assert con.execute("SELECT version FROM schema_meta").fetchone() == (7,)
    columns = [c for (c,) in con.execute("SELECT column_name FROM (DESCRIBE tags)").fetchall()]
    assert "property_id" not in columns
    con.close()


def test_every_tag_and_tagging_is_kept_as_values_of_the_tags_property(old_project: Path):
    con = store.open_project(old_project)
    assert con.execute("SELECT version FROM schema_meta").fetchone() == (store.SCHEMA_VERSION,)
    assert con.execute("SELECT id, name, type, mode FROM properties").fetchall() == [
        (store.TAGS_PROPERTY_ID, "tags", "multi_tag", "image")
    ]
    assert con.execute(
        "SELECT id, property_id, name, parent_id FROM tags ORDER BY id"
    ).fetchall() == [
        (1, 1, "three", None),
        (2, 1, "three/0", 1),
        (3, 1, "three/1", 1),
        (4, 1, "three/2", 1),
        (5, 1, "protest", None),
        (6, 1, "[b]odd é", None),
    ]
    assert tags.tag_members(con, "protest").tolist() == [1, 2, 3]
    assert tags.tag_members(con, "[b]odd é").tolist() == [4]
    assert len(tags.tag_members(con, "three")) == 12  # the clustering's tags hold every image
    assert con.execute("SELECT * FROM refused_recommendations ORDER BY image_id").fetchall() == [
        (5, 5),
        (5, 6),
    ]
    assert con.execute("SELECT * FROM not_duplicates").fetchall() == [(7, 8)]
    # Images imported before carry no metadata yet: the next import reads it.
    assert con.execute("SELECT count(*) FROM images WHERE metadata_read").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM images").fetchone() == (12,)
    # New tags go into the same property, and a name stays unique in it.
    tags.tag_images(con, "protest", [9])
    tags.tag_images(con, "new", [10])
    assert tags.tag_members(con, "protest").tolist() == [1, 2, 3, 9]
    assert con.execute("SELECT property_id FROM tags WHERE name = 'new'").fetchone() == (1,)
    con.close()


def test_the_cli_works_on_the_upgraded_project(old_project: Path):
    listed = run_cli("tags", str(old_project), "--json")
    assert listed.returncode == 0, listed.stderr
    names = {t["name"]: t["images"] for t in json.loads(listed.stdout)}
    assert names["protest"] == 3 and names["[b]odd é"] == 1 and names["three"] == 12
    # The folder moved with the project (extracted elsewhere): a rescan finds every file.
    again = run_cli("import", str(old_project))
    assert again.returncode == 0, again.stderr
    assert "0 missing" in again.stdout and "0 failed" in again.stdout
