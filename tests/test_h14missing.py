"""Missing images can be seen (issue 14): an image whose files are gone is kept with its values
and thumbnail, and a filter that names ``missing`` shows it (``missing = true``), in the CLI
(`panoptui images`), the core's views and the Results screen; every other view keeps to present
images. The test project is made by `panoptui import` of a generated folder, some of whose
files are then deleted and the folder imported again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import tui_helpers
from helpers import run_cli
from test_filterbar_tui import show_filtered
from tui_helpers import fill_form, screen_text, settle, wait_for

from panoptui.core import browse, filters, properties, scan, store
from panoptui.core.filter_completion import Completer
from panoptui.core.samples import family_image
from panoptui.tui.widgets.grid import DetailPane

demo_base, project, drive = tui_helpers.demo_base, tui_helpers.project, tui_helpers.drive

NAMES = ["a/im0.jpg", "a/im1.jpg", "a/im2.jpg", "b/im3.jpg", "b/im4.jpg"]
GONE = ["a/im1.jpg", "b/im3.jpg"]
COPY = "b/im0-copy.jpg"  # a second copy of im0, deleted too: im0 stays present


@pytest.fixture(scope="module")
def gone(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(project, images folder): five images imported, a note set on the two deleted since."""
    root = tmp_path_factory.mktemp("missing")
    images = root / "images"
    for n, name in enumerate(NAMES):
        (images / name).parent.mkdir(parents=True, exist_ok=True)
        family_image("gradient", n, (48, 36)).save(images / name, "JPEG")
    shutil.copyfile(images / NAMES[0], images / COPY)
    project = root / "project"
    done = run_cli("import", str(project), str(images))
    assert done.returncode == 0, done.stderr
    con = store.open_project(project)
    note = properties.create_property(con, "note", "text")
    for name in GONE:
        properties.set_values(con, note, [image_id(con, images / name)], f"kept {name}")
    con.close()
    for name in [*GONE, COPY]:
        (images / name).unlink()
    done = run_cli("import", str(project))
    assert done.returncode == 0, done.stderr
    assert "3 missing" in done.stdout  # files: the two images' and the copy
    return project, images


def image_id(con, path: Path) -> int:
    return int(store.scalar(con, "SELECT image_id FROM files WHERE path = ?", [str(path)]))


def listed(project: Path, *args: str) -> list[dict]:
    done = run_cli("images", str(project), "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_listing_shows_missing_images_only_when_asked(gone):
    project, images = gone
    present = [str(images / n) for n in NAMES if n not in GONE]
    assert [r["path"] for r in listed(project)] == present  # as before: present images
    assert [r["path"] for r in listed(project, "--where", "missing = false")] == present
    missing = listed(project, "--where", "missing = true")
    assert [r["path"] for r in missing] == [str(images / n) for n in GONE]  # where they were
    assert [r["note"] for r in missing] == [f"kept {n}" for n in GONE]  # with their values
    assert all(r["missing"] for r in missing) and not any(r["missing"] for r in listed(project))
    # path, name and folder see a missing image's recorded files.
    only = listed(project, "--where", 'missing = true and folder contains "/b"')
    assert [r["path"] for r in only] == [str(images / "b/im3.jpg")]
    # An image still on disk is not missing for a deleted copy of it.
    assert listed(project, "--where", 'missing = true and name = "im0-copy.jpg"') == []
    both = listed(project, "--where", "missing = true or missing = false", "--sort=-missing")
    assert [r["path"] for r in both][:2] == [str(images / n) for n in GONE]
    assert len(both) == len(NAMES)
    by_name = listed(project, "--where", "missing = true", "--sort=-name")
    assert [r["name"] for r in by_name] == ["im3.jpg", "im1.jpg"]
    done = run_cli("images", str(project), "--where", "missing = true")
    assert done.returncode == 0 and "2 images" in done.stderr
    assert str(images / "b/im3.jpg") in done.stdout
    groups = run_cli("images", str(project), "--group-by", "missing", "--where", "missing = true")
    assert groups.returncode == 0 and groups.stdout.split("\n")[1].split() == ["2", "True"]


def test_a_bad_missing_filter_is_one_line(gone):
    project, _ = gone
    done = run_cli("images", str(project), "--where", "missing = maybe")
    assert done.returncode == 1 and "give true or false" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_the_core_views_page_count_and_draw_missing_images(gone):
    project, images = gone
    con = store.open_project(project, read_only=True)
    try:
        everything = browse.ImageFilter()
        asked = browse.ImageFilter(where="missing = true")
        assert browse.count_images(con, everything) == 3
        assert browse.count_images(con, asked) == 2
        page = browse.page_images(con, 0, 10, asked)
        assert [p for _, p in page] == [str(images / n) for n in GONE]
        ids = [i for i, _ in page]
        assert browse.filter_ids(con, asked).tolist() == ids
        assert set(browse.thumbnails(con, ids)) == set(ids)  # drawn from the store
        # A name or folder search within the view sees where their files were.
        named = browse.name_filter("im3", asked)
        assert [p for _, p in browse.page_images(con, 0, 10, named)] == [str(images / GONE[1])]
        assert browse.count_images(con, browse.name_filter("im3")) == 0  # not without missing
        folder = browse.ImageFilter(folder=str(images / "a"), where="missing = true")
        assert browse.count_images(con, folder) == 1
        details = browse.image_details(con, ids[0])
        assert details is not None and details.state == store.IMAGE_MISSING
        assert details.paths == [str(images / GONE[0])]
        assert ("note", f"kept {GONE[0]}") in details.properties
        # Queries among a filter's images (similar, clusters, export) keep to present ones.
        assert filters.matching_ids(con, "missing = true").tolist() == []
        assert filters.group_counts(con, "missing") == [(False, 3)]
    finally:
        con.close()


def test_missing_is_completed_and_not_a_free_property_name(gone):
    project, _ = gone
    con = store.open_project(project, read_only=True)
    try:
        completer = Completer(con)
        assert completer.complete("width > 3 and miss") == "width > 3 and missing"
        assert completer.complete("missing = t") == "missing = true"
        with pytest.raises(store.ProjectError, match="built-in field"):
            properties.check_name("Missing")
    finally:
        con.close()


def said(app) -> str:
    return "\n".join(n.message for n in app._notifications)


def test_the_results_screen_shows_missing_images_with_their_thumbnails(drive, project, tmp_path):
    target = tmp_path / "missing.csv"
    con = store.open_project(project)
    rows = con.execute("SELECT image_id, path FROM files ORDER BY id LIMIT 2").fetchall()
    folder = con.execute("SELECT path FROM folders").fetchall()[0][0]
    for _, path in rows:
        Path(path).unlink()
    scan.import_folders(con, [folder], workers=1)
    con.close()
    gone_ids = [int(i) for i, _ in rows]

    async def scenario(app, pilot):
        await settle(pilot)
        results = app.screen
        assert results.total == 36 - 2  # as before: present images only
        results = await show_filtered(pilot, "missing = true")
        assert results.total == 2
        assert [item.image_id for item in results.items] == gone_ids
        assert [item.path for item in results.items] == [p for _, p in rows]
        assert set(results.jpegs) >= set(gone_ids)  # their stored thumbnails, drawn
        assert results.query_one(DetailPane).display

        def says_missing() -> bool:
            return "file missing" in screen_text(app)

        await wait_for(pilot, says_missing, what="the pane saying the file is missing")
        assert rows[0][1].rsplit("/", 1)[-1] in screen_text(app)  # where it is expected
        # Similar to it: its vector is not among the present images': one line, no traceback.
        await pilot.press("s")
        await fill_form(pilot, {"k": 5})
        await settle(pilot)
        await wait_for(pilot, lambda: "has no vector" in said(app), what="the refusal")
        assert results.total == 2  # the view stays
        # Exporting them: a row per file on disk, so none (said in one line).
        await pilot.press("v")  # the page: both
        assert set(app.selection) == set(gone_ids)
        await pilot.press("e")
        await fill_form(pilot, {"file": str(target)})
        await settle(pilot)
        await wait_for(pilot, lambda: "wrote 0 rows" in said(app), what="the export")
        assert len(target.read_text().splitlines()) == 1  # the header

    drive(scenario, size=(120, 40))


def test_an_empty_view_says_how_to_see_missing_images(drive, project):
    con = store.open_project(project)
    rows = con.execute("SELECT path FROM files").fetchall()
    folder = con.execute("SELECT path FROM folders").fetchall()[0][0]
    for (path,) in rows:
        Path(path).unlink()  # every file gone: a Panoptic project imported without its files
    scan.import_folders(con, [folder], workers=1)
    images = int(store.scalar(con, "SELECT count(*) FROM images"))
    con.close()

    async def scenario(app, pilot):
        await settle(pilot)
        assert app.screen.total == 0
        hint = f"{images:,} missing images: f, missing = true"
        await wait_for(pilot, lambda: hint in screen_text(app), what="the hint")
        results = await show_filtered(pilot, "missing = true")
        assert results.total == images
        assert hint not in screen_text(app)

    drive(scenario, size=(120, 40))
