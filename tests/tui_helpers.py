"""Driving the terminal app in tests: a demo project per test (the fixtures ``demo_base`` and
``project``: test modules import them), the app run on it (the fixture ``drive``), and waits on
what the app does in its workers (pages, jobs), so that assertions see the settled screen."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Select

from panoptui.tui.app import PanoptuiApp
from panoptui.tui.images import prepare

SIZE = (80, 24)  # the smallest terminal the app is made for
PER_FAMILY = 6  # 36 demo images: several pages at 80x24, quick to build


@pytest.fixture(scope="session")
def demo_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from panoptui.core.demo import build_demo

    root = tmp_path_factory.mktemp("demo-base")
    build_demo(root, per_family=PER_FAMILY)
    return root


@pytest.fixture
def project(demo_base: Path, tmp_path: Path) -> Path:
    return demo_project(demo_base, tmp_path)


def demo_project(base: Path, tmp_path: Path) -> Path:
    """A fresh copy of the demo project built once in ``base`` (tests change their copy)."""
    from panoptui.core import store

    target = tmp_path / "demo"
    shutil.copytree(base, target, symlinks=True)
    # The images moved with the copy: point the project at them.
    con = store.open_project(target / "project")
    old, new = str(base / "images"), str(target / "images")
    con.execute("UPDATE folders SET path = ?", [new])
    con.execute("UPDATE files SET path = ? || substr(path, ?)", [new, len(old) + 1])
    con.close()
    return target / "project"


def make_app(project: Path, **kwargs: Any) -> PanoptuiApp:
    return PanoptuiApp(project, drawing=prepare("halfcell"), **kwargs)


Scenario = Callable[[PanoptuiApp, Any], Awaitable[None]]


@pytest.fixture
def drive(project: Path) -> Callable[..., None]:
    """``drive(scenario, size=SIZE, **app_options)``: run ``await scenario(app, pilot)`` in the
    app on the test's demo project (``project``), at ``size``, and close the app after it."""

    def run(scenario: Scenario, size: tuple[int, int] = SIZE, **app_options: Any) -> None:
        async def main() -> None:
            app = make_app(project, **app_options)
            async with app.run_test(size=size) as pilot:
                await scenario(app, pilot)

        asyncio.run(main())

    return run


async def settle(pilot: Any, timeout: float = 120) -> None:
    """Wait until no job runs and no worker (page loads included) is busy."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.05)
        busy = app.running_jobs() or any(not w.is_finished for w in app.workers)
        if not busy:
            await pilot.pause(0.05)
            if not app.running_jobs() and all(w.is_finished for w in app.workers):
                return
    raise AssertionError(f"app still busy after {timeout}s: {list(app.workers)}")


async def fill_form(pilot: Any, values: dict[str, Any], submit: bool = True) -> None:
    """Fill the form dialog on top and press its OK button."""
    screen = pilot.app.screen
    for name, value in values.items():
        widget = screen.query_one(f"#field-{name}")
        if isinstance(widget, Input):
            widget.value = str(value)
        elif isinstance(widget, Select):
            widget.value = value
        else:
            widget.value = bool(value)
    await pilot.pause()
    if submit:
        await pilot.click("#ok")
        await pilot.pause()


async def wait_for(pilot: Any, condition: Any, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.05)
        await pilot.pause()


def screen_text(app: Any) -> str:
    """What the screen shows, line by line (read back from the SVG export, which holds every
    cell's character)."""
    import html
    import re

    svg = app.export_screenshot()
    lines: dict[float, list[tuple[float, str]]] = {}
    for x, y, body in re.findall(
        r'<text[^>]*?\bx="([\d.]+)"[^>]*?\by="([\d.]+)"[^>]*>(.*?)</text>', svg, flags=re.S
    ):
        lines.setdefault(float(y), []).append((float(x), html.unescape(body)))
    return "\n".join(
        "".join(t for _, t in sorted(parts)).replace("\xa0", " ").rstrip()
        for _, parts in sorted(lines.items())
    )
