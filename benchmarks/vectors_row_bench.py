"""What the Vectors screen costs the UI thread while a job fills a set, at a million images, against
the baseline measured in the same run.

    python benchmarks/vectors_row_bench.py [--images 1000000] [--sets 3]

Until issue 11 the screen brought the running set's row up to date by reading every set again
(``vector_sets.list_sets``: per set, a count of its vectors joined to the images and a count of its
errors) once a second, on the UI thread. Now the row follows the job's progress event: a few
integers, no query. This builds a project of N images and ``--sets`` complete sets (4-d vectors:
the counts do not read the vectors) in a temporary folder and prints, median of 5:
1. one ``list_sets`` (the old per-second refresh), and
2. the row's cells computed from a progress event (``running_cells``, as the screen does),
with the ratio. Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from panoptui.core import store, vector_sets  # noqa: E402
from panoptui.core.progress import Progress  # noqa: E402
from panoptui.tui.screens.vectors import running_cells  # noqa: E402

DIM = 4


def build(path: Path, n: int, sets: int) -> None:
    con = store.open_project(path, create=True)
    now = datetime.now()
    con.execute(
        "INSERT INTO images (id, content_hash, size, format, width, height, mode, orientation, "
        "frames, phash, state, imported_at) "
        "SELECT i, 'h' || i, 1000, 'JPEG', 8, 8, 'RGB', 1, 1, 0, 'ok', ? "
        "FROM range(1, ? + 1) t(i)",
        [now, n],
    )
    for set_id in range(1, sets + 1):
        con.execute(
            "INSERT INTO vector_sets (id, model, family, greyscale, weights, dim, embeds_text, "
            "batch_size, state, created_at, updated_at) "
            "VALUES (?, 'synthetic', 'none', false, NULL, ?, false, 32, 'complete', ?, ?)",
            [set_id, DIM, now, now],
        )
        store.create_vector_table(con, set_id, DIM)
        con.execute(
            f"INSERT INTO {store.vector_table(set_id)} "
            "SELECT i, [0.5, 0.5, 0.5, 0.5]::FLOAT[4] FROM range(1, ? + 1) t(i)",
            [n],
        )
    con.close()


def median_seconds(run, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--sets", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "project"
        started = time.perf_counter()
        build(path, args.images, args.sets)
        seconds = time.perf_counter() - started
        print(f"built {args.images:,} images, {args.sets} sets in {seconds:.1f} s")
        con = store.open_project(path)
        old = median_seconds(lambda: vector_sets.list_sets(con))
        event = Progress("embedding", args.images // 2, args.images, 3, 1000.0, 500.0)
        new = median_seconds(lambda: running_cells(args.images, event))
        con.close()
    print(f"old row refresh (list_sets, each second): {old * 1000:9.2f} ms")
    print(f"new row refresh (from the progress event): {new * 1000:9.4f} ms")
    print(f"ratio old/new: {old / new:,.0f}x")


if __name__ == "__main__":
    main()
