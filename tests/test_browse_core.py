"""Search by file name or path (core and `panoptui find`), exporting a selection, and the tile
size setting (issue 11)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from helpers import run_cli

from panoptui.core import browse, scan, settings, store
from panoptui.core.export import export
from panoptui.core.samples import family_image

NAMES = [
    "cats/cat_1.jpg",
    "cats/Cat_2.PNG",
    "cats/cat_10.jpg",
    "dogs/dog_1.jpg",
    "dogs/a%b_c.jpg",  # LIKE's wildcards: plain characters here
    "dogs/[x].jpg",  # a bracket in the name itself
    "odd/e\x1b[31mvil.jpg",  # an escape sequence in a name
]


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("names")
    images = root / "images"
    for n, name in enumerate(NAMES):
        path = images / name
        path.parent.mkdir(parents=True, exist_ok=True)
        family_image("gradient", n, (48, 36)).save(path, "PNG" if name.endswith("PNG") else "JPEG")
    project = root / "project"
    con = store.open_project(project, create=True)
    scan.import_folders(con, [str(images)], workers=1)
    con.close()
    return project, images


def found(project: Path, pattern: str, base: browse.ImageFilter | None = None) -> set:
    con = store.open_project(project, read_only=True)
    try:
        flt = browse.name_filter(pattern, base or browse.ImageFilter())
        paths = {p for _, p in browse.page_images(con, 0, 100, flt)}
        assert browse.count_images(con, flt) == len(paths)
        return {p.split("/images/", 1)[1] for p in paths}
    finally:
        con.close()


def test_a_substring_ignores_case_and_has_no_wildcards(named):
    project, _ = named
    assert found(project, "CAT_1") == {"cats/cat_1.jpg", "cats/cat_10.jpg"}
    assert found(project, "cats/") == {n for n in NAMES if n.startswith("cats/")}
    assert found(project, "a%b_") == {"dogs/a%b_c.jpg"}
    assert found(project, "%") == {"dogs/a%b_c.jpg"}  # not "anything"
    assert found(project, "_") == {n for n in NAMES if "_" in n}


def test_a_glob_matches_a_file_name_or_a_whole_path(named):
    project, images = named
    assert found(project, "cat_?.jpg") == {"cats/cat_1.jpg"}
    assert found(project, "cat_*") == {"cats/cat_1.jpg", "cats/Cat_2.PNG", "cats/cat_10.jpg"}
    assert found(project, "*.png") == {"cats/Cat_2.PNG"}
    assert found(project, "dogs/*_1.jpg") == {"dogs/dog_1.jpg"}
    assert found(project, "[cd]*_1.jpg") == {"cats/cat_1.jpg", "dogs/dog_1.jpg"}
    assert found(project, f"{images}/cats/cat_1*") == {"cats/cat_1.jpg", "cats/cat_10.jpg"}
    assert found(project, "[[]x].jpg") == {"dogs/[x].jpg"}  # a bracket, matched literally
    assert found(project, "cat_?.jp") == set()  # a glob matches to the end, not a part


def test_a_name_search_narrows_a_folder_or_tag_view(named):
    project, images = named
    in_dogs = browse.ImageFilter(folder=str(images / "dogs"))
    assert found(project, "_1", in_dogs) == {"dogs/dog_1.jpg"}
    assert browse.name_filter("x", in_dogs).describe() == f"folder {images / 'dogs'}, name x"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "give a file name, part of a path, or a glob"),
        ("   ", "give a file name, part of a path, or a glob"),
        ("cat_[12.jpg", "a [ without its closing ]"),
    ],
)
def test_bad_patterns_are_refused_in_one_line(pattern, message):
    with pytest.raises(store.ProjectError, match=message.replace("[", r"\[")) as caught:
        browse.name_filter(pattern)
    assert "\n" not in str(caught.value)


def test_find_on_the_command_line(named):
    project, _ = named
    result = run_cli("find", str(project), "cat_*.jpg")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].split()[1].endswith("/cats/cat_1.jpg")
    limited = run_cli("find", str(project), "cat", "--limit", "1")
    assert len(limited.stdout.splitlines()) == 1
    assert "the first 1 of 3 images" in limited.stderr
    as_json = json.loads(run_cli("find", str(project), "dog_1", "--json").stdout)
    assert [Path(r["path"]).name for r in as_json] == ["dog_1.jpg"]
    # A name is printed literally: the escape sequence is shown, not obeyed.
    evil = run_cli("find", str(project), "vil.jpg")
    assert "\\x1b[31m" in evil.stdout and "\x1b" not in evil.stdout
    nothing = run_cli("find", str(project), "zebra")
    assert nothing.returncode == 0 and nothing.stdout.strip() == "no images found"
    bad = run_cli("find", str(project), "cat_[1")
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.strip() == "panoptui: glob 'cat_[1': a [ without its closing ]"
    assert "find" in run_cli("--help").stdout


def test_export_writes_only_the_selected_images(named, tmp_path):
    project, _ = named
    con = store.open_project(project, read_only=True)
    try:
        chosen = [i for i, p in browse.page_images(con, 0, 100) if "/cats/" in p]
        rows = export(con, str(tmp_path / "cats.csv"), image_ids=frozenset(chosen))
        everything = export(con, str(tmp_path / "all.csv"))
    finally:
        con.close()
    with open(tmp_path / "cats.csv", newline="") as f:
        written = list(csv.DictReader(f))
    assert rows == len(written) == 3 and everything == len(NAMES)
    assert {int(r["image_id"]) for r in written} == set(chosen)


def test_the_tile_size_setting_is_checked():
    assert settings.check("tile_size", " Tiny ") == "tiny"
    with pytest.raises(store.ProjectError, match="tile size 'vast': choose tiny, small"):
        settings.check("tile_size", "vast")
