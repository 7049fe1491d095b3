"""The installed `panoptui` in a real terminal (tmux, 80x24, half blocks): the smallest tiles
show at least 24 images a page (issue 11), the size chosen with the keys is kept, and the
selection keys work as a terminal sends them."""

from __future__ import annotations

import tui_helpers
from test_tui_terminal import PANOPTUI, Tmux
from tui_helpers import PER_FAMILY

from panoptui.core import settings, store

demo_base, project = tui_helpers.demo_base, tui_helpers.project


def tiles(screen: str) -> int:
    """How many tiles the grid shows: each has one top-left corner (the cursor's is heavy)."""
    return sum(line.count("╭") + line.count("┏") for line in screen.splitlines())


def test_the_smallest_tiles_show_24_images_at_80x24_in_half_blocks(project, tmp_path):
    total = 6 * PER_FAMILY
    term = Tmux(tmp_path)
    try:
        term.start(f"{PANOPTUI} --image-protocol halfcell {project}")
        screen = term.wait_for(f"{total} images")
        medium = tiles(screen)
        assert 0 < medium < 24
        term.keys("-", "-")
        screen = term.wait_for("page 1/2")
        assert tiles(screen) >= 24, screen
        assert "▀" in screen  # pictures in half blocks, not empty tiles
        # The selection keys as a terminal sends them.
        term.keys("*")
        term.wait_for(f"{total} selected")
        term.keys("X", "S-Right")
        term.wait_for("2 selected")
        term.keys("q")
        screen = term.wait_for("EXIT-STATUS=0")
        assert "Traceback" not in screen
    finally:
        term.close()
    con = store.open_project(project, read_only=True)
    try:
        assert settings.load(con).tile_size == "tiny"
    finally:
        con.close()
