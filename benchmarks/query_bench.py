"""Query speed on synthetic vectors stored in a project, against in-memory bounds, in one run.

    python benchmarks/query_bench.py [--sizes 100000 1000000] [--dim 512]

For each N: synthetic L2-normalised float32 vectors are stored in a project (images rows plus a
vector set), then prints panoptui's similar-image query time (median of 20 after a warm-up,
vectors already loaded) against (1) the bound of one numpy matrix-vector product plus
argpartition on the same in-memory array and (2) faiss IndexFlatIP when faiss is installed;
the load time; peak RSS. For N = 100,000 also k-means (k=50) and near-duplicate grouping.
Targets (issue 4): <= 1.5x the numpy bound at 1M and under 300 ms; k-means(50) on 100k under
20 s; duplicates on 100k under 60 s.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from panoptui.core import store  # noqa: E402
from panoptui.core.cluster import kmeans  # noqa: E402
from panoptui.core.duplicates import near_duplicate_groups  # noqa: E402
from panoptui.core.query import VectorMatrix  # noqa: E402

CHUNK = 100_000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_project(path: Path, n: int, dim: int, seed: int = 0) -> None:
    """A project with n images and one vector set of random unit vectors (in clusters, as real
    embeddings are), written chunk by chunk through Arrow."""
    shutil.rmtree(path, ignore_errors=True)
    con = store.open_project(path, create=True)
    now = datetime.now()
    con.execute(
        "INSERT INTO images SELECT i, 'h' || i, 1, 'JPEG', 1, 1, 'RGB', 1, 1, 0, 'ok', ? "
        "FROM range(1, ? + 1) t(i)",
        [now, n],
    )
    con.execute(
        "INSERT INTO vector_sets (id, model, family, greyscale, weights, dim, embeds_text, "
        "batch_size, state, created_at, updated_at) "
        "VALUES (1, 'synthetic', 'none', false, NULL, ?, false, 32, 'complete', ?, ?)",
        [dim, now, now],
    )
    store.create_vector_table(con, 1, dim)
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(200, dim)).astype(np.float32)
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        x = centres[rng.integers(0, 200, m)] + rng.normal(size=(m, dim)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        table = pa.table(
            {
                "image_id": pa.array(np.arange(start + 1, start + m + 1)),
                "vec": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), dim),
            }
        )
        con.register("batch", table)
        con.execute("INSERT INTO vectors_1 SELECT * FROM batch")
        con.unregister("batch")
    con.close()


def median_ms(fn, repeats: int = 20) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def bench_size(n: int, args: argparse.Namespace, faiss) -> None:
    project = args.dir / f"project-{n}"
    started = time.perf_counter()
    build_project(project, n, args.dim)
    print(f"\nN = {n:,} x {args.dim}: project built in {time.perf_counter() - started:.1f} s")
    con = store.open_project(project, read_only=True)
    started = time.perf_counter()
    matrix = VectorMatrix.load(con, 1)
    con.close()
    print(f"  load vectors from DuckDB      {time.perf_counter() - started:8.2f} s")
    query_row = n // 2
    query = matrix.vectors[query_row].copy()
    itself = {int(matrix.ids[query_row])}
    ours = median_ms(lambda: matrix.top_k(query, args.k, exclude=itself))
    array = matrix.vectors  # the same in-memory array, for the bound

    def bound() -> np.ndarray:
        scores = array @ query
        return np.argpartition(-scores, args.k)[: args.k]

    numpy_ms = median_ms(bound)
    print(f"  panoptui similar (top-{args.k})     {ours:8.1f} ms")
    print(f"  numpy matvec + argpartition   {numpy_ms:8.1f} ms   ratio {ours / numpy_ms:.2f}")
    if faiss is not None:
        index = faiss.IndexFlatIP(args.dim)
        index.add(array)
        faiss_ms = median_ms(lambda: index.search(query[None], args.k))
        print(f"  faiss IndexFlatIP             {faiss_ms:8.1f} ms")
    if n <= 100_000:
        started = time.perf_counter()
        kmeans(array, 50)
        print(f"  k-means k=50                  {time.perf_counter() - started:8.1f} s")
        started = time.perf_counter()
        groups = near_duplicate_groups(matrix, 0.95)
        seconds = time.perf_counter() - started
        print(f"  duplicates (0.95)             {seconds:8.1f} s   {len(groups)} groups")
    print(f"  peak RSS so far               {peak_rss_mb():8.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/panoptui-bench/query"))
    args = parser.parse_args()
    try:
        import faiss  # type: ignore[import-not-found]
    except ImportError:
        faiss = None
        print("faiss is not installed: its column is skipped")

    for n in args.sizes:
        bench_size(n, args, faiss)


if __name__ == "__main__":
    main()
