"""Terminal app responsiveness on a generated project of 100,000 images, against baselines
measured in the same run.

    python benchmarks/tui_bench.py [--images 100000] [--thumb 256] [--project DIR] [--rebuild]

The project (built once in DIR, default /tmp/panoptui-tui-bench, then reused): 100,000 images,
each with a files row (a hard link to one of 16 JPEG colour fields, so that the files exist as
imported), a stored thumbnail (that JPEG: 256x192 by default, the import's thumbnail size) and a
vector in one complete synthetic 512-d set. The app runs headless (``App.run_test``, 120x40,
half-cell images). Prints, each with its baseline and the ratio:
1. launch to the first whole page of the Results grid (the app shows a 1-image page first,
   loaded before the grid has its size), in a fresh process so that imports count (median of
   3), against a bare Textual App showing one Static: target < 2 s;
2. the next page of the grid (pagedown, end, home), median and max, until the screen has it
   (``page_shown_at``) and until it is drawn (the screen's next refresh), against the core page
   queries (``browse.page_images`` + ``browse.thumbnails``) timed directly: target < 200 ms;
   at the default tile size (medium) and at the smallest (tiny: the most pictures a page);
   then skimming: a burst of 30 PageDowns at key-repeat rate (30 a second), the time from the
   last key to the right page shown (median and max of 3 bursts), against one page flip
   (target < 100 ms), and the worst event-loop stall during the bursts against the timer idle
   (never frozen);
3. the worst event-loop stall (the lateness of a 10 ms timer) while a ``pixels`` vector job
   runs: for 5 s with the user only watching its progress, then for 10 s while the grid pages
   every 0.2 s; against the timer idle (and, for reference, paging without a job):
   target < 100 ms;
4. the bytes written to the terminal for one page flip of kitty pictures, the first time and
   when the page comes back (each thumbnail sent once per run, then only placeholder text),
   against textual-image's kitty widget, which sends every picture again (graphics_bench.py).
Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from panoptui.core import browse, store, vector_sets  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
import graphics_bench  # noqa: E402

CHUNK = 100_000
DIM = 512
SIZE = (120, 40)

# Run in a fresh interpreter: ``python -c CHILD PROJECT`` (or ``bare``); prints launch seconds.
CHILD = """
import time
t0 = time.monotonic()
import asyncio, sys
async def main():
    if sys.argv[1] == "bare":
        from textual.app import App
        from textual.widgets import Static
        class Bare(App):
            shown_at = 0.0
            def compose(self):
                yield Static("panoptui")
            def on_mount(self):
                self.shown_at = time.monotonic()
        app = Bare()
        shown = lambda: app.shown_at
    else:
        from panoptui.tui.app import PanoptuiApp
        from panoptui.tui.images import prepare
        app = PanoptuiApp(sys.argv[1], drawing=prepare("halfcell"))
        def shown():  # a whole page, not one loaded before the grid knew its size
            s = app.screen
            t = getattr(s, "page_shown_at", 0.0)
            return t if t and len(s.items) >= min(s.capacity, s.total) else 0.0
    async with app.run_test(size=(120, 40)) as pilot:
        while not shown():
            await pilot.pause(0.005)
        print(shown() - t0, flush=True)
asyncio.run(main())
"""


def jpegs(width: int, count: int = 16) -> list[bytes]:
    """Distinct colour fields (a gradient between two colours each), 4:3."""
    rng = np.random.default_rng(0)
    out = []
    ramp = np.linspace(0, 1, width)[None, :, None]
    for _ in range(count):
        a, b = rng.integers(0, 256, (2, 3))
        field = np.broadcast_to(a + (b - a) * ramp, (width * 3 // 4, width, 3)).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(field).save(buf, "JPEG", quality=85)
        out.append(buf.getvalue())
    return out


def build_project(path: Path, n: int, thumb: int) -> None:
    shutil.rmtree(path, ignore_errors=True)
    con = store.open_project(path, create=True)
    folder = path / "images"
    folder.mkdir()
    sources = []
    for k, data in enumerate(jpegs(thumb)):
        src = folder / f"src{k:02d}.jpg"
        src.write_bytes(data)
        st = src.stat()
        sources.append((k, st.st_size, st.st_mtime_ns, data))
    for i in range(1, n + 1):  # hard links: the same size and mtime as their source
        os.link(folder / f"src{i % 16:02d}.jpg", folder / f"img{i:06d}.jpg")
    now = datetime.now()
    con.execute(
        "INSERT INTO folders (id, path, added_at, last_import) VALUES (1, ?, ?, ?)",
        [str(folder), now, now],
    )
    con.execute("CREATE TEMP TABLE src (k INTEGER, size BIGINT, mtime BIGINT, jpeg BLOB)")
    con.executemany("INSERT INTO src VALUES (?, ?, ?, ?)", sources)
    each = "FROM range(1, ? + 1) t(i) JOIN src s ON s.k = i % 16"
    con.execute(
        "INSERT INTO images (id, content_hash, size, format, width, height, mode, orientation, "
        "frames, phash, state, imported_at) "
        "SELECT i, 'h' || i, s.size, 'JPEG', ?, ?, 'RGB', 1, 1, 0, 'ok', ? " + each,
        [thumb, thumb * 3 // 4, now, n],
    )
    con.execute(
        "INSERT INTO files (id, path, folder_id, rel_path, size, mtime_ns, image_id, state, "
        "seen_at) SELECT i, ? || format('/img{:06d}.jpg', i), 1, "
        f"format('img{{:06d}}.jpg', i), s.size, s.mtime, i, 'ok', ? {each}",
        [str(folder), now, n],
    )
    con.execute(f"INSERT INTO thumbnails SELECT i, ?, ?, s.jpeg {each}", [thumb, thumb * 3 // 4, n])
    con.execute(
        "INSERT INTO vector_sets (id, model, family, greyscale, weights, dim, embeds_text, "
        "batch_size, state, created_at, updated_at) "
        "VALUES (1, 'synthetic', 'none', false, NULL, ?, false, 32, 'complete', ?, ?)",
        [DIM, now, now],
    )
    store.create_vector_table(con, 1, DIM)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(200, DIM)).astype(np.float32)
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        x = centres[rng.integers(0, 200, m)] + rng.normal(size=(m, DIM)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        vec = pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), DIM)
        batch = pa.table({"image_id": pa.array(np.arange(start + 1, start + m + 1)), "vec": vec})
        store.insert_arrow(con, "INSERT INTO vectors_1 SELECT * FROM batch", batch)
    con.close()


def prepare_project(path: Path, n: int, thumb: int, rebuild: bool) -> None:
    if not rebuild and store.is_project(path):
        con = store.open_project(path)
        have = con.execute("SELECT count(*), max(width) FROM thumbnails").fetchall()[0]
        if have == (n, thumb):
            for s in vector_sets.list_sets(con):  # left by an earlier run's figure 3
                if s.id != 1:
                    vector_sets.delete_set(con, s.id)
            con.close()
            print(f"reusing the project at {path} ({n:,} images, {thumb}-px thumbnails)")
            return
        con.close()
    started = time.perf_counter()
    build_project(path, n, thumb)
    seconds = time.perf_counter() - started
    print(f"built the project at {path} ({n:,} images, {thumb}-px thumbnails) in {seconds:.1f} s")


def launch_seconds(target: str, repeats: int = 3) -> float:
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, target], cwd=ROOT, capture_output=True, text=True
        )
        errors = [line for line in out.stderr.splitlines() if "Error" in line]
        if not out.stdout.strip():
            sys.exit(f"launch of {target} failed:\n{out.stderr}")
        if out.returncode:  # measured, then failed on the way out: say so
            print(f"note: launch of {target} exited with {out.returncode}: {errors[-1:]}")
        runs.append(float(out.stdout.split()[0]))
    return statistics.median(runs)


async def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.002)
    return True


def full_page(screen) -> bool:
    """A page is shown, and a whole one: not one loaded before the grid knew its size."""
    shown = getattr(screen, "page_shown_at", 0.0)
    return shown > 0 and len(screen.items) >= min(screen.capacity, screen.total)


async def burst_figures(app, screen, bursts: int = 3, keys: int = 30) -> dict:
    """Holding PageDown: ``keys`` presses 1/30 s apart (a terminal's key repeat), from the first
    page; seconds from the last key until the page ``keys`` pages on is shown; the pages shown
    on the way (skimming shows what it can draw in time, and skips the rest); the worst
    lateness of a 10 ms timer meanwhile."""
    ticker = Ticker()
    timer = app.set_interval(0.01, ticker.tick)
    settles, shown_on_the_way = [], []
    started = time.monotonic()
    for _ in range(bursts):
        app.simulate_key("home")
        await wait_for(lambda: screen.view.offset == 0 and screen.items and screen.total)
        await asyncio.sleep(0.3)
        page = screen.capacity
        target = min(keys * page, (screen.total - 1) // page * page)
        seen, before, last_key = set(), screen.page_shown_at, 0.0
        for _ in range(keys):
            app.simulate_key("pagedown")
            last_key = time.monotonic()
            await asyncio.sleep(1 / 30)
            if screen.page_shown_at != before:
                seen.add(screen.page_shown_at)

        def settled(target=target, last_key=last_key) -> bool:
            return bool(
                screen.view.offset == target and screen.page_shown_at > last_key and screen.items
            )

        if not await wait_for(settled):
            sys.exit(f"the burst never settled on offset {target} (at {screen.view.offset})")
        settles.append(max(0.0, screen.page_shown_at - last_key))
        shown_on_the_way.append(len(seen))
    timer.stop()
    return {
        "settle": settles,
        "shown": shown_on_the_way,
        "stall": ticker.worst(started, time.monotonic())[0],
    }


async def tile_figures(app, screen, tile: str) -> tuple[int, list[float], list[float]]:
    """Page flips (shown, drawn) at another tile size; the size is put back after."""
    grid = screen.query_one("#grid")
    old = grid.tile
    before = screen.page_shown_at
    grid.set_tile(tile)
    await wait_for(lambda: screen.page_shown_at != before and full_page(screen))
    await asyncio.sleep(0.3)
    capacity = screen.capacity
    shown, drawn, _ = await page_figures(app, screen)
    grid.set_tile(old)
    await wait_for(lambda: full_page(screen))
    return capacity, shown, drawn


async def page_figures(app, screen) -> tuple[list[float], list[float], list[float]]:
    """Seconds from a key to the page shown (page_shown_at), to it drawn (the screen's next
    refresh after that), and the core queries for the same pages."""
    keys = ["pagedown"] * 20 + ["end", "home"] * 3
    shown, drawn, offsets = [], [], []
    for key in keys:
        before, pressed = screen.page_shown_at, time.monotonic()
        app.simulate_key(key)
        if not await wait_for(lambda b=before: screen.page_shown_at != b):
            sys.exit(f"no page shown within 10 s after {key}")
        await screen.wait_for_refresh()
        shown.append(screen.page_shown_at - pressed)
        drawn.append(time.monotonic() - pressed)
        offsets.append(screen.view.offset)
        await asyncio.sleep(0.05)
    cursor, limit = app.cursor(), screen.capacity
    core = []
    for offset in offsets:
        started = time.monotonic()
        ids = [i for i, _ in browse.page_images(cursor, offset, limit)]
        browse.thumbnails(cursor, ids)
        core.append(time.monotonic() - started)
    cursor.close()
    return shown, drawn, core


class Ticker:
    """Lateness of a 10 ms interval timer on the event loop: (seconds late, when)."""

    def __init__(self) -> None:
        self.gaps: list[tuple[float, float]] = []
        self.last = 0.0

    def tick(self) -> None:
        now = time.monotonic()
        if self.last:
            self.gaps.append((now - self.last - 0.01, now))
        self.last = now

    def worst(self, since: float, until: float) -> tuple[float, float]:
        """The worst lateness between two times, and when it began."""
        late, at = max((g for g in self.gaps if since < g[1] <= until), default=(0.0, until))
        return late, at - late - 0.01


async def paging(app, seconds: float, job=None) -> None:
    """Press pagedown every 0.2 s for some seconds (or until the job ends)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds and (job is None or job.running):
        app.simulate_key("pagedown")
        await asyncio.sleep(0.2)


async def stall_figures(app) -> dict:
    """Worst ticker lateness idle, while paging, and while paging during a pixels vector job."""
    from panoptui.tui.jobs import start_vectors

    ticker = Ticker()
    app.set_interval(0.01, ticker.tick)
    t0 = time.monotonic()
    await asyncio.sleep(3)
    t1 = time.monotonic()
    await paging(app, 3)
    t2 = time.monotonic()
    job = start_vectors(app, "pixels", False, None, "cpu", 32)
    await asyncio.sleep(5)  # the job runs, its progress shows; the user reads
    t_quiet = time.monotonic()
    await paging(app, 10, job)
    t3 = time.monotonic()
    job.cancel.set()
    await asyncio.to_thread(job.finished.wait, 60)
    if job.state == "failed":
        print(f"the vector job failed: {job.message}")
    busy, at = ticker.worst(t_quiet, t3)
    return {
        "idle": ticker.worst(t0, t1)[0],
        "job_quiet": ticker.worst(t2, t_quiet)[0],
        "paging": ticker.worst(t1, t2)[0],
        "job": busy,
        "job_at": at - t_quiet,
        "embedded": job.progress.done if job.progress else 0,
        "seconds": t3 - t2,
    }


async def session(project: Path) -> tuple:
    from panoptui.tui.app import PanoptuiApp
    from panoptui.tui.images import prepare

    app = PanoptuiApp(project, drawing=prepare("halfcell"))
    async with app.run_test(size=SIZE):
        await wait_for(lambda: full_page(app.screen), 30)
        await asyncio.sleep(0.5)
        screen = app.screen
        print(f"grid: {screen.capacity} images a page, {screen.total:,} images")
        pages = await page_figures(app, screen)
        tiny = await tile_figures(app, screen, "tiny")
        burst = await burst_figures(app, screen)
        idle = Ticker()
        timer = app.set_interval(0.01, idle.tick)
        await asyncio.sleep(2)
        timer.stop()
        burst["idle"] = idle.worst(0, time.monotonic())[0]
        stalls = await stall_figures(app)
    return pages, tiny, burst, stalls


def row(name: str, value: float, base: float, target: str, unit: str = "ms") -> None:
    k = 1 if unit == "s" else 1000
    ratio = f"{value / base:7.1f}x" if base > 0 else "      -"
    print(f"{name:<36} {value * k:8.3g} {unit:<2} {base * k:8.3g} {unit:<2} {ratio}  {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--thumb", type=int, default=256, help="thumbnail width in pixels")
    parser.add_argument("--project", type=Path, default=Path("/tmp/panoptui-tui-bench"))
    parser.add_argument("--rebuild", action="store_true", help="build the project again")
    args = parser.parse_args()
    started = time.perf_counter()
    prepare_project(args.project, args.images, args.thumb, args.rebuild)
    app_launch, bare_launch = launch_seconds(str(args.project)), launch_seconds("bare")
    (shown, drawn, core), tiny, burst, stall = asyncio.run(session(args.project))
    print(f"\n{'':<36} {'measured':>11} {'baseline':>11} {'ratio':>8}  target; baseline")
    row("1. launch to first Results page", app_launch, bare_launch, "< 2 s; bare Textual app", "s")
    for name, times in (("shown", shown), ("drawn", drawn)):
        row(f"2. next page {name}, median", statistics.median(times), statistics.median(core),
            "< 200 ms; core page queries")  # fmt: skip
        row(f"   next page {name}, max", max(times), max(core), "< 200 ms; core page queries")
    tiny_capacity, tiny_shown, tiny_drawn = tiny
    for name, times, medium in (("shown", tiny_shown, shown), ("drawn", tiny_drawn, drawn)):
        row(f"   tiny tiles ({tiny_capacity}/page) {name}, median", statistics.median(times),
            statistics.median(medium), f"< 200 ms; medium tiles, {name}")  # fmt: skip
        row(f"   tiny tiles ({tiny_capacity}/page) {name}, max", max(times), max(medium),
            f"< 200 ms; medium tiles, {name}")  # fmt: skip
    flip = statistics.median(shown)
    row("   30 PageDowns: settle, median", statistics.median(burst["settle"]), flip,
        "< 100 ms; one page flip")  # fmt: skip
    row("   30 PageDowns: settle, max", max(burst["settle"]), flip, "< 100 ms; one page flip")
    row("   30 PageDowns: worst stall", burst["stall"], burst["idle"], "< 100 ms; idle")
    row("3. worst stall, vector job", stall["job_quiet"], stall["idle"], "< 100 ms; idle")
    row("   worst stall, vector job + paging", stall["job"], stall["idle"], "< 100 ms; idle")
    row("   worst stall, paging, no job", stall["paging"], stall["idle"], "< 100 ms; idle")
    sent = graphics_bench.page_flip_bytes()
    for name, key in (("4. kitty bytes, page first shown", "first"),
                      ("   kitty bytes, page shown again", "return")):  # fmt: skip
        measured, base = sent[f"{key}_bytes"] / 1024, sent[f"baseline_{key}_bytes"] / 1024
        print(f"{name:<36} {measured:8.0f} KiB {base:8.0f} KiB "
              f"{base / measured:7.1f}x  smaller than textual-image's kitty widget")  # fmt: skip
    print(
        f"\nthe pixels job embedded {stall['embedded']:,} images in {stall['seconds']:.1f} s "
        f"(the last 10 s while the grid paged every 0.2 s; the worst stall then began "
        f"{stall['job_at']:.2f} s into the paging)"
    )
    print(
        f"skimming: pages shown on the way in each burst of 30 keys: {burst['shown']} "
        "(the status line's page number follows every key)"
    )
    print(f"whole benchmark: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
