"""`panoptui images` (its JSON shape, sort, limit, group-by, one-line errors) and --where on the
commands that query a vector set, on the generated project of test_h13c_filters."""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from helpers import run_cli
from test_h13c_filters import PROPERTIES, Image, generate, write_project

from panoptui.core import filters, store

DIM = 8


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Image]]:
    """The generated project, with a vector set of random vectors (a few near-copies)."""
    images = generate(7)
    path = tmp_path_factory.mktemp("cli") / "p"
    con = write_project(path, images)
    now = datetime.now()
    con.execute(
        "INSERT INTO vector_sets (id, model, family, greyscale, weights, dim, embeds_text, "
        "batch_size, state, created_at, updated_at) "
        "VALUES (1, 'synthetic', 'none', false, NULL, ?, false, 32, 'complete', ?, ?)",
        [DIM, now, now],
    )
    store.create_vector_table(con, 1, DIM)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(len(images), DIM)).astype(np.float32)
    x[1::2] = x[0::2] + 0.001 * x[1::2]  # pairs of near-duplicates
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    con.register(
        "batch",
        pa.table(
            {
                "image_id": pa.array([im.id for im in images], pa.int64()),
                "vec": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), DIM),
            }
        ),
    )
    con.execute("INSERT INTO vectors_1 SELECT * FROM batch")
    con.close()
    return path, images


def expected(project: tuple[Path, list[Image]], where: str) -> set[int]:
    con = store.open_project(project[0], read_only=True)
    try:
        return set(filters.matching_ids(con, where).tolist())
    finally:
        con.close()


def test_images_json_shape(project: tuple[Path, list[Image]]) -> None:
    path, images = project
    done = run_cli(
        "images", str(path), "--where", "tags has any (animals) and width > 100",
        "--sort", "published,-width", "--limit", "7", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert 0 < len(rows) <= 7
    want = expected(project, "tags has any (animals) and width > 100")
    by_id = {im.id: im for im in images}
    for row in rows:
        assert row["id"] in want
        assert {"id", "path", "width", "date_taken", "keywords", "tags", "labels"} <= set(row)
        assert {name for _, name, _, _ in PROPERTIES} <= set(row)
        assert isinstance(row["tags"], list) and isinstance(row["labels"], list)
        im = by_id[row["id"]]
        published = im.values["published"]
        assert row["published"] == (published.isoformat() if published else None)
        assert row["path"] == min((f for f in im.files if f.ok), key=lambda f: f.id).path


def test_images_text_and_groups(project: tuple[Path, list[Image]]) -> None:
    path, images = project
    done = run_cli("images", str(path), "--where", "format = PNG", "--sort=-width")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["id", "width", "path"]
    widths = [int(line.split()[1]) for line in lines[1:]]
    assert widths == sorted(widths, reverse=True)
    assert len(widths) == sum(im.ok and im.format == "PNG" for im in images)
    done = run_cli("images", str(path), "--group-by", "published:year", "--json")
    assert done.returncode == 0, done.stderr
    groups = json.loads(done.stdout)
    assert sum(g["images"] for g in groups) == sum(im.ok for im in images)
    assert groups[-1]["group"] is None and groups[0]["group"] == "2000"
    done = run_cli("images", str(path), "--group-by", "format", "--where", "width > 1000")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split() == ["images", "group"]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--where", "widht > 3"], "filter error at column 1: no property named 'widht'; did you"),
        (["--where", "width > 3 and"], "filter error at column 14: expected a property name"),
        (["--sort", "width,-nope"], "sort error at column 8: no property named 'nope'"),
        (["--group-by", "width:year"], "group-by error at column 7: width is a number"),
    ],
)
def test_images_bad_input_is_one_line(
    project: tuple[Path, list[Image]], args: list[str], line: str
) -> None:
    done = run_cli("images", str(project[0]), *args)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(f"panoptui: {line}")
    assert len(done.stderr.splitlines()) == 1


def test_injection_stays_literal_through_the_cli(project: tuple[Path, list[Image]]) -> None:
    path, images = project
    done = run_cli("images", str(path), "--where", 'source = "x\' OR 1=1 --"', "--json")
    assert done.returncode == 0, done.stderr
    got = {row["id"] for row in json.loads(done.stdout)}
    assert got == {im.id for im in images if im.ok and im.values["source"] == "x' OR 1=1 --"}


WHERE = "format = PNG or tags has any (cat)"


@pytest.mark.parametrize(
    "command",
    [
        ["similar", "--id", "1", "-k", "500"],
        ["rank", "--by", "unusual", "-k", "3"],
        ["diverse", "-n", "10"],
    ],
)
def test_queries_stay_within_the_filter(
    project: tuple[Path, list[Image]], command: list[str]
) -> None:
    path, _ = project
    want = expected(project, WHERE)
    done = run_cli(command[0], str(path), *command[1:], "--where", WHERE, "--json")
    assert done.returncode == 0, done.stderr
    got = [row.get("id", row.get("image_id")) for row in json.loads(done.stdout)]
    assert got and set(got) <= want
    if command[0] == "rank":
        assert set(got) == want
    done = run_cli(command[0], str(path), *command[1:], "--where", "nope = 1")
    assert done.returncode == 1
    assert done.stderr.startswith("panoptui: filter error at column 1: no property named")


def test_duplicates_map_and_cluster_take_where(project: tuple[Path, list[Image]]) -> None:
    path, _ = project
    want = expected(project, WHERE)
    done = run_cli("duplicates", str(path), "--where", WHERE, "--threshold", "0.99", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    members = {m["id"] for group in found["near"] + found["exact"] for m in group}
    assert members and members <= want
    done = run_cli("map", str(path), "--where", WHERE, "--json")
    assert done.returncode == 0, done.stderr
    assert {p["id"] for p in json.loads(done.stdout)} == want
    done = run_cli("cluster", str(path), "--k", "2", "--where", WHERE, "--json")
    assert done.returncode == 0, done.stderr
    clustered = {i for c in json.loads(done.stdout) for i in c["ids"]}
    assert clustered == want
    done = run_cli("map", str(path), "--where", "width >")
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1


def test_nothing_matches_is_one_line(project: tuple[Path, list[Image]]) -> None:
    done = run_cli("rank", str(project[0]), "--by", "unusual", "--where", "width < 0")
    assert done.returncode == 1
    assert done.stderr == "panoptui: no images match the filter 'width < 0'\n"


def test_random_filters_agree_with_the_core(project: tuple[Path, list[Image]]) -> None:
    """A few random filters through the CLI equal matching_ids (the core is brute-force tested)."""
    path, _ = project
    rng = random.Random(3)
    for where in rng.sample(
        ["note contains a", "labels has all (blue, red)", "seen = false", "rating >= 3",
         "kind != a and not (published < 2000-01-05)", 'folder startswith "/data/b"'],
        3,
    ):  # fmt: skip
        done = run_cli("images", str(path), "--where", where, "--json")
        assert done.returncode == 0, done.stderr
        assert {row["id"] for row in json.loads(done.stdout)} == expected(project, where)
