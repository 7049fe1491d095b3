"""The screenshot generator: one command draws every screen, the same way every time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MAKE = Path(__file__).parent.parent / "screenshots" / "make.py"

# Each screen and a text it must show.
EXPECTED = {
    "results-80x24": "48 images",
    "results-details": "image ",
    "results-list": "folder",
    "similar": "similar to",
    "similar-dialog": "Vector set",
    "search-bar": "red stripes",
    "clusters": "6 clusters",
    "duplicates": "groups of near-duplicates",
    "map": "coloured by clustering",
    "project": "Import errors",
    "vectors": "pixels",
    "vectors-create": "Create new vectors",
    "tags": "favourites",
    "settings": "Image protocol",
    "help": "Everywhere",
    "filter-bar": "Sort by",
    "groups": "grouped by format",
    "import-preview": "rows go in",
    "properties": "belongs to",
}


def make(out: Path, *args: str) -> None:
    subprocess.run([sys.executable, str(MAKE), str(out), *args], check=True, timeout=900)


def test_every_screen_is_drawn_and_drawn_the_same_way_twice(tmp_path):
    make(tmp_path / "first")
    drawn = {p.stem: p.read_text() for p in (tmp_path / "first").glob("*.svg")}
    assert set(drawn) == set(EXPECTED)
    for name, text in EXPECTED.items():
        # SVG text replaces spaces by non-breaking ones.
        assert text.replace(" ", "&#160;") in drawn[name] or text in drawn[name], name
    make(tmp_path / "again", "--only", "results-80x24,clusters,map")
    for name in ("results-80x24", "clusters", "map"):
        assert (tmp_path / "again" / f"{name}.svg").read_text() == drawn[name], name
