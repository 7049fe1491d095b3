"""Long queries as jobs: how often they report progress, how soon a cancel stops them, and what
the stepping costs, on synthetic vectors, in one run.

    python benchmarks/jobs_bench.py [--n 100000] [--dim 512] [--k 20] [--skip-duplicates]

For k-means (k clusters), near-duplicate pairs and PCA on N unit vectors (in clusters, as real
embeddings are), each run to its end with a progress callback, prints: the time, the number of
progress events, the longest gap between two (the longest a cancel can wait: the checks sit
where the events are), and the time from setting the cancel event to the function's end (the
longer of two tries, asked a quarter and half-way through). k-means is also timed against its
baseline, measured in the same run: sklearn's KMeans in one call, seeded on every row (what
panoptui ran before it stepped the iterations and seeded on a sample), as a ratio. Targets
(issue 11): a cancel heard within about a second; the stepped k-means no slower than 1.2x its
baseline.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from panoptui.core.cluster import SEED, kmeans  # noqa: E402
from panoptui.core.duplicates import near_duplicate_pairs  # noqa: E402
from panoptui.core.progress import Cancelled, Progress  # noqa: E402
from panoptui.core.projection import pca_2d  # noqa: E402


def vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(64, dim)).astype(np.float32)
    x = centres[rng.integers(0, 64, n)] + 0.7 * rng.normal(size=(n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


Job = Callable[[Callable[[Progress], None], threading.Event], Any]


def run_whole(job: Job) -> tuple[float, int, float]:
    """Seconds, progress events, longest gap between two events (from the start)."""
    times: list[float] = []
    start = time.perf_counter()
    job(lambda event: times.append(time.perf_counter()), threading.Event())
    end = time.perf_counter()
    marks = [start, *times, end]
    return end - start, len(times), max(b - a for a, b in zip(marks, marks[1:], strict=False))


def cancel_latency(job: Job, after: float) -> float:
    """Seconds from setting the cancel event ``after`` seconds in to the job's end: Cancelled,
    or its result when the cancel came after its last check (k-means' last step)."""
    cancel = threading.Event()
    ended: list[float] = []

    def target() -> None:
        with contextlib.suppress(Cancelled):
            job(lambda event: None, cancel)
        ended.append(time.perf_counter())

    thread = threading.Thread(target=target)
    thread.start()
    time.sleep(after)
    asked = time.perf_counter()
    cancel.set()
    thread.join()
    return ended[0] - asked  # below 0: it had ended before the cancel was asked


def sklearn_kmeans(x: np.ndarray, k: int) -> float:
    """The k-means panoptui ran before: sklearn's, in one call, seeded on every row."""
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    restarts = 3 if len(x) <= 20_000 else 1
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        KMeans(k, n_init=restarts, random_state=SEED, max_iter=100).fit(x)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--skip-duplicates", action="store_true", help="the slowest (minutes)")
    args = parser.parse_args()
    x = vectors(args.n, args.dim)
    print(f"N={args.n} dim={args.dim}")

    jobs: dict[str, Job] = {
        f"k-means k={args.k}": lambda p, c: kmeans(x, args.k, p, c),
        "PCA": lambda p, c: pca_2d(x, p, c),
    }
    if not args.skip_duplicates:
        jobs["duplicates 0.95"] = lambda p, c: near_duplicate_pairs(x, 0.95, p, c)
    for name, job in jobs.items():
        seconds, events, gap = run_whole(job)
        # Asked a quarter and half-way through (below 0: the run had ended before).
        latency = max(cancel_latency(job, seconds * share) for share in (0.25, 0.5))
        print(
            f"{name:<18} {seconds:7.1f} s  {events:5d} progress events  longest gap "
            f"{gap:5.2f} s  cancel heard in {latency:5.2f} s at most"
        )
        if name.startswith("k-means"):
            baseline = sklearn_kmeans(x, args.k)
            print(
                f"{'':<18} baseline sklearn KMeans in one call {baseline:6.1f} s: "
                f"stepped/baseline {seconds / baseline:.2f}x"
            )


if __name__ == "__main__":
    main()
