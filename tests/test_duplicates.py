"""Exact and near duplicates: planted copies are found, distinct photos stay apart."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
from fixtures import photo
from helpers import run_cli
from PIL import Image

from panoptui.core.duplicates import near_duplicate_groups, near_duplicate_pairs
from panoptui.core.query import VectorMatrix


def test_pairs_in_blocks_equal_the_full_matrix(monkeypatch):
    import panoptui.core.duplicates as duplicates

    rng = np.random.default_rng(1)
    x = rng.normal(size=(700, 16)).astype(np.float32)
    x[350:] = x[:350] + 0.05 * rng.normal(size=(350, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    monkeypatch.setattr(duplicates, "BLOCK_SCORES", 700 * 37)  # blocks of 37 rows
    i, j = near_duplicate_pairs(x, 0.9)
    full = x @ x.T
    expected = {(a, b) for a, b in zip(*np.nonzero(full >= 0.9), strict=True) if a < b}
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == expected
    assert len(expected) >= 300


def test_groups_never_chain():
    # a ~ b ~ c ~ d, but a and c (and b and d) are further apart than the threshold: b leads
    # (two neighbours, the lower id of a tie) and takes a and c; d is left alone. A connected
    # component would have made one group of all four.
    angles = np.radians([0, 15, 30, 45, 90])
    x = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    matrix = VectorMatrix(np.array([10, 11, 12, 13, 14]), x)
    assert float(x[0] @ x[2]) < 0.95 <= float(x[0] @ x[1])
    assert near_duplicate_groups(matrix, 0.95) == [[11, 10, 12]]


def test_planted_copies_are_found_and_distinct_photos_stay_apart(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    planted: list[set[str]] = []
    for n in range(20):
        original = photo(640, 480, 300 + n)
        original.save(folder / f"p{n:02d}.jpg", quality=92)
        if n % 2:
            continue  # half of them get copies
        w, h = original.size
        original.resize((w // 2, h // 2)).save(folder / f"p{n:02d}_small.png")
        buffer = io.BytesIO()
        original.save(buffer, "JPEG", quality=40)
        Image.open(buffer).save(folder / f"p{n:02d}_recompressed.jpg", quality=60)
        original.crop((20, 15, w - 20, h - 15)).save(folder / f"p{n:02d}_cropped.jpg")
        planted.append({f"p{n:02d}{s}" for s in ("", "_small", "_recompressed", "_cropped")})
    shutil.copy(folder / "p01.jpg", folder / "p01_exact_copy.jpg")
    project = str(tmp_path / "project")
    assert run_cli("import", project, str(folder)).returncode == 0
    assert run_cli("vectors", "create", project, "--model", "pixels").returncode == 0
    done = run_cli("duplicates", project, "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert set(found) == {"exact", "near"}
    exact = found["exact"]
    assert [sorted(m["path"].rsplit("/", 1)[1] for m in g) for g in exact] == [
        ["p01.jpg", "p01_exact_copy.jpg"]
    ]
    assert all(set(m) >= {"id", "path", "score"} for g in exact + found["near"] for m in g)
    for group in found["near"]:  # the representative first, every member near it
        assert group[0]["score"] == 1.0 and all(m["score"] >= 0.95 for m in group)
    near = [{m["path"].rsplit("/", 1)[1].split(".")[0] for m in g} for g in found["near"]]
    found_pairs = sum(len(n & p) - 1 for p in planted for n in near if n & p)
    assert found_pairs / (3 * len(planted)) >= 0.95  # recall of copies
    assert all(any(n <= p for p in planted) for n in near)  # no group mixes distinct photos
    text = run_cli("duplicates", project).stdout
    assert "1 image with identical copies" in text and "groups of near-duplicates" in text
    bad = run_cli("duplicates", project, "--threshold", "2")
    assert bad.returncode == 1 and "from -1 to 1" in bad.stderr
    # Saved as tags: one per near-duplicate group, under a parent.
    assert run_cli("tag", project, "dups", "--from-duplicates").returncode == 0
    listed = json.loads(run_cli("tags", project, "--json").stdout)
    children = sorted(t["images"] for t in listed if t["parent"] == "dups")
    assert children == sorted(len(n) for n in near)
