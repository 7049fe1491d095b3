"""Half-precision scoring on a device (issue 15: on CUDA the matrix lives on the GPU in fp16 and
top-k runs there, with the same results). There is no GPU here: the same code runs with torch on
the CPU (``score_on("cpu")``), and its answers must equal the exact float32 scan's."""

from __future__ import annotations

import numpy as np
import pytest

from panoptui.core.query import VectorMatrix


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def planted() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    vectors = unit(rng.standard_normal((5000, 64)))
    query = vectors[10].copy()
    # Near ties that half precision cannot tell apart: copies of one row nudged by 1e-5.
    for n, row in enumerate(range(100, 120)):
        vectors[row] = unit((vectors[11] + 1e-5 * n * rng.standard_normal(64))[None])[0]
    ids = np.arange(1, len(vectors) + 1, dtype=np.int64) * 3
    return ids, vectors, query


@pytest.mark.parametrize("k", [1, 5, 20, 50])
def test_device_scoring_gives_the_exact_answer(planted, k):
    ids, vectors, query = planted
    exact = VectorMatrix(ids, vectors).top_k(query, k)
    on_device = VectorMatrix(ids, vectors)
    on_device.score_on("cpu")
    got = on_device.top_k(query, k)
    assert [i for i, _ in got] == [i for i, _ in exact]
    assert np.allclose([s for _, s in got], [s for _, s in exact], atol=1e-6)


def test_device_scoring_with_exclusions_and_a_subset(planted):
    ids, vectors, query = planted
    exclude = {int(i) for i in ids[100:110]}
    plain = VectorMatrix(ids, vectors)
    device = VectorMatrix(ids, vectors)
    device.score_on("cpu")
    assert device.top_k(query, 10, exclude=exclude) == plain.top_k(query, 10, exclude=exclude)
    within = ids[::7]
    assert device.top_k(query, 10, within=within) == plain.top_k(query, 10, within=within)
    sub = VectorMatrix(ids, vectors).among(ids[50:3000])
    sub.score_on("cpu")
    assert sub.top_k(query, 15) == VectorMatrix(ids, vectors).among(ids[50:3000]).top_k(query, 15)


def test_without_torch_loaded_nothing_moves_to_a_device(planted):
    ids, vectors, query = planted
    matrix = VectorMatrix(ids, vectors)  # small, and no device asked for: numpy float32
    assert matrix._half_scores(query) is None
