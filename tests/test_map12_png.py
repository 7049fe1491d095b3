"""Issue 12: `panoptui map --png` draws the map screen's colours (``projection.palette``) with a
legend (swatch, name, images), by default coloured by the newest clustering of the same set."""

from __future__ import annotations

import json

import numpy as np
from helpers import run_cli
from PIL import Image

from panoptui.core import projection
from panoptui.core.samples import write_samples


def swatch(image: Image.Image, row: int) -> tuple[int, int, int]:
    """The colour in the middle of the legend's swatch on ``row`` (0: the title line)."""
    top = projection.LEGEND_MARGIN + row * projection.LEGEND_ROW
    middle = projection.LEGEND_MARGIN + projection.LEGEND_SWATCH // 2
    return image.getpixel((middle, top + projection.LEGEND_SWATCH // 2))


def test_the_png_has_the_legend_in_the_map_colours(tmp_path):
    photos = tmp_path / "photos"
    write_samples(photos, per_family=3)
    project = str(tmp_path / "project")
    assert run_cli("import", project, str(photos)).returncode == 0
    assert run_cli("vectors", "create", project, "--model", "pixels").returncode == 0
    assert run_cli("cluster", project, "--k", "3", "--name", "c3").returncode == 0
    png = tmp_path / "map.png"
    done = run_cli("map", project, "--png", str(png))
    assert done.returncode == 0, done.stderr
    assert "coloured by clustering c3" in done.stdout
    image = Image.open(png).convert("RGB")
    colours = projection.palette(3)
    assert [swatch(image, row) for row in (1, 2, 3)] == colours
    # The dots are in the same colours: each group's colour is drawn outside the legend too.
    pixels = {tuple(p) for p in np.asarray(image)[200:].reshape(-1, 3)}
    assert set(colours) <= pixels

    points = json.loads(run_cli("map", project, "--json").stdout)
    assert {p["group"] for p in points} == {0, 1, 2}  # the newest clustering by default
