"""The derived vector file of a set (core/matrix_file.py): used when valid, rebuilt when missing,
truncated, damaged or stale, never written where it cannot be, and always giving what a
brute-force float32 scan of DuckDB's rows gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from panoptui.core import matrix_file, store, vector_sets, vectorize
from panoptui.core.progress import Cancelled
from panoptui.core.query import VectorMatrix, similar_to_image

DIM = 32


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def add_vectors(con, ids, vectors, set_id: int = 1) -> None:
    """Rows added as a vector run adds them (core/vectorize.py's commit of one batch)."""
    vectorize.commit_batch(con, set_id, [int(i) for i in ids], unit(vectors), [])


def make_project(path: Path, n: int = 300, seed: int = 0):
    """A project of n images (ids 1..n, all present) and one set of n clustered unit vectors."""
    con = store.open_project(path, create=True)
    now = datetime.now()
    con.execute(
        "INSERT INTO images (id, content_hash, size, format, width, height, mode, orientation, "
        "frames, phash, state, imported_at) "
        "SELECT i, 'h' || i, 1, 'JPEG', 1, 1, 'RGB', 1, 1, 0, 'ok', ? FROM range(1, ? + 1) t(i)",
        [now, n],
    )
    con.execute(
        "INSERT INTO vector_sets (id, model, family, greyscale, weights, dim, embeds_text, "
        "batch_size, state, created_at, updated_at) "
        "VALUES (1, 'synthetic', 'none', false, NULL, ?, false, 32, 'complete', ?, ?)",
        [DIM, now, now],
    )
    store.create_vector_table(con, 1, DIM)
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, DIM))
    add_vectors(con, range(1, n + 1), centres[rng.integers(0, 8, n)] + rng.normal(size=(n, DIM)))
    return con


def duckdb_rows(con, set_id: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The truth: the rows of the images present on disk, straight from DuckDB."""
    rows = con.execute(
        f"SELECT v.image_id, v.vec FROM {store.vector_table(set_id)} v "
        "JOIN images i ON i.id = v.image_id AND i.state = 'ok' ORDER BY v.image_id"
    ).fetchall()
    ids = np.array([r[0] for r in rows], np.int64)
    return ids, np.array([r[1] for r in rows], np.float32).reshape(len(rows), -1)


def brute_force(ids, vectors, query, k, exclude=()):
    """Every float32 score, a full sort by (score descending, id ascending)."""
    query = (query / np.linalg.norm(query)).astype(np.float32)
    scores = vectors @ query
    order = sorted((r for r in range(len(ids)) if ids[r] not in exclude),
                   key=lambda r: (-scores[r], ids[r]))  # fmt: skip
    return [(int(ids[r]), float(scores[r])) for r in order[:k]]


def assert_as_brute_force(con, matrix: VectorMatrix, queries: int = 6, k: int = 15) -> None:
    ids, vectors = duckdb_rows(con)
    assert matrix.ids.tolist() == ids.tolist()
    np.testing.assert_array_equal(matrix.vectors, vectors)  # float32, exactly DuckDB's
    assert matrix.vectors.dtype == np.float32
    rng = np.random.default_rng(len(ids))
    for row in rng.choice(len(ids), queries, replace=False):
        itself = {int(ids[row])}
        got = matrix.top_k(vectors[row], k, exclude=itself)
        want = brute_force(ids, vectors, vectors[row], k, itself)
        assert [i for i, _ in got] == [i for i, _ in want]
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)
        hits = similar_to_image(con, matrix, int(ids[row]), k)
        assert [h.image_id for h in hits] == [i for i, _ in want]


def load(con) -> tuple[VectorMatrix, list[str]]:
    """The set's matrix and the progress stages its load went through."""
    stages: list[str] = []
    matrix = VectorMatrix.load(con, 1, progress=lambda e: stages.append(e.stage))
    return matrix, sorted(set(stages))


def file_of(project: Path) -> Path:
    return project / "matrices" / "set_1.matrix"


@pytest.fixture
def project(tmp_path):
    path = tmp_path / "project"
    con = make_project(path)
    yield path, con
    con.close()


def test_built_once_then_used_as_it_is(project):
    path, con = project
    matrix, stages = load(con)
    assert stages == [matrix_file.BUILDING]
    built = file_of(path).stat()
    assert built.st_size == matrix_file.HEADER_SIZE + 300 * 8 + 300 * DIM * 4
    assert built.st_mode & 0o777 == store.db_path(path).stat().st_mode & 0o666
    assert_as_brute_force(con, matrix)
    again, stages = load(con)
    assert stages == []  # nothing read from DuckDB but the checks
    assert file_of(path).stat().st_mtime_ns == built.st_mtime_ns
    again.vectors[0] *= 2  # a caller working in place changes its copy, never the file
    assert load(con)[1] == [] and file_of(path).stat().st_mtime_ns == built.st_mtime_ns
    again = load(con)[0]
    assert_as_brute_force(con, again)
    names = sorted(p.name for p in file_of(path).parent.iterdir())
    assert names == ["set_1.matrix", "set_1.matrix.verified"]  # no temp left


@pytest.mark.parametrize(
    "damage",
    ["deleted", "truncated", "magic", "header text", "checksum", "ids", "longer"],
)
def test_a_missing_or_damaged_file_is_rebuilt(project, damage):
    path, con = project
    load(con)
    target = file_of(path)
    whole = target.read_bytes()
    data = bytearray(whole)
    if damage == "deleted":
        target.unlink()
    elif damage == "truncated":
        target.write_bytes(data[: len(data) - 100])
    elif damage == "longer":
        target.write_bytes(data + b"\0" * 4)
    else:
        at = {"magic": 3, "header text": 40, "checksum": 18, "ids": 4096 + 8 * 150}[damage]
        data[at] ^= 0x5A  # bytes flipped
        target.write_bytes(bytes(data))
    matrix, stages = load(con)
    assert stages == [matrix_file.BUILDING]
    assert_as_brute_force(con, matrix)
    assert target.read_bytes() == whole  # the same file again


def test_new_rows_from_a_resume_extend_it(project, monkeypatch):
    """Rows above the file's highest id (a vector run going on): the file's rows are kept, only
    the new ones read from DuckDB."""
    path, con = project
    load(con)
    read: list[str] = []
    arrow_batches = store.arrow_batches
    monkeypatch.setattr(
        store, "arrow_batches", lambda c, sql, rows: read.append(sql) or arrow_batches(c, sql, rows)
    )
    con.execute(
        "INSERT INTO images (id, content_hash, size, format, width, height, mode, orientation, "
        "frames, phash, state, imported_at) "
        "SELECT i, 'h' || i, 1, 'JPEG', 1, 1, 'RGB', 1, 1, 0, 'ok', now() FROM range(301, 311) t(i)"
    )
    add_vectors(con, range(301, 311), np.random.default_rng(5).normal(size=(10, DIM)))
    matrix, stages = load(con)
    assert stages == [matrix_file.BUILDING] and len(matrix) == 310
    assert len(read) == 1 and "image_id > 300" in read[0]
    assert_as_brute_force(con, matrix)
    assert file_of(path).stat().st_size == matrix_file._sizes(310, DIM)[1]


def test_a_row_below_the_highest_id_makes_it_rebuilt(project):
    """An image that failed before, embedded by a later run: a row inside the file's range."""
    path, con = project
    con.execute("DELETE FROM vectors_1 WHERE image_id = 120")
    load(con)
    add_vectors(con, [120], np.random.default_rng(8).normal(size=(1, DIM)))
    matrix, stages = load(con)
    assert stages == [matrix_file.BUILDING] and 120 in matrix.ids
    assert_as_brute_force(con, matrix)


def test_rows_swapped_with_the_same_count_sum_and_max_make_it_stale(project):
    """Two images removed and two pending ones embedded: the count, the sum and the highest id
    are as before; the sum of squares is not."""
    path, con = project
    con.execute("DELETE FROM vectors_1 WHERE image_id IN (3, 5)")
    load(con)
    con.execute("DELETE FROM vectors_1 WHERE image_id IN (2, 6)")
    add_vectors(con, [3, 5], np.random.default_rng(6).normal(size=(2, DIM)))
    matrix, stages = load(con)
    assert stages == [matrix_file.BUILDING]
    assert 3 in matrix.ids and 2 not in matrix.ids
    assert_as_brute_force(con, matrix)


def test_the_highest_id_used_again_makes_it_stale(project):
    """An image removed and a new one given its id (ids are max + 1): same ids, a new vector."""
    path, con = project
    load(con)
    con.execute("DELETE FROM vectors_1 WHERE image_id = 300")
    add_vectors(con, [300], np.random.default_rng(7).normal(size=(1, DIM)))
    matrix, stages = load(con)
    assert stages == [matrix_file.BUILDING]
    assert_as_brute_force(con, matrix)


def test_only_images_present_on_disk_take_part(project):
    path, con = project
    load(con)
    built = file_of(path).stat().st_mtime_ns
    gone = [1, 17, 150, 151, 300]
    con.execute("UPDATE images SET state = 'missing' WHERE id IN (SELECT unnest(?))", [gone])
    matrix, stages = load(con)
    assert stages == [] and file_of(path).stat().st_mtime_ns == built  # the file still serves
    assert len(matrix) == 295 and not set(gone) & set(matrix.ids.tolist())
    assert_as_brute_force(con, matrix)
    for row in (0, 140):
        hits = matrix.top_k(matrix.vector(row), 300)
        assert len(hits) == 295 and not set(gone) & {i for i, _ in hits}
    few = matrix.among(np.array([2, 3, 4, 150, 151, 152]))  # a filter: a few rows of the file
    assert few.ids.tolist() == [2, 3, 4, 152]
    ids, vectors = duckdb_rows(con)
    keep = np.isin(ids, few.ids)
    assert few.top_k(vectors[2], 4) == [
        (i, pytest.approx(s, abs=1e-6))
        for i, s in brute_force(ids[keep], vectors[keep], vectors[2], 4)
    ]


def test_near_ties_come_out_in_brute_force_order(tmp_path):
    """Planted vectors whose scores to the query differ by a float32 step or not at all: the
    same ids in the same order as the brute force, ties by id."""
    con = make_project(tmp_path / "project", n=200)
    rng = np.random.default_rng(3)
    query = unit(rng.normal(size=(1, DIM)))[0]
    other = unit(rng.normal(size=(1, DIM)))[0]
    # Four values a float32 step or so apart, each planted ten times (exact ties among them).
    planted = [unit([query + (0.2 + 1e-7 * (step % 4)) * other])[0] for step in range(40)]
    con.execute("DELETE FROM vectors_1 WHERE image_id BETWEEN 101 AND 140")
    ids = np.arange(140, 100, -1)  # planted from the highest id down: row order is not id order
    table = pa.table(
        {
            "image_id": pa.array(ids, pa.int64()),
            "vec": pa.FixedSizeListArray.from_arrays(
                pa.array(np.ravel(planted), pa.float32()), DIM
            ),
        }
    )
    store.insert_arrow(con, "INSERT INTO vectors_1 SELECT * FROM batch", table)
    matrix, _ = load(con)
    truth_ids, truth = duckdb_rows(con)
    for k in (1, 3, 4, 5, 13, 40, 41):
        got = matrix.top_k(query, k)
        want = brute_force(truth_ids, truth, query, k)
        assert [i for i, _ in got] == [i for i, _ in want], k
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)
    con.close()


def test_a_project_that_cannot_be_written(project):
    """No file can be made (the folder's place taken): queries still work, read from DuckDB."""
    path, con = project
    (path / "matrices").write_text("not a folder")
    matrix, stages = load(con)
    assert stages == ["reading vectors"]
    assert_as_brute_force(con, matrix)
    assert (path / "matrices").read_text() == "not a folder"


def test_a_read_only_project_answers_without_a_traceback(tmp_path):
    """On a read-only mount (needs root, as in CI; a read-only connection elsewhere): a cold
    `panoptui similar` answers, from DuckDB, and writes nothing."""
    path = tmp_path / "ro" / "project"
    make_project(path).close()
    mounted = subprocess.run(
        ["mount", "--bind", str(tmp_path / "ro"), str(tmp_path / "ro")], capture_output=True
    )
    try:
        if mounted.returncode == 0:
            remount = ["mount", "-o", "remount,ro,bind", str(tmp_path / "ro")]
            assert subprocess.run(remount, capture_output=True).returncode == 0
        done = subprocess.run(
            [sys.executable, "-m", "panoptui", "similar", str(path), "--id", "7", "--json"],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        if mounted.returncode == 0:
            assert not (path / "matrices").exists()
        con = store.open_project(path, read_only=True)
        ids, vectors = duckdb_rows(con)
        con.close()
        want = brute_force(ids, vectors, vectors[6], 20, {7})
        got = json.loads(done.stdout)
        assert [h["id"] for h in got] == [i for i, _ in want]
    finally:
        if mounted.returncode == 0:
            subprocess.run(["umount", "-l", str(tmp_path / "ro")], capture_output=True)


def test_a_cancelled_build_leaves_nothing(project):
    path, con = project
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        VectorMatrix.load(con, 1, cancel=cancel)
    assert not file_of(path).exists() and not list((path / "matrices").iterdir())


def test_deleting_the_set_removes_its_file(project):
    path, con = project
    load(con)
    assert file_of(path).exists()
    vector_sets.delete_set(con, 1)
    assert not file_of(path).exists()


def test_a_cold_cli_query_builds_then_reuses_the_file(project):
    path, con = project
    con.close()
    runs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "panoptui", "similar", str(path), "--id", "9", "--json"],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        runs.append((done.stdout, file_of(path).stat().st_mtime_ns))
    assert runs[0] == runs[1]
    con2 = store.open_project(path, read_only=True)
    ids, vectors = duckdb_rows(con2)
    con2.close()
    want = brute_force(ids, vectors, vectors[8], 20, {9})
    got = json.loads(runs[0][0])
    assert [h["id"] for h in got] == [i for i, _ in want]
    assert np.allclose([h["score"] for h in got], [s for _, s in want], atol=1e-5)


def test_a_killed_build_leaves_no_lasting_temporary_file(project):
    """A build killed midway leaves its temporary file: the next build removes it once it is an
    hour old (a younger one may be another process's build in progress)."""
    path, con = project
    folder = path / "matrices"
    folder.mkdir()
    old, young = folder / ".set_1.matrix.abc.tmp", folder / ".set_1.matrix.def.tmp"
    for left in (old, young):
        left.write_bytes(b"\0" * 100)
    hours_ago = os.stat(old).st_mtime - 2 * 3600
    os.utime(old, (hours_ago, hours_ago))
    load(con)
    names = sorted(p.name for p in folder.iterdir())
    assert names == [young.name, "set_1.matrix", "set_1.matrix.verified"]


def test_an_empty_set_and_a_set_with_no_image_present(project):
    path, con = project
    con.execute("UPDATE images SET state = 'missing'")
    matrix, _ = load(con)
    assert len(matrix) == 0 and matrix.top_k(np.ones(DIM), 5) == []
    con.execute("DELETE FROM vectors_1")
    matrix, stages = load(con)
    assert stages == [matrix_file.BUILDING] and len(matrix) == 0
    assert file_of(path).stat().st_size == matrix_file.HEADER_SIZE
    assert len(load(con)[0]) == 0


def test_damage_inside_the_vectors_is_found_and_the_file_rebuilt(project):
    """A vector zeroed, or made a non-number, inside the file (the review's dd): the next opening
    checks the bytes again (the file changed since they were checked) and rebuilds it."""
    path, con = project
    load(con)
    target = file_of(path)
    for damage in (b"\0" * 100, b"\xff\xff\xff\xff"):
        with open(target, "r+b") as handle:
            handle.seek(target.stat().st_size - 3000)
            handle.write(damage)
        matrix, stages = load(con)
        assert stages == [matrix_file.BUILDING]
        assert_as_brute_force(con, matrix)
        assert load(con)[1] == []  # checked once since: not read again


def test_a_deleted_sets_file_is_not_taken_by_a_new_set_with_its_id(project):
    path, con = project
    load(con)
    stale = file_of(path).read_bytes()
    # Set 1 deleted and made again (its file's removal failed): the same id and rows, another
    # model (greyscale here), made at another time.
    con.execute("UPDATE vector_sets SET greyscale = true, created_at = now() WHERE id = 1")
    file_of(path).write_bytes(stale)
    assert matrix_file._open_valid(con, 1, DIM, file_of(path)) == (None, None)
    matrix, stages = load(con)
    assert stages == [matrix_file.BUILDING]
