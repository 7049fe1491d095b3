"""Cosine top-k against a brute-force reference, and queries on a real project."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from panoptui.core import store, vector_sets, vectorize
from panoptui.core.models import load_embedder
from panoptui.core.query import VectorMatrix, recommend, similar_to_image
from panoptui.core.samples import write_samples
from panoptui.core.scan import import_folders


def brute_force(ids, vectors, query, k, exclude=(), within=None):
    """Every score, a full sort by (score descending, id ascending)."""
    query = (query / np.linalg.norm(query)).astype(np.float32)
    scores = vectors @ query
    allowed = set(within.tolist()) if within is not None else None
    rows = [
        r
        for r in range(len(ids))
        if ids[r] not in exclude and (allowed is None or ids[r] in allowed)
    ]
    rows.sort(key=lambda r: (-scores[r], ids[r]))
    return [int(ids[r]) for r in rows[:k]]


def normalised(rng, n, d):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("k", [1, 10, 100])
def test_top_k_equals_brute_force_on_random_vectors(k):
    rng = np.random.default_rng(k)
    ids = np.arange(1, 5001, dtype=np.int64) * 3
    vectors = normalised(rng, 5000, 64)
    matrix = VectorMatrix(ids, vectors)
    for _ in range(5):
        query = rng.normal(size=64).astype(np.float32)
        got = [i for i, _ in matrix.top_k(query, k)]
        assert got == brute_force(ids, vectors, query, k)
        within = rng.choice(ids, 700, replace=False)
        exclude = set(int(i) for i in rng.choice(ids, 50, replace=False))
        got = [i for i, _ in matrix.top_k(query, k, exclude=exclude, within=within)]
        assert got == brute_force(ids, vectors, query, k, exclude, within)


def test_ties_are_broken_by_id_even_across_the_partition():
    rng = np.random.default_rng(0)
    base = normalised(rng, 1, 16)[0]
    vectors = np.tile(base, (50, 1))  # fifty identical vectors: all tied
    vectors[::7] = normalised(rng, len(vectors[::7]), 16)
    ids = np.arange(100, 150, dtype=np.int64)[::-1].copy()  # ids not in row order
    matrix = VectorMatrix(ids, vectors)
    got = matrix.top_k(base, 5)
    tied = sorted(int(i) for r, i in enumerate(ids) if r % 7)
    assert [i for i, _ in got] == tied[:5]
    assert all(s == pytest.approx(1.0, abs=1e-6) for _, s in got)


def test_min_score_and_small_sets():
    ids = np.array([1, 2], np.int64)
    vectors = np.array([[1, 0], [0, 1]], np.float32)
    matrix = VectorMatrix(ids, vectors)
    assert matrix.top_k(np.array([1, 0.1]), 10, min_score=0.5) == [
        (1, pytest.approx(0.995, abs=1e-3))
    ]
    assert len(matrix.top_k(np.array([1, 0]), 10)) == 2


def test_queries_on_a_project(tmp_path):
    from PIL import Image

    photos = tmp_path / "photos"
    write_samples(photos, per_family=4)
    original = photos / "circles" / "circles_001.png"
    image = Image.open(original)
    image.resize((image.width // 2, image.height // 2)).save(photos / "smaller_copy.png")
    con = store.open_project(tmp_path / "project", create=True)
    import_folders(con, [str(photos)], workers=1)
    embedder = load_embedder("pixels")
    set_id = vector_sets.create_set(con, embedder)
    vectorize.compute_vectors(con, set_id, embedder)
    matrix = VectorMatrix.load(con, set_id)
    assert len(matrix) == 25
    stored = dict(con.execute(f"SELECT image_id, vec FROM {store.vector_table(set_id)}").fetchall())
    for image_id, vec in zip(matrix.ids, matrix.vectors, strict=True):
        np.testing.assert_array_equal(vec, np.asarray(stored[int(image_id)], np.float32))

    first = int(matrix.ids[0])
    hits = similar_to_image(con, matrix, first, k=5)
    assert len(hits) == 5 and first not in [h.image_id for h in hits]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.path.startswith(str(photos.resolve())) for h in hits)
    # A resized copy finds its original first.
    (copy_id,) = con.execute(
        "SELECT image_id FROM files WHERE path = ?", [str((photos / "smaller_copy.png").resolve())]
    ).fetchall()[0]
    nearest = similar_to_image(con, matrix, int(copy_id), k=1)[0]
    assert nearest.path == str(original.resolve()) and nearest.score > 0.95

    group = [int(i) for i in matrix.ids[:3]]
    recommended = recommend(con, matrix, group, k=4)
    assert len(recommended) == 4 and not set(group) & {h.image_id for h in recommended}
    with pytest.raises(store.ProjectError, match="no vector"):
        similar_to_image(con, matrix, 99999)


def test_cli_similar_search_recommend(tmp_path):
    import json
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from helpers import run_cli
    from model_fixtures import tiny_open_clip_dir

    photos = tmp_path / "photos"
    write_samples(photos, per_family=3)
    project = str(tmp_path / "project")
    assert run_cli("import", project, str(photos)).returncode == 0
    assert run_cli("vectors", "create", project, "--model", "pixels").returncode == 0
    weights = tiny_open_clip_dir(tmp_path)
    done = run_cli(
        "vectors", "create", project, "--model", "open_clip:tiny", "--weights", str(weights)
    )
    assert done.returncode == 0, done.stderr

    hits = json.loads(run_cli("similar", project, "--id", "1", "-k", "4", "--json").stdout)
    assert len(hits) == 4 and all({"id", "path", "score"} <= set(h) for h in hits)
    assert 1 not in [h["id"] for h in hits]
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    # An image file given by path: itself excluded when it is in the project.
    some = next(photos.glob("circles/*.jpg"))
    by_path = json.loads(run_cli("similar", project, str(some), "--json", "--vectors", "1").stdout)
    assert str(some.resolve()) not in [h["path"] for h in by_path]
    cut = json.loads(
        run_cli("similar", project, "--id", "1", "--min-score", "0.9", "--json").stdout
    )
    assert all(h["score"] >= 0.9 for h in cut)
    inside = json.loads(
        run_cli(
            "similar", project, "--id", "1", "--folder", str(photos / "stripes"), "--json"
        ).stdout
    )
    assert inside and all("/stripes/" in h["path"] for h in inside)

    # Text search: the default set is the newest complete one (the tiny CLIP); pixels refuses.
    found = json.loads(run_cli("search", project, "a red circle", "-k", "3", "--json").stdout)
    assert len(found) == 3
    refused = run_cli("search", project, "a red circle", "--vectors", "1")
    assert refused.returncode == 1 and "sets that embed text: 2 (open_clip:tiny)" in refused.stderr
    assert run_cli("vectors", "default", project, "1").returncode == 0
    assert "embeds images only" in run_cli("search", project, "x").stderr

    recommended = json.loads(run_cli("recommend", project, "--ids", "1,2", "--json").stdout)
    assert recommended and not {1, 2} & {h["id"] for h in recommended}
    for args, words in (
        (["similar", project], "IMAGE_PATH or --id"),
        (["similar", project, "--id", "999"], "no vector"),
        (["recommend", project, "--ids", "a,b"], "expected ids"),
        (["similar", project, "--id", "1", "--vectors", "7"], "no vector set 7"),
    ):
        done = run_cli(*args)
        assert done.returncode in (1, 2) and words in done.stderr and "Traceback" not in done.stderr


def test_loading_and_querying_never_hold_the_vectors_twice(tmp_path):
    import tracemalloc
    from datetime import datetime

    import pyarrow as pa

    from panoptui.core import query

    n, dim = 150_000, 32  # more rows than one read batch
    assert n > 2 * query.READ_BATCH
    con = store.open_project(tmp_path / "project", create=True)
    now = datetime.now()
    con.execute(
        "INSERT INTO images (id, content_hash, size, format, width, height, mode, orientation, "
        "frames, phash, state, imported_at) "
        "SELECT i, 'h' || i, 1, 'PNG', 1, 1, 'RGB', 1, 1, 0, 'ok', ? "
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
    rng = np.random.default_rng(0)
    x = normalised(rng, n, dim)
    con.register(
        "batch",
        pa.table(
            {
                "image_id": pa.array(np.arange(1, n + 1)),
                "vec": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), dim),
            }
        ),
    )
    con.execute("INSERT INTO vectors_1 SELECT * FROM batch")
    con.unregister("batch")
    del x

    matrix_bytes = n * dim * 4
    batch_bytes = query.READ_BATCH * dim * 4
    tracemalloc.start()
    matrix = VectorMatrix.load(con, 1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(matrix) == n
    assert peak < matrix_bytes + 3 * batch_bytes, (peak, matrix_bytes)

    tracemalloc.start()
    hits = matrix.top_k(matrix.vectors[5], 10)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert hits[0][0] == int(matrix.ids[5])
    assert peak < 0.5 * matrix_bytes  # scores and indices only, never a copy of the matrix
