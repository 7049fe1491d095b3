"""Regenerate the SVG screenshots of every screen:

    .venv/bin/python screenshots/make.py [OUTPUT_FOLDER] [--only NAME,NAME]

A demo project is built in a fixed place, its import times are pinned, and every screen is
driven with Textual's Pilot at a fixed size, with the halfcell image renderer and no cursor
blink, so that the same code draws the same files byte for byte."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.widgets import Input

from panoptui.core import store
from panoptui.core.demo import build_demo
from panoptui.tui.app import PanoptuiApp
from panoptui.tui.images import prepare

ROOT = Path("/tmp/panoptui-screenshots")
PINNED_TIME = "2026-01-01 12:00:00"
SMALL, LARGE = (80, 24), (120, 36)


def build() -> Path:
    shutil.rmtree(ROOT, ignore_errors=True)
    project = build_demo(ROOT / "demo", per_family=8)
    con = store.open_project(project)
    con.execute(f"UPDATE folders SET last_import = TIMESTAMP '{PINNED_TIME}'")
    con.close()
    return project


async def settle(pilot: Any) -> None:
    app = pilot.app
    for _ in range(600):
        await pilot.pause(0.05)
        if not app.running_jobs() and all(w.is_finished for w in app.workers):
            await pilot.pause(0.1)
            return
    raise RuntimeError("the app stayed busy")


async def fill(pilot: Any, values: dict[str, Any]) -> None:
    for name, value in values.items():
        pilot.app.screen.query_one(f"#field-{name}").value = value
    await pilot.click("#ok")
    await settle(pilot)


Steps = Callable[[Any], Awaitable[None]]


async def keys(pilot: Any, *pressed: str) -> None:
    await pilot.press(*pressed)
    await settle(pilot)


def shots() -> list[tuple[str, tuple[int, int], str, Steps]]:
    """(file name, terminal size, first screen, what to do before the shot)."""

    async def nothing(pilot: Any) -> None:
        await settle(pilot)

    async def details(pilot: Any) -> None:
        await keys(pilot, "right", "down")

    async def list_view(pilot: Any) -> None:
        await keys(pilot, "g", "i")

    async def similar(pilot: Any) -> None:
        await keys(pilot, "right", "s")
        await fill(pilot, {"k": "24"})

    async def similar_dialog(pilot: Any) -> None:
        await keys(pilot, "s")

    async def search_bar(pilot: Any) -> None:
        await keys(pilot, "slash", *"red stripes")

    async def clusters(pilot: Any) -> None:
        await keys(pilot, "c")
        await fill(pilot, {"k": "6", "name": "families"})

    async def duplicates(pilot: Any) -> None:
        await keys(pilot, "d")
        await fill(pilot, {"threshold": "0.6"})

    async def map_(pilot: Any) -> None:  # coloured by a clustering, with its legend
        await keys(pilot, "c")
        await fill(pilot, {"k": "6", "name": "families"})
        await keys(pilot, "escape", "m")
        await fill(pilot, {"method": "pca"})
        await keys(pilot, "left", "left", "up")

    async def new_vectors(pilot: Any) -> None:
        await keys(pilot, "n")

    async def tags(pilot: Any) -> None:
        await keys(pilot, "3", "space", "right", "space", "right", "space", "t")
        await fill(pilot, {"tag": "favourites"})
        await keys(pilot, "c")
        await fill(pilot, {"k": "6", "name": "families"})
        await keys(pilot, "t", "escape", "4")

    async def properties_(pilot: Any) -> None:  # the Tags screen's list of properties (p)
        await keys(pilot, "space", "right", "space", "right", "space", "P")
        await fill(pilot, {"property": "", "value": "archive", "name": "source"})
        await keys(pilot, "4", "p", "n")
        await fill(pilot, {"name": "published", "type": "date", "mode": "file"})

    async def help_(pilot: Any) -> None:
        await keys(pilot, "question_mark")

    async def filter_bar(pilot: Any) -> None:  # the completion shows greyed after the cursor
        await keys(pilot, "f", *"format = PNG and wid")

    async def groups(pilot: Any) -> None:
        await keys(pilot, "f")
        await fill(pilot, {"where": "width >= 300", "group": "format"})

    async def import_preview(pilot: Any) -> None:  # a CSV's plan, before anything changes
        files = pilot.app.db.execute("SELECT path FROM files ORDER BY path LIMIT 4").fetchall()
        rows = ["path;published[date];source;topics[multi_tags];rating"]
        rows += [f"{p};{1990 + n}-05-01;archive {n};protest,street;{n + 3}"
                 for n, (p,) in enumerate(files)]  # fmt: skip
        rows += ["/elsewhere/gone.jpg;1991-01-01;lost;;1", f"{files[0][0]};soon;x;;2"]
        (ROOT / "values.csv").write_text("\n".join(rows) + "\n")
        await keys(pilot, "i")
        await fill(pilot, {"file": str(ROOT / "values.csv")})

    return [
        ("results-80x24", SMALL, "results", nothing),
        ("results-details", LARGE, "results", details),
        ("results-list", LARGE, "results", list_view),
        ("similar", LARGE, "results", similar),
        ("similar-dialog", SMALL, "results", similar_dialog),
        ("search-bar", SMALL, "results", search_bar),
        ("clusters", SMALL, "results", clusters),
        ("duplicates", SMALL, "results", duplicates),
        ("map", LARGE, "results", map_),
        ("project", SMALL, "project", nothing),
        ("import-preview", SMALL, "project", import_preview),
        ("vectors", SMALL, "vectors", nothing),
        ("vectors-create", SMALL, "vectors", new_vectors),
        ("tags", SMALL, "tags", tags),
        ("properties", SMALL, "results", properties_),
        ("settings", SMALL, "settings", nothing),
        ("help", LARGE, "results", help_),
        ("filter-bar", SMALL, "results", filter_bar),
        ("groups", LARGE, "results", groups),
    ]


async def take(
    project: Path, out: Path, name: str, size: tuple[int, int], start: str, steps: Steps
) -> None:
    app = PanoptuiApp(project, drawing=prepare("halfcell"), start=start)
    async with app.run_test(size=size) as pilot:
        for field in app.query(Input):
            field.cursor_blink = False
        await settle(pilot)
        await steps(pilot)
        for field in app.screen.query(Input):
            field.cursor_blink = False
        # Notifications go on a timer: a slow machine would shoot some and not others.
        app.clear_notifications()
        await pilot.pause(0.1)
        app.save_screenshot(str(out / f"{name}.svg"))


def main() -> int:
    parser = argparse.ArgumentParser(description="Regenerate the SVG screenshots.")
    parser.add_argument("out", nargs="?", default=str(Path(__file__).parent))
    parser.add_argument("--only", help="comma-separated names of the shots to take")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wanted = set(args.only.split(",")) if args.only else {name for name, *_ in shots()}
    started = time.monotonic()
    project = build()
    for name, size, start, steps in shots():
        if name not in wanted:
            continue
        # Each shot on its own copy: one shot's tags and clusterings never show in another.
        copy = ROOT / "shot"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(project.parent, copy)
        asyncio.run(take(copy / "project", out, name, size, start, steps))
        print(f"{out / name}.svg")
    print(f"{len(wanted)} screenshots in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
