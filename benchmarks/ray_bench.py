"""The Ray path of vector sets against the local pipeline, on the same corpus, in one run.

    python benchmarks/ray_bench.py [--images 200] [--width 1600] [--height 1200]
                                   [--model clip] [--num-cpus N] [--ingest-rows 200000]

On a generated corpus of real-size JPEGs, with a random-weight ViT-B/32 (the clip preset's
architecture, loaded from a local file as real weights are), prints:
(a) the local pipeline's images/s (``vectorize.compute_vectors``);
(b) Ray's start-up (a local instance of --num-cpus cores), separately;
(c) the Ray path's images/s (``ray_vectors.compute_vectors_on_ray``), its ratio to (a), and the
    rate at which panoptui ingested its shards;
(d) the ingest alone at scale: --ingest-rows 512-d rows written as shards of 256, committed
    into a fresh set, in rows/s: a transaction per shard (the baseline), then as the Ray path
    does (INGEST_ROWS rows a transaction), and their ratio;
(e) decoding and preprocessing on one core (the Ray path's CPU stage), in images/s: what each
    core of a GPU node feeds its embedding actor, for estimates of a cluster.
The vectors of (a) and (c) are checked equal (1e-5). On one machine Ray pays for moving each
image through its object store and for a separate decode stage, so (c) < (a) is expected here;
the point of the path is that on a cluster (c) grows with the nodes while (a) cannot.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import write_photos  # noqa: E402
from vectorize_bench import random_clip_weights  # noqa: E402

from panoptui.core import ray_vectors, store, vector_sets, vectorize  # noqa: E402
from panoptui.core.models import load_embedder  # noqa: E402
from panoptui.core.scan import import_folders  # noqa: E402


def ingest_alone(con, embedder, rows: int, workdir: Path, per_commit: int) -> float:
    """Rows/s of committing shards of 256 random vectors into a fresh set, ``per_commit``
    shards a transaction (the Ray path commits INGEST_ROWS rows at a time), for ``rows`` image
    ids (past the project's images is fine: the vector table has no key)."""
    dim = embedder.dim
    shard_rows = 256
    folder = workdir / "ingest-shards"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for start in range(0, rows, shard_rows):
        n = min(shard_rows, rows - start)
        flat = rng.standard_normal(n * dim, dtype=np.float32)
        pq.write_table(
            pa.table(
                {
                    "image_id": pa.array(range(start + 1, start + n + 1), pa.int64()),
                    "vec": pa.ListArray.from_arrays(
                        pa.array(np.arange(0, (n + 1) * dim, dim, dtype=np.int32)),
                        pa.array(flat),
                    ),
                    "reason": pa.nulls(n, pa.string()),
                }
            ),
            folder / f"{start:09d}.parquet",
        )
    set_id = vector_sets.create_set(con, embedder, batch_size=shard_rows)
    wanted = set(range(1, rows + 1))
    started = time.perf_counter()
    paths = sorted(folder.glob("*.parquet"))
    for start in range(0, len(paths), per_commit):
        ray_vectors.ingest_shards(con, set_id, paths[start : start + per_commit], wanted, dim)
    seconds = time.perf_counter() - started
    assert not wanted
    shutil.rmtree(folder, ignore_errors=True)
    return rows / seconds


def decode_rate(embedder, corpus: Path) -> float:
    """Images/s of the Ray path's CPU stage (decode and preprocess) on one core."""
    from panoptui.core.decode import DEFAULT_MAX_PIXELS
    from panoptui.core.vector_inputs import ImageDataset

    files = sorted(corpus.glob("*.jpg"))
    items = [(i, str(f), f.stat().st_size, f.stat().st_mtime_ns) for i, f in enumerate(files)]
    dataset = ImageDataset(items, embedder.preprocessor, False, DEFAULT_MAX_PIXELS)
    started = time.perf_counter()
    for index in range(len(dataset)):
        assert dataset[index][2] is None
    return len(dataset) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-cpus", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--ingest-rows", type=int, default=200_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/panoptui-bench/ray"))
    args = parser.parse_args()

    corpus = args.dir / f"corpus-{args.images}-{args.width}x{args.height}"
    if not (corpus / ".complete").exists():
        shutil.rmtree(corpus, ignore_errors=True)
        print(f"generating {args.images} JPEGs at {args.width}x{args.height} ...")
        write_photos(corpus, args.images, (args.width, args.height))
        (corpus / ".complete").touch()
    project = args.dir / "project"
    shutil.rmtree(project, ignore_errors=True)
    con = store.open_project(project, create=True)
    import_folders(con, [str(corpus)])
    weights = str(random_clip_weights(args.dir / "clip-vit-b-32-random.pt"))
    embedder = load_embedder("clip", weights, "cpu")
    print(
        f"corpus: {args.images} JPEGs {args.width}x{args.height}, model clip (ViT-B/32, random "
        f"weights) on the CPU, batch {args.batch_size}, {os.cpu_count()} cores"
    )

    local = vector_sets.create_set(con, embedder, weights=weights, batch_size=args.batch_size)
    summary = vectorize.compute_vectors(con, local, embedder)
    assert summary.done == args.images, summary
    local_rate = summary.done / summary.seconds
    print(f"(a) local pipeline    {local_rate:8.1f} images/s  ({summary.seconds:.1f} s)")

    started = time.perf_counter()
    ray_vectors.connect(None, num_cpus=args.num_cpus)
    startup = time.perf_counter() - started
    print(f"(b) Ray start-up      {startup:8.1f} s  (local instance, {args.num_cpus} CPUs)")

    on_ray = vector_sets.create_set(con, embedder, weights=weights, batch_size=args.batch_size)
    try:
        ray_summary = ray_vectors.compute_vectors_on_ray(
            con, on_ray, embedder, args.dir / "work", weights=weights
        )
    finally:
        ray_vectors.shutdown()
    assert ray_summary.done == args.images, ray_summary
    ray_rate = ray_summary.done / ray_summary.seconds
    ingest_rate = ray_summary.done / ray_summary.ingest_seconds if ray_summary.ingest_seconds else 0
    print(
        f"(c) Ray path          {ray_rate:8.1f} images/s  ({ray_summary.seconds:.1f} s, "
        f"{ray_summary.actors} embedding actor(s), {ray_summary.shards} shards); "
        f"ratio to (a) {ray_rate / local_rate:.2f}; ingest {ingest_rate:,.0f} rows/s"
    )
    table = store.vector_table
    worst = con.execute(
        f"SELECT max(list_cosine_distance(a.vec::FLOAT[], b.vec::FLOAT[])) FROM {table(local)} a "
        f"JOIN {table(on_ray)} b USING (image_id)"
    ).fetchone()
    print(f"    largest cosine distance between (a) and (c): {worst[0]:.2e}")

    one = ingest_alone(con, embedder, args.ingest_rows, args.dir, 1)
    per_commit = ray_vectors.INGEST_ROWS // 256
    grouped = ingest_alone(con, embedder, args.ingest_rows, args.dir, per_commit)
    print(
        f"(d) ingest alone      {grouped:8,.0f} rows/s  ({args.ingest_rows:,} {embedder.dim}-d "
        f"rows, {ray_vectors.INGEST_ROWS:,} a transaction); a transaction per shard of 256: "
        f"{one:,.0f} rows/s; ratio {grouped / one:.1f}"
    )
    print(f"(e) decode+preprocess {decode_rate(embedder, corpus):8.1f} images/s on one core")


if __name__ == "__main__":
    main()
