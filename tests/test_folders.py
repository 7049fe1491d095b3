"""Registered folders: forgetting one, re-pointing one that moved, and a project that moved
together with its folder (FOLDER/.panoptui)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from fixtures import family_image, jpeg_bytes, photo

from panoptui.core import store
from panoptui.core.folders import list_folders, move_folder, remove_folder
from panoptui.core.scan import import_folders


def rows(con, sql: str, params: list | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def make_folder(path: Path, seeds: range, shared: int | None = None) -> None:
    path.mkdir(parents=True)
    for i in seeds:
        family_image("circles", i, (40, 30)).save(path / f"c{i}.png")
    if shared is not None:
        family_image("noise", shared, (40, 30)).save(path / "shared.png")


def test_remove_folder_forgets_its_files_and_images_no_other_file_holds(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    make_folder(a, range(3), shared=7)
    make_folder(b, range(10, 12), shared=7)  # shared.png: the same bytes in both folders
    (a / "broken.png").write_bytes(b"not a png")
    con = store.open_project(tmp_path / "project", create=True)
    import_folders(con, [str(a), str(b)], workers=1)
    store.create_vector_table(con, 1, 2)
    con.execute(
        "INSERT INTO vector_sets VALUES (1, 'x', 'pixels', false, NULL, 2, false, "
        "'complete', now(), now(), 32)"
    )
    con.execute("INSERT INTO vectors_1 SELECT id, [1.0, 0.0]::FLOAT[2] FROM images")
    con.execute("INSERT INTO tags (id, property_id, name, created_at) VALUES (1, 1, 't', now())")
    con.execute("INSERT INTO image_tags SELECT 1, id FROM images")
    shared_image = rows(con, "SELECT image_id FROM files WHERE rel_path = 'shared.png'")[0][0]

    assert remove_folder(con, str(a)) == 5  # 4 images and the error
    assert rows(con, "SELECT path FROM folders") == [(str(b),)]
    assert rows(con, "SELECT count(*) FROM files") == [(3,)]
    assert rows(con, "SELECT count(*) FROM import_errors") == [(0,)]
    kept = {i for (i,) in rows(con, "SELECT image_id FROM files")}
    assert shared_image in kept
    for table, column in [
        ("images", "id"),
        ("thumbnails", "image_id"),
        ("vectors_1", "image_id"),
        ("image_tags", "image_id"),
    ]:
        assert {i for (i,) in rows(con, f"SELECT {column} FROM {table}")} == kept, table
    # A rescan changes nothing; importing the folder again brings it back.
    assert import_folders(con, None, workers=1).unchanged == 3
    assert import_folders(con, [str(a)], workers=1).new == 4


def test_remove_folder_works_on_a_folder_that_is_gone_and_refuses_unknown_ones(tmp_path):
    a = tmp_path / "usb"
    make_folder(a, range(2))
    con = store.open_project(tmp_path / "project", create=True)
    import_folders(con, [str(a)], workers=1)
    shutil.rmtree(a)
    with pytest.raises(store.ProjectError, match="is not a folder of this project"):
        remove_folder(con, str(tmp_path / "elsewhere"))
    assert [f.exists for f in list_folders(con)] == [False]
    assert remove_folder(con, str(a)) == 2
    assert rows(con, "SELECT count(*) FROM images") == [(0,)]
    assert list_folders(con) == []


def test_move_folder_repoints_every_path_and_a_rescan_finds_them_unchanged(tmp_path):
    old = tmp_path / "old"
    make_folder(old / "sub", range(3))
    latin = old / os.fsdecode(b"caf\xe9.jpg")
    latin.write_bytes(jpeg_bytes(photo(32, 32, 1)))
    (old / "broken.png").write_bytes(b"not a png")
    con = store.open_project(tmp_path / "project", create=True)
    import_folders(con, [str(old)], workers=1)
    ids = rows(con, "SELECT id, rel_path FROM files ORDER BY id")
    new = tmp_path / os.fsdecode(b"n\xe9w")  # a name that is not UTF-8 is fine too
    old.rename(new)
    assert move_folder(con, str(old), str(new)) == 5
    shown_new = f"{tmp_path}/n\\xe9w"
    assert rows(con, "SELECT path FROM folders") == [(shown_new,)]
    paths = rows(con, "SELECT path, raw_path FROM files")
    assert all(p.startswith(shown_new + "/") for p, _ in paths)
    assert all(os.path.exists(store.os_path(p, raw)) for p, raw in paths)
    assert rows(con, "SELECT path FROM import_errors") == [(shown_new + "/broken.png",)]
    summary = import_folders(con, None, workers=1)
    assert (summary.unchanged, summary.missing, summary.new, summary.failed) == (4, 0, 0, 1)
    assert rows(con, "SELECT id, rel_path FROM files ORDER BY id") == ids


def test_move_folder_refuses_what_cannot_be(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    make_folder(a, range(1))
    make_folder(b, range(1, 2))
    con = store.open_project(tmp_path / "project", create=True)
    import_folders(con, [str(a), str(b)], workers=1)
    with pytest.raises(store.ProjectError, match="is not a folder of this project"):
        move_folder(con, str(tmp_path / "c"), str(a))
    with pytest.raises(store.ProjectError, match="does not exist"):
        move_folder(con, str(a), str(tmp_path / "nowhere"))
    with pytest.raises(store.ProjectError, match="already a folder of this project"):
        move_folder(con, str(a), str(b))
    (b / "inner").mkdir()
    with pytest.raises(store.ProjectError, match="overlaps"):
        move_folder(con, str(a), str(b / "inner"))
    assert rows(con, "SELECT path FROM folders ORDER BY id") == [(str(a),), (str(b),)]


def test_a_folder_moved_with_its_own_project_just_works(tmp_path):
    folder = tmp_path / "photos"
    make_folder(folder / "2020", range(3))
    project = folder / ".panoptui"
    con = store.open_project(project, create=True)
    import_folders(con, [str(folder)], workers=1)
    con.close()
    moved = tmp_path / "elsewhere" / "photos"
    moved.parent.mkdir()
    folder.rename(moved)
    con = store.open_project(moved / ".panoptui", read_only=True)  # a read command first
    assert rows(con, "SELECT path FROM folders") == [(str(moved),)]
    assert all(p.startswith(str(moved) + "/") for (p,) in rows(con, "SELECT path FROM files"))
    con.close()
    con = store.open_project(moved / ".panoptui")
    summary = import_folders(con, None, workers=1)
    assert (summary.unchanged, summary.missing, summary.new) == (3, 0, 0)
    assert rows(con, "SELECT count(*) FROM folders") == [(1,)]


def test_a_copied_project_keeps_its_folders_where_they_still_are(tmp_path):
    folder = tmp_path / "photos"
    make_folder(folder, range(2))
    con = store.open_project(tmp_path / "project", create=True)
    import_folders(con, [str(folder)], workers=1)
    con.close()
    shutil.copytree(tmp_path / "project", tmp_path / "copies" / "project")
    con = store.open_project(tmp_path / "copies" / "project")
    assert rows(con, "SELECT path FROM folders") == [(str(folder),)]
