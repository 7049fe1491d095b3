"""Vector sets computed on Ray (issue 16): a local Ray instance of 2 CPUs stands for a cluster.
The vectors must equal the local pipeline's, bad images become vector errors, a run stopped
midway resumes to the same set, and an unreachable cluster is one line that leaves the project
untouched. Ray comes with the test extra (`pip install -e '.[test]'`): these tests never skip;
without it they fail, as CI must."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
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

    def stop_at_the_first_shard() -> None:  # as a user's cancel would come, mid-run
        while not cancel.is_set():
            if list((tmp_path / "work").glob("set-*/run-*/shards/*.parquet")):
                cancel.set()
            time.sleep(0.005)

    watcher = threading.Thread(target=stop_at_the_first_shard)
    watcher.start()
    try:
        first = ray_vectors.compute_vectors_on_ray(
            con, on_ray, embedder, tmp_path / "work", cancel=cancel
        )
    finally:
        cancel.set()
        watcher.join()
    assert first.cancelled and first.done + first.errors < 11
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


@pytest.mark.parametrize(
    "address", ["ray://127.0.0.1:9", "127.0.0.1:9", "no-such-host.invalid:6379"]
)
def test_an_unreachable_cluster_is_one_line_and_the_project_is_untouched(
    tmp_path, tiny_vit, address
):
    con, _ = _project(tmp_path)
    con.close()
    project = str(tmp_path / "project")
    done = run_cli(
        "vectors", "create", project, "--model", MODEL, "--weights", str(tiny_vit),
        "--ray", address,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"panoptui: cannot reach {address}: ")
    listed = run_cli("vectors", "list", project, "--json")
    assert listed.returncode == 0 and listed.stdout.strip() == "[]"


def test_the_cli_computes_a_set_on_a_local_ray_instance(tmp_path, tiny_vit):
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
    # Nothing is left of the run but the set: the default work directory is gone.
    assert not (tmp_path / "project" / "ray-work").exists()


def test_panoptui_killed_midway_resumes_on_ray_to_the_same_set(tmp_path, tiny_vit):
    """kill -9 of panoptui while Ray embeds, then `vectors resume --ray`: the set equals the
    local pipeline's, and what the killed run's actors finished is not computed again."""
    import os
    import signal

    from helpers import TerminalRun

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
    shards = project / "ray-work" / "set-1"

    def a_shard_is_written(_: bytes) -> bool:  # the actors have begun; most of the work is left
        return bool(list(shards.glob("run-*/shards/*.parquet")))

    try:
        assert run.read_until(a_shard_is_written, timeout=300), run.output[-500:]
        assert run.kill() == -9
    finally:  # the local Ray instance it started is in its process group (a session of its own)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.proc.pid, signal.SIGKILL)
    listed = json.loads(run_cli("vectors", "list", str(project), "--json").stdout)
    assert listed[0]["status"] == "incomplete" and listed[0]["count"] < 60
    resumed = run_cli("vectors", "resume", str(project), "1", "--ray", "--ray-cpus", "2", "--json")
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["done"] == 60 - listed[0]["count"]
    assert summary["from_earlier_runs"] >= 2  # the killed run's shard: taken, not recomputed
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


def _processes(word: str) -> list[int]:
    """The processes whose command line holds ``word`` (Ray names a worker by what it runs)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if word.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def test_a_ray_worker_killed_midway_costs_nothing(tmp_path, ray_local, tiny_vit):
    """kill -9 of the embedding actor as it writes its first shard: Ray restarts it and redoes
    its batch (or the run fails in one line, and a resume finishes it); either way the set
    equals the local pipeline's, each image once."""
    import os
    import signal

    images = tmp_path / "images"
    images.mkdir()
    for i in range(40):
        photo(1200, 900, i).save(images / f"p{i:02d}.jpg", quality=85)
    con = store.open_project(tmp_path / "project", create=True)
    import_folders(con, [str(images)], workers=1)
    embedder = load_embedder(MODEL, str(tiny_vit), "cpu")
    on_ray = vector_sets.create_set(con, embedder, weights=str(tiny_vit), batch_size=2)
    killed: list[int] = []
    done = threading.Event()

    def kill_the_embedder_at_its_first_shard() -> None:
        while not done.is_set():
            if list((tmp_path / "work").glob("set-*/run-*/shards/*.parquet")):
                for pid in _processes("_EmbedShards"):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                return
            time.sleep(0.005)

    killer = threading.Thread(target=kill_the_embedder_at_its_first_shard)
    killer.start()
    try:
        ray_vectors.compute_vectors_on_ray(con, on_ray, embedder, tmp_path / "work")
    except store.ProjectError as exc:
        assert str(exc).startswith("the Ray run failed: ") and "\n" not in str(exc)
    finally:
        done.set()
        killer.join()
    assert killed, "no embedding actor was found to kill"
    if vector_sets.get_set(con, on_ray).status != "complete":
        ray_vectors.compute_vectors_on_ray(con, on_ray, embedder, tmp_path / "work")
    local = vector_sets.create_set(con, embedder, weights=str(tiny_vit), batch_size=2)
    vectorize.compute_vectors(con, local, embedder)
    ours, theirs = _vectors(con, on_ray), _vectors(con, local)
    assert ours.keys() == theirs.keys() and len(ours) == 40
    for image_id, vector in ours.items():
        np.testing.assert_allclose(vector, theirs[image_id], atol=1e-5)
    assert vector_sets.get_set(con, on_ray).status == "complete"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory):
    """An existing cluster, as a lab runs one: `ray start --head`, with token authentication
    (Ray's advice, and its default from Ray 2.61), in a session of its own (stopped by killing
    that session: `ray stop` would stop every Ray on the machine)."""
    gcs, client = _free_port(), _free_port()
    token = uuid.uuid4().hex + uuid.uuid4().hex
    secured = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    ray_command = Path(sys.executable).with_name("ray")
    log = open(tmp_path_factory.mktemp("head") / "ray-start.log", "w+b")  # noqa: SIM115
    head = subprocess.Popen(
        [str(ray_command), "start", "--head", "--block", f"--port={gcs}",
         f"--ray-client-server-port={client}", "--num-cpus=2", "--include-dashboard=false",
         "--disable-usage-stats"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=secured,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not _listening(client):
            assert head.poll() is None and time.monotonic() < deadline, log.seek(0) or log.read()
            time.sleep(0.2)
        yield {"gcs": f"127.0.0.1:{gcs}", "client": f"ray://127.0.0.1:{client}", "token": token}
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        head.wait(30)
        log.close()


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


@pytest.mark.parametrize("form", ["gcs", "client"])
def test_an_existing_cluster_computes_the_set(tmp_path, tiny_vit, ray_head, form, monkeypatch):
    """`--ray HOST:PORT` (panoptui on a node of the cluster) and `--ray ray://HOST:PORT` (Ray
    Client, from outside it): the cluster runs the pipeline, with panoptui's code shipped to it,
    and the set equals the local pipeline's."""
    con, _ = _project(tmp_path)
    con.close()
    project = str(tmp_path / "project")
    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # as Ray asks of a secured cluster's drivers
    monkeypatch.setenv("RAY_AUTH_TOKEN", ray_head["token"])
    done = run_cli(
        "vectors", "create", project, "--model", MODEL, "--weights", str(tiny_vit),
        "--batch-size", "4", "--ray", ray_head[form], "--ray-workdir", str(tmp_path / "work"),
        "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["done"], summary["errors"]) == (9, 2)
    con = store.open_project(tmp_path / "project")
    try:
        embedder = load_embedder(MODEL, str(tiny_vit), "cpu")
        local = vector_sets.create_set(con, embedder, weights=str(tiny_vit), batch_size=4)
        vectorize.compute_vectors(con, local, embedder)
        _assert_same_set(con, summary["set"]["id"], local)
    finally:
        con.close()


def test_a_cluster_that_wants_a_token_says_so_in_one_line(
    tmp_path, tiny_vit, ray_head, monkeypatch
):
    """A cluster with token authentication answers only drivers run with RAY_AUTH_MODE=token:
    without it, one line that says so (not a warning a second from Ray's core), and no set is
    made."""
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    con, _ = _project(tmp_path)
    con.close()
    project = str(tmp_path / "project")
    done = run_cli(
        "vectors", "create", project, "--model", MODEL, "--weights", str(tiny_vit),
        "--ray", ray_head["gcs"],
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"panoptui: cannot reach {ray_head['gcs']}: ")
    assert lines[0].endswith("set RAY_AUTH_MODE=token)")
    assert run_cli("vectors", "list", project, "--json").stdout.strip() == "[]"


def test_a_node_that_cannot_load_the_model_fails_the_run_in_one_line(tmp_path, ray_local, tiny_vit):
    """The weights the nodes load are damaged there (the check only sees that they exist): the
    run stops with one line naming the node and the path, and the set stays resumable."""
    con, _ = _project(tmp_path)
    embedder = load_embedder(MODEL, str(tiny_vit), "cpu")
    on_ray = vector_sets.create_set(con, embedder, weights=str(tiny_vit), batch_size=4)
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(tiny_vit.read_bytes()[:100])
    with pytest.raises(store.ProjectError) as caught:
        ray_vectors.compute_vectors_on_ray(
            con, on_ray, embedder, tmp_path / "work", weights=str(damaged)
        )
    message = str(caught.value)
    assert "\n" not in message and message.startswith("the Ray run failed: Ray node ")
    assert f"cannot load model {MODEL} from {damaged}" in message
    assert vector_sets.get_set(con, on_ray).status == "incomplete"
    ray_vectors.compute_vectors_on_ray(con, on_ray, embedder, tmp_path / "work")
    assert vector_sets.get_set(con, on_ray).count == 9


def test_a_node_that_cannot_see_the_work_directory_is_named_in_one_line(
    tmp_path, ray_local, tiny_vit, monkeypatch
):
    """Every node here shares this machine's disk, so the node that sees another disk is
    played by the check itself, sent to the node as it is (a function of the test's, which Ray
    ships by value): the run stops before the set is made, with one line naming node and path."""

    def on_another_disk(paths: list[str]) -> tuple[str, list[bool]]:
        return "gpu-node-7", [False] + [True] * (len(paths) - 1)

    monkeypatch.setattr(ray_vectors, "_look", on_another_disk)
    work = tmp_path / "work"
    with pytest.raises(store.ProjectError) as caught:
        ray_vectors.check_cluster(work, str(tiny_vit))
    assert str(caught.value) == (
        f"Ray node gpu-node-7 cannot see the work directory {work}: give --ray-workdir on "
        "storage every node sees"
    )
    assert not list(work.iterdir())  # the marker it wrote for the nodes is gone


@pytest.mark.parametrize(
    "options, said",
    [
        (["--ray-workdir", "/tmp/work"], "panoptui: --ray-workdir and --ray-cpus go with --ray"),
        (["--ray-cpus", "2"], "panoptui: --ray-workdir and --ray-cpus go with --ray"),
        (
            ["--ray", "auto", "--ray-cpus", "2"],
            "panoptui: --ray-cpus sizes a local Ray instance: give it without ADDRESS",
        ),
    ],
)
def test_ray_options_out_of_place_are_one_line(tmp_path, options, said):
    project = tmp_path / "project"
    store.open_project(project, create=True).close()
    done = run_cli("vectors", "create", str(project), "--model", MODEL, *options)
    assert done.returncode == 1 and done.stderr.strip() == said, done.stderr
    assert run_cli("vectors", "list", str(project), "--json").stdout.strip() == "[]"


def test_auto_with_a_dead_cluster_is_one_line_at_once(tmp_path, tiny_vit, monkeypatch):
    """`--ray auto` joins the cluster RAY_ADDRESS (or the last `ray start`) names: a dead one is
    one line naming it, not minutes of Ray's retries."""
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:9")
    project = tmp_path / "project"
    store.open_project(project, create=True).close()
    done = run_cli(
        "vectors", "create", str(project), "--model", MODEL, "--weights", str(tiny_vit),
        "--ray", "auto", timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == "panoptui: cannot reach auto (127.0.0.1:9): Connection refused\n"


def test_what_this_machine_can_check_is_checked_before_ray_starts(tmp_path, tiny_vit):
    """Missing weights, an unknown set, a work directory that is a file: the local pipeline's
    own lines (no Ray started, no node named), the project untouched."""
    project = tmp_path / "project"
    store.open_project(project, create=True).close()
    missing = tmp_path / "missing.safetensors"
    done = run_cli(
        "vectors", "create", str(project), "--model", MODEL, "--weights", str(missing), "--ray"
    )
    assert done.returncode == 1 and done.stderr == f"panoptui: weights {missing} not found\n"
    done = run_cli("vectors", "resume", str(project), "7", "--ray")
    assert done.returncode == 1 and done.stderr.startswith("panoptui: no vector set 7 ")
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    done = run_cli(
        "vectors", "create", str(project), "--model", MODEL, "--weights", str(tiny_vit),
        "--ray", "127.0.0.1:9", "--ray-workdir", str(a_file),
    )  # fmt: skip
    said = f"panoptui: the Ray work directory {a_file} is not a folder\n"
    assert done.returncode == 1 and done.stderr == said
    assert run_cli("vectors", "list", str(project), "--json").stdout.strip() == "[]"
    assert not (project / "ray-work").exists()
