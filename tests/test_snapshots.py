"""Every screen compared with its committed SVG snapshot (tests/__snapshots__/test_snapshots/):
a change to what a screen shows fails here until the snapshots are updated on purpose, with

    .venv/bin/pytest tests/test_snapshots.py --snapshot-update

(then look at the new SVGs, or the report pytest-textual-snapshot writes on a failure, before
committing them). The screens are those of screenshots/make.py, driven by the same steps, on a
demo project built in a fixed folder (paths show on screens) with its import times pinned. The
snapshots hold only with the exact textual version pyproject.toml pins."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from panoptui.tui.app import PanoptuiApp
from panoptui.tui.images import prepare

MAKE = Path(__file__).parent.parent / "screenshots" / "make.py"
# Not screenshots/make.py's folder: its test rebuilds that one while these run.
ROOT = Path("/tmp/panoptui-snapshots")


def _load_make() -> Any:
    spec = importlib.util.spec_from_file_location("screenshots_make", MAKE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.ROOT = ROOT  # build() reads it when it runs
    return module


make = _load_make()
SHOTS = {name: (size, start, steps) for name, size, start, steps in make.shots()}


@pytest.fixture(scope="module")
def demo() -> Path:
    """The demo project, built once (its files and pinned import times, as make.py builds)."""
    return make.build()


def fresh_copy(project: Path) -> Path:
    """Each screen on its own copy, in one fixed place: one shot's tags never show in another."""
    copy = ROOT / "shot"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(project.parent, copy)
    return copy / "project"


@pytest.mark.parametrize("name", list(SHOTS))
def test_screen(name: str, demo: Path, snap_compare: Any) -> None:
    size, start, steps = SHOTS[name]
    app = PanoptuiApp(fresh_copy(demo), drawing=prepare("halfcell"), start=start)

    async def run_before(pilot: Any) -> None:
        for field in pilot.app.query(Input):
            field.cursor_blink = False
        await make.settle(pilot)
        await steps(pilot)
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        pilot.app.clear_notifications()  # as make.py: they go on a timer
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
