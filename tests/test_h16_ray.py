"""Vector sets computed on Ray (issue 16): a local Ray instance of 2 CPUs stands for a cluster.
The vectors must equal the local pipeline's, bad images become vector errors, a run stopped
midway resumes to the same set, and an unreachable cluster is one line that leaves the project
untouched."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from fixtures import photo
from helpers import run_cli
from model_fixtures import timm_checkpoint

from panoptui.core import ray_vectors, store, vector_sets, vectorize
from panoptui.core.models import load_embedder
from panoptui.core.scan import import_folders

MODEL = "timm:test_vit"


@pytest.fixture(scope="module")
def ray_local():
    pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'panoptui[ray]'")
    started = ray_vectors.connect(None, num_cpus=2)
    yield
    if started:
        ray_vectors.shutdown()


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return timm_checkpoint("test_vit", tmp_path_factory.mktemp("m") / "test_vit.safetensors", 3)


def _project(root: Path) -> tuple[object, Path]:
    """A project of 11 photos; after the import one is overwritten with junk and one deleted,
    so that both pipelines meet the same two bad images."""
    images = root / "images"
    images.mkdir()
    for i in range(11):
        photo(160 + 13 * i, 120 + 7 * i, i).save(images / f"p{i:02d}.jpg", quality=85)
    con = store.open_project(root / "project", create=True)
    import_folders(con, [str(images)], workers=1)
    (images / "p03.jpg").write_bytes(b"not a jpeg any more")
    (images / "p07.jpg").unlink()
    return con, images


def _vectors(con, set_id: int) -> dict[int, np.ndarray]:
    rows = con.execute(f"SELECT image_id, vec FROM {store.vector_table(set_id)}").fetchall()
    assert len(rows) == len({i for i, _ in rows})  # no image ingested twice
    return {int(i): np.asarray(v, np.float32) for i, v in rows}


def _errors(con, set_id: int) -> dict[int, str]:
    rows = con.execute(
        "SELECT image_id, reason FROM vector_errors WHERE set_id = ?", [set_id]
    ).fetchall()
    return {int(i): r for i, r in rows}


def _assert_same_set(con, ray_set: int, local_set: int) -> None:
    ours, theirs = _vectors(con, ray_set), _vectors(con, local_set)
    assert ours.keys() == theirs.keys() and len(ours) == 9
    for image_id, vector in ours.items():
        np.testing.assert_allclose(vector, theirs[image_id], atol=1e-5)
    assert _errors(con, ray_set) == _errors(con, local_set)
    assert vector_sets.get_set(con, ray_set).status == vector_sets.get_set(con, local_set).status


def test_ray_vectors_equal_the_local_pipelines_and_bad_images_are_errors(
    tmp_path, ray_local, tiny_vit
):
    con, _ = _project(tmp_path)
    embedder = load_embedder(MODEL, str(tiny_vit), "cpu")
    local = vector_sets.create_set(con, embedder, weights=str(tiny_vit), batch_size=4)
    vectorize.compute_vectors(con, local, embedder)
    on_ray = vector_sets.create_set(con, embedder, weights=str(tiny_vit), batch_size=4)
    events = []
    summary = ray_vectors.compute_vectors_on_ray(
        con, on_ray, embedder, tmp_path / "work", progress=events.append
    )
    assert (summary.done, summary.errors, summary.cancelled) == (9, 2, False)
    _assert_same_set(con, on_ray, local)
    errors = _errors(con, on_ray)
    assert len(errors) == 2 and all(errors.values())
    # The bar saw every image, and the work directory is gone once all is in the project.
    assert (events[-1].done, events[-1].total, events[-1].errors) == (11, 11, 2)
    assert not (tmp_path / "work" / f"set-{on_ray}").exists()


def test_a_run_stopped_midway_resumes_to_the_same_set(tmp_path, ray_local, tiny_vit):
    con, _ = _project(tmp_path)
    embedder = load_embedder(MODEL, str(tiny_vit), "cpu")
    local = vector_sets.create_set(con, embedder, weights=str(tiny_vit), batch_size=2)
    vectorize.compute_vectors(con, local, embedder)
    on_ray = vector_sets.create_set(con, embedder, weights=str(tiny_vit), batch_size=2)
    cancel = threading.Event()

    def stop_after_the_first_shard(event) -> None:
        if event.done:
            cancel.set()

    first = ray_vectors.compute_vectors_on_ray(
        con, on_ray, embedder, tmp_path / "work", progress=stop_after_the_first_shard,
        cancel=cancel,
    )  # fmt: skip
    assert first.cancelled and 0 < first.done + first.errors < 11
    assert vector_sets.get_set(con, on_ray).status != vector_sets.get_set(con, local).status
    second = ray_vectors.compute_vectors_on_ray(con, on_ray, embedder, tmp_path / "work")
    # Never twice: the two runs together committed each vector once (the resume took what the
    # stopped run's actors finished after it stopped); failed images are tried again.
    assert first.done + second.done == 9 and second.errors == 2
    _assert_same_set(con, on_ray, local)


def test_a_node_check_names_what_it_cannot_read(tmp_path, ray_local):
    ray_vectors.check_cluster(tmp_path / "work", None)  # the local node sees its own disk
    with pytest.raises(store.ProjectError, match=r"^Ray node .* cannot read the weights .*nope"):
        ray_vectors.check_cluster(tmp_path / "work", str(tmp_path / "nope.safetensors"))


def test_without_ray_one_line_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(store.ProjectError) as caught:
        ray_vectors.connect("auto")
    assert str(caught.value) == "Ray is not installed: pip install 'panoptui[ray]'"


def test_an_unreachable_cluster_is_one_line_and_the_project_is_untouched(
    tmp_path, tiny_vit, monkeypatch
):
    pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'panoptui[ray]'")
    # Ray's client retries 3 times, for 5, 10 and 15 s by default: 1 s each is enough here.
    monkeypatch.setenv("RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S", "1")
    monkeypatch.setenv("RAY_CLIENT_MAX_CONNECTION_TIMEOUT_S", "1")
    con, _ = _project(tmp_path)
    con.close()
    project = str(tmp_path / "project")
    done = run_cli(
        "vectors", "create", project, "--model", MODEL, "--weights", str(tiny_vit),
        "--ray", "ray://127.0.0.1:9",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("panoptui: cannot reach ray://127.0.0.1:9")
    listed = run_cli("vectors", "list", project, "--json")
    assert listed.returncode == 0 and listed.stdout.strip() == "[]"


def test_the_cli_computes_a_set_on_a_local_ray_instance(tmp_path, tiny_vit):
    pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'panoptui[ray]'")
    con, _ = _project(tmp_path)
    con.close()
    project = str(tmp_path / "project")
    done = run_cli(
        "vectors", "create", project, "--model", MODEL, "--weights", str(tiny_vit),
        "--batch-size", "4", "--ray", "--ray-cpus", "2", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["done"], summary["errors"], summary["set"]["count"]) == (9, 2, 9)
    # Nothing is left of the run but the set: the default work directory is cleared.
    assert not list((tmp_path / "project" / "ray-work").glob("set-*"))


def test_panoptui_killed_midway_resumes_on_ray_to_the_same_set(tmp_path, tiny_vit):
    """kill -9 of panoptui while Ray embeds, then `vectors resume --ray`: the set equals the
    local pipeline's, and what the killed run's actors finished is not computed again."""
    import os
    import re
    import signal

    from helpers import TerminalRun

    pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'panoptui[ray]'")
    images = tmp_path / "images"
    images.mkdir()
    for i in range(60):  # big enough that decoding takes a few seconds on the 1-core actor
        photo(1200, 900, i).save(images / f"p{i:02d}.jpg", quality=85)
    project = tmp_path / "project"
    con = store.open_project(project, create=True)
    import_folders(con, [str(images)], workers=1)
    con.close()
    args = ["--model", MODEL, "--weights", str(tiny_vit), "--batch-size", "2"]
    args += ["--ray-cpus", "2"]  # one embedding actor, on any machine
    run = TerminalRun("vectors", "create", str(project), *args, "--ray")
    embedding = re.compile(rb"embedding (\d+)/60")

    def reached(output: bytes) -> bool:
        found = embedding.findall(output)
        return bool(found) and int(found[-1]) >= 4

    try:
        assert run.read_until(reached, timeout=300), run.output[-500:]
        assert run.kill() == -9
    finally:  # the local Ray instance it started is in its process group (a session of its own)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.proc.pid, signal.SIGKILL)
    listed = json.loads(run_cli("vectors", "list", str(project), "--json").stdout)
    assert listed[0]["status"] == "incomplete" and 4 <= listed[0]["count"] < 60
    resumed = run_cli("vectors", "resume", str(project), "1", "--ray", "--ray-cpus", "2", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["done"] == 60 - listed[0]["count"]
    con = store.open_project(project)
    try:
        embedder = load_embedder(MODEL, str(tiny_vit), "cpu")
        local = vector_sets.create_set(con, embedder, weights=str(tiny_vit), batch_size=2)
        vectorize.compute_vectors(con, local, embedder)
        ours, theirs = _vectors(con, 1), _vectors(con, local)
        assert ours.keys() == theirs.keys() and len(ours) == 60
        for image_id, vector in ours.items():
            np.testing.assert_allclose(vector, theirs[image_id], atol=1e-5)
        assert vector_sets.get_set(con, 1).status == "complete"
    finally:
        con.close()
