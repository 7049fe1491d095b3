"""Issue 13 (review finding H2): file names that the store keeps escaped (store.stored_path: a
backslash doubled, a byte that is not UTF-8 as ``\\xNN``) in filters, in CSV import and in
Panoptic's CSV export.

One small corpus, imported for real: a plain name, ``[b]bold[\\b].jpg`` (one real backslash),
``caf\\xe9.jpg`` in Latin-1 (not UTF-8) and a folder ``back\\slash`` holding one image."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from fixtures import jpeg_bytes, photo

from panoptui.core import browse, csv_io, filters, properties, scan, store, views

BOLD = "[b]bold[\\b].jpg"  # one backslash
LATIN = os.fsdecode(b"caf\xe9.jpg")  # a surrogate escape: the name is not UTF-8
LATIN_STORED = "caf\\xe9.jpg"  # how the store (and a CSV) writes it
FOLDER_BS = "back\\slash"


def corpus(root: Path) -> dict[str, str]:
    """The corpus below ``root/photos``: name -> real path (as the operating system's text)."""
    photos = root / "photos"
    (photos / FOLDER_BS).mkdir(parents=True)
    paths = {
        "plain": photos / "plain.jpg",
        "bold": photos / BOLD,
        "latin": photos / LATIN,
        "inner": photos / FOLDER_BS / "inner.jpg",
    }
    for seed, path in enumerate(paths.values()):
        path.write_bytes(jpeg_bytes(photo(64, 48, 40 + seed)))
    return {k: str(v) for k, v in paths.items()}


def new_project(root: Path, name: str) -> Path:
    project = root / name
    con = store.open_project(project, create=True)
    try:
        scan.import_folders(con, [str(root / "photos")], workers=1)
    finally:
        con.close()
    return project


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("h13g")
    paths = corpus(root)
    return root, paths, new_project(root, "project")


def image_of(con, real: str) -> int:
    (image_id,) = con.execute(
        "SELECT image_id FROM files WHERE path = ?", [store.stored_path(real)[0]]
    ).fetchone()
    return int(image_id)


def quoted(text: str) -> str:
    """A value in the filter language's quotes (a backslash written as two)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_the_corpus_is_stored_escaped(made):
    _, paths, project = made
    con = store.open_project(project, read_only=True)
    try:
        stored = {r[0] for r in con.execute("SELECT path FROM files").fetchall()}
    finally:
        con.close()
    assert len(stored) == 4
    assert store.stored_path(paths["bold"])[0] in stored
    assert paths["bold"].replace("\\", "\\\\") in stored
    assert paths["latin"].rsplit("/", 1)[0] + "/" + LATIN_STORED in stored


def test_name_and_folder_are_not_split_at_a_backslash(made):
    root, paths, project = made
    photos = str(root / "photos")
    con = store.open_project(project, read_only=True)
    try:
        names = dict(filters.group_counts(con, "name"))
        folders = dict(filters.group_counts(con, "folder"))
        directories = browse.directories(con)
    finally:
        con.close()
    # Whole, and as on disk: no "b].jpg", no folder ending in "[\".
    assert names == {"plain.jpg": 1, BOLD: 1, LATIN: 1, "inner.jpg": 1}
    assert folders == {photos: 3, f"{photos}/{FOLDER_BS}": 1}
    assert directories == [photos, f"{photos}/{FOLDER_BS}"]


def test_the_listing_gives_path_name_and_folder_as_on_disk(made):
    _, paths, project = made
    con = store.open_project(project, read_only=True)
    try:
        rows = filters.list_images(con)
    finally:
        con.close()
    assert sorted(r["path"] for r in rows) == sorted(paths.values())
    for row in rows:
        assert os.path.exists(row["path"])
        assert (row["folder"], row["name"]) == os.path.split(row["path"])


@pytest.mark.parametrize("group_by", ["name", "folder", "path"])
def test_opening_a_group_takes_its_images(made, group_by):
    """A group's value goes back into a filter (views.group_filter): it must take the
    group's images, backslash and Latin-1 names included."""
    _, _, project = made
    con = store.open_project(project, read_only=True)
    try:
        for value, count in filters.group_counts(con, group_by):
            where = views.group_filter(con, group_by, value)
            assert len(filters.matching_ids(con, where)) == count, where
    finally:
        con.close()


def test_a_folder_of_the_folder_list_takes_its_images(made):
    """browse.directories gives a folder as on disk; a view of it (browse.ImageFilter's folder,
    or the same as a filter expression, views.as_where) takes its images."""
    _, paths, project = made
    con = store.open_project(project, read_only=True)
    try:
        folder = browse.directories(con)[1]
        flt = browse.ImageFilter(folder=folder)
        shown = browse.count_images(con, flt)
        where = views.as_where(flt)
        assert where is not None
        by_filter = filters.matching_ids(con, where).tolist()
        wanted = [image_of(con, paths["inner"])]
    finally:
        con.close()
    assert shown == 1
    assert by_filter == wanted


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ('name startswith "[b]"', ["bold"]),
        ('name contains "[b]"', ["bold"]),
        ('name contains "BOLD[\\\\B]"', ["bold"]),  # contains ignores case
        (f"name = {quoted(BOLD)}", ["bold"]),
        ("name != " + quoted(BOLD), ["plain", "latin", "inner"]),
        # One real backslash: the two files that hold one, never the Latin-1 name, whose
        # stored form holds one too (\xe9).
        ('name contains "\\\\"', ["bold"]),
        ('path contains "\\\\"', ["bold", "inner"]),
        ('name startswith "caf"', ["latin"]),
        (f"folder = {quoted('PHOTOS/' + FOLDER_BS)}", ["inner"]),
        (f"folder startswith {quoted('PHOTOS/back' + chr(92))}", ["inner"]),
        (f"path = {quoted('PHOTOS/' + BOLD)}", ["bold"]),
        (f"path startswith {quoted('PHOTOS/[b]bold[' + chr(92))}", ["bold"]),
        # A regular expression sees the stored form: a backslash doubled.
        ('name ~ "\\\\[\\\\\\\\\\\\\\\\b\\\\]"', ["bold"]),
    ],
)
def test_filters_take_the_real_text_of_a_path(made, where, expected):
    root, paths, project = made
    where = where.replace("PHOTOS", str(root / "photos"))
    con = store.open_project(project, read_only=True)
    try:
        found = set(filters.matching_ids(con, where).tolist())
        wanted = {image_of(con, paths[k]) for k in expected}
    finally:
        con.close()
    assert found == wanted, where


def write_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\n")
        writer.writerow(["path", "note[text]"])
        writer.writerows(rows)


def notes(project: Path, paths: dict[str, str]) -> dict[str, object]:
    """name in the corpus -> its image's value of ``note``."""
    con = store.open_project(project, read_only=True)
    try:
        values = properties.all_values(con, properties.get_property(con, "note"))
        return {k: values.get(image_of(con, p)) for k, p in paths.items()}
    finally:
        con.close()


def test_csv_rows_find_files_by_their_real_path(made, tmp_path):
    root, paths, _ = made
    project = new_project(root, "csv-project")
    photos = str(root / "photos")
    file = tmp_path / "in.csv"
    write_csv(file, [
        (paths["bold"], "bold"),  # the real path: one backslash
        (f"photos/{FOLDER_BS}/inner.jpg", "inner"),  # relative, from the folder's name on
        (f"{photos}/{LATIN_STORED}", "latin"),  # not UTF-8: the escaped form panoptui writes
        (paths["plain"], "plain"),
    ])  # fmt: skip
    con = store.open_project(project)
    try:
        plan, result = csv_io.import_csv(con, file)
    finally:
        con.close()
    assert [str(p) for p in plan.problems] == []
    assert result.rows == 4
    assert notes(project, paths) == {"plain": "plain", "bold": "bold", "latin": "latin",
                                     "inner": "inner"}  # fmt: skip


def test_a_windows_relative_path_still_finds_its_file(made, tmp_path):
    root, paths, _ = made
    project = new_project(root, "windows-project")
    file = tmp_path / "win.csv"
    # photos\plain.jpg: Panoptic on Windows; no file holds that backslash, so it is a separator.
    write_csv(file, [("photos\\plain.jpg", "plain")])
    con = store.open_project(project)
    try:
        plan, result = csv_io.import_csv(con, file)
    finally:
        con.close()
    assert [str(p) for p in plan.problems] == []
    assert notes(project, paths)["plain"] == "plain"


def test_panoptic_export_writes_real_paths_and_reads_back_in_a_fresh_project(made, tmp_path):
    root, paths, _ = made
    first = new_project(root, "first")
    given = tmp_path / "given.csv"
    write_csv(given, [(p, k) for k, p in paths.items() if k != "latin"]
              + [(f"{root}/photos/{LATIN_STORED}", "latin")])  # fmt: skip
    con = store.open_project(first)
    try:
        assert csv_io.import_csv(con, given)[1].rows == 4
        out = tmp_path / "out.csv"
        assert csv_io.write_panoptic(con, str(out)) == 4
    finally:
        con.close()
    with open(out, encoding="utf-8", newline="") as handle:
        written = [row[0] for row in csv.reader(handle, delimiter=";")][1:]
    # The real path where it is UTF-8 text (one backslash), the escaped form where it is not.
    assert sorted(written) == sorted(
        [paths["plain"], paths["bold"], paths["inner"], f"{root}/photos/{LATIN_STORED}"]
    )
    second = new_project(root, "second")
    con = store.open_project(second)
    try:
        plan, result = csv_io.import_csv(con, out)
    finally:
        con.close()
    assert [str(p) for p in plan.problems] == []
    assert result.rows == 4
    assert notes(second, paths) == {k: k for k in paths}
