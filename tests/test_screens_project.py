"""The Project screen (issue 11): the import errors show the file's name first at 80 columns, and
counts read as words do ("1 image", "1 error", never "1 images")."""

from __future__ import annotations

import asyncio
from pathlib import Path

from PIL import Image
from tui_helpers import SIZE, make_app, screen_text, settle

from panoptui.core import scan, store
from panoptui.tui.screens.project import ProjectScreen

LONG = "a folder with a rather long name/photos from the review/batch-2026"


def one_image_one_error(tmp_path: Path) -> Path:
    """A project of one good image and one empty file, deep in long folders."""
    folder = tmp_path / LONG
    folder.mkdir(parents=True)
    Image.new("RGB", (32, 32), "red").save(folder / "good.png")
    (folder / "empty_holiday_photo.jpg").write_bytes(b"")
    project = tmp_path / "project"
    con = store.open_project(project, create=True)
    scan.import_folders(con, [str(folder)], workers=1)
    con.close()
    return project


def test_one_image_and_one_error_read_in_the_singular_and_the_file_comes_first(tmp_path):
    project = one_image_one_error(tmp_path)

    async def scenario() -> None:
        app = make_app(project, start="project")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert isinstance(app.screen, ProjectScreen)
            shown = screen_text(app)
            assert "1 image (1 file on disk)" in shown and "· 1 error" in shown
            assert "1 images" not in shown and "1 errors" not in shown and "1 files" not in shown
            table = app.screen.query_one("#errors")
            assert [str(c.label) for c in table.columns.values()] == ["file", "reason"]
            # At 80 columns the file's name is in view, first on its row, before the reason.
            # (The first line that names it: the second, under the table, has the whole path.)
            row = [line for line in shown.splitlines() if "empty_holiday_photo.jpg" in line][0]
            assert row.index("empty_holiday_photo.jpg") < row.index("empty file")
            assert "…" in row.split("empty_holiday_photo.jpg")[0]  # the folders gave way
            # The folder's row: "1 file".
            (folder,) = [line for line in shown.splitlines() if "batch-2026  " in line]
            assert "1 file " in folder + " "

    asyncio.run(scenario())
