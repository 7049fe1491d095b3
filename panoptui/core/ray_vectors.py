"""Filling a vector set on a Ray cluster (or a local Ray instance): the distributed pipeline.

panoptui stays the only process that writes the project. It writes the images still to embed
(id, path, size, mtime) as Parquet into a work directory every node sees; Ray Data reads that
list, CPU tasks decode and preprocess the images exactly as the local pipeline does
(``vector_inputs.ImageDataset``, with the embedder's own picklable preprocessor), and an actor
pool of embedders (one per GPU, or CPU actors) embeds them and writes each batch as a Parquet
shard (image id, vector or the reason it failed), atomically (written aside, then renamed). The
driver ingests each shard as Ray reports it, through the very commit of the local pipeline
(``vectorize.commit_batch``: one transaction a shard), so the set ends as the local pipeline
would have made it.

Killed at any point, the set is simply incomplete: resuming writes a new list of what is still
missing. Shards a killed run left are ingested first (only their images still missing), so
what the cluster finished is not computed again, and an image is never ingested twice.

Ray is an optional extra: it is imported only inside these functions.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from panoptui.core import store, vector_sets
from panoptui.core.decode import DEFAULT_MAX_PIXELS
from panoptui.core.progress import ProgressCallback, RateMeter
from panoptui.core.text import shown
from panoptui.core.vector_sets import COMPLETE, INCOMPLETE, RUNNING
from panoptui.core.vectorize import (
    VectorRunSummary,
    commit_batch,
    pending_images,
    project_dir,
    run_settings,
    saving,
    set_state,
)
from panoptui.core.workers import deferred_interrupts

if TYPE_CHECKING:
    from panoptui.core.models.base import Embedder, Preprocessor

ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Ray colours the names in its messages
NOT_INSTALLED = "Ray is not installed: pip install 'panoptui[ray]'"
LOCAL = "local"  # the address of a Ray instance started on this machine for the run
WORKDIR_NAME = "ray-work"  # the default work directory, inside the project folder
PENDING_DIR = "pending"
SHARDS_DIR = "shards"
STOP_FILE = "stop"  # once there, the tasks of a stopped run skip their batches
RAY_CURRENT_CLUSTER = "/tmp/ray/ray_current_cluster"  # written by `ray start`
CONNECT_SECONDS = 10.0  # for a cluster's address to take a connection
POLL_SECONDS = 0.25  # how often the driver looks for new shards
STOP_WAIT_SECONDS = 30.0  # how long a stopped run waits for its tasks to wind down
INGEST_ROWS = 32_768  # rows a transaction at most (a commit of 256 costs about as much)
# How long the nodes may take to answer the check of what they see (a busy cluster queues it).
NODE_CHECK_SECONDS = 120.0


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise store.ProjectError(NOT_INSTALLED) from None
    return ray


@dataclass
class RayRunSummary(VectorRunSummary):
    shards: int = 0  # ingested by this run
    from_earlier_runs: int = 0  # vectors a stopped or killed run's shards held (not recomputed)
    ingest_seconds: float = 0.0  # spent committing shards into the project
    actors: int = 0  # the embedding pool's size


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def connect(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Join the Ray cluster at ``address`` (``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``), or
    start a local instance with ``num_cpus`` cores when it is None or ``local``. Returns True
    when this call started Ray (the caller shuts it down). A cluster that cannot be reached is
    one line (ProjectError); nothing else is touched before it."""
    ray = _ray()
    if ray.is_initialized():
        return False
    import logging
    import warnings

    if address == "auto":
        found = _auto_address()
        if found:
            _check_reachable(found, f"auto ({found})")
    elif address not in (None, LOCAL):
        _check_reachable(address)
    quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    try:
        # Ray's client warns of security groups on a timeout: the one line below says it all.
        with warnings.catch_warnings(), _stderr_silenced():
            warnings.simplefilter("ignore")
            _init(ray, address, num_cpus, quiet)
    except Exception as exc:
        where = "start a local Ray instance" if address in (None, LOCAL) else f"reach {address}"
        reason = _first_line(exc)
        if address not in (None, LOCAL) and os.environ.get("RAY_AUTH_MODE") != "token":
            # Ray sends no token unless told to, and a cluster that wants one only times out.
            reason += " (if the cluster uses token authentication, set RAY_AUTH_MODE=token)"
        raise store.ProjectError(f"cannot {where}: {shown(reason)}") from None
    # Ray Data's notices would draw over panoptui's bar.
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    return True


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """File descriptor 2 on /dev/null: while it tries to connect, Ray's core writes a warning a
    second there (the one line after it says what failed)."""
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    saved = os.dup(2)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _auto_address() -> str | None:
    """The cluster ``auto`` joins, as Ray finds it: RAY_ADDRESS, else the one last started on
    this machine (the file ``ray start`` writes). None when there is none (Ray then says so)."""
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"]
    try:
        return Path(RAY_CURRENT_CLUSTER).read_text().strip() or None
    except OSError:
        return None


def _check_reachable(address: str, named: str | None = None) -> None:
    """A HOST:PORT (or ray://HOST:PORT) that takes no connection is one line at once: Ray would
    retry for minutes, its warnings hidden (see ``_stderr_silenced``)."""
    named = shown(named or address)
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not port.isdigit() or not host:
        raise store.ProjectError(f"cannot reach {named}: give auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), CONNECT_SECONDS).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise store.ProjectError(f"cannot reach {named}: {reason}") from None


def _init(ray: Any, address: str | None, num_cpus: int | None, quiet: dict[str, Any]) -> None:
    # The nodes run this very panoptui (its decoding and preprocessing make the vectors): Ray
    # ships the package to them, which need only its dependencies (torch, timm, ...).
    import panoptui

    package = os.path.dirname(os.path.abspath(panoptui.__file__))
    quiet["runtime_env"] = {"py_modules": [package], "excludes": ["__pycache__", "*.pyc"]}
    if address in (None, LOCAL):
        # "local": always a new instance of our own, never a cluster found on this machine.
        cores = num_cpus or os.cpu_count() or 1
        ray.init(address="local", num_cpus=cores, include_dashboard=False, **quiet)
    else:
        ray.init(address=address, **quiet)


def check_model(name: str) -> None:
    """Models that embed the project's stored thumbnails (``pixels``) cannot run on Ray: the
    nodes do not read the project."""
    from panoptui.core.models import parse_spec

    if parse_spec(name).family == "pixels":
        raise store.ProjectError(
            f"model {name} embeds the thumbnails stored in the project, which only this "
            "machine reads: compute it without --ray"
        )


def shutdown() -> None:
    ray = _ray()
    with contextlib.suppress(Exception):
        ray.shutdown()


def default_workdir(con: Any) -> Path:
    return Path(project_dir(con)) / WORKDIR_NAME


def _look(paths: list[str]) -> tuple[str, list[bool]]:
    """On a node: its name, and whether it sees each path."""
    return socket.gethostname(), [os.path.exists(p) for p in paths]


def check_workdir(workdir: Path) -> None:
    """What this machine can tell of the work directory before Ray starts."""
    if workdir.exists() and not workdir.is_dir():
        raise store.ProjectError(f"the Ray work directory {shown(str(workdir))} is not a folder")


def check_cluster(workdir: Path, weights: str | None) -> None:
    """Every live node must see ``workdir`` (a marker written here) and read ``weights``; the
    first node that does not is one line with its name and the path. Called before the set is
    created, so that a cluster that cannot run the job leaves the project untouched."""
    ray = _ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    check_workdir(workdir)
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        marker = workdir / f".panoptui-check-{uuid.uuid4().hex}"
        marker.write_text("panoptui checks that every Ray node sees this folder\n")
    except OSError as exc:
        raise store.ProjectError(
            f"cannot write the Ray work directory {shown(str(workdir))}: {exc.strerror}"
        ) from None
    paths = [str(marker)] + ([weights] if weights else [])
    look = ray.remote(num_cpus=0)(_look)
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        refs = [
            look.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
            ).remote(paths)
            for n in nodes
        ]
        answers = ray.get(refs, timeout=NODE_CHECK_SECONDS)
    except Exception as exc:
        raise store.ProjectError(
            f"the Ray cluster did not answer: {shown(_first_line(exc))}"
        ) from None
    finally:
        with contextlib.suppress(OSError):
            marker.unlink()
    for host, seen in answers:
        if not seen[0]:
            raise store.ProjectError(
                f"Ray node {shown(host)} cannot see the work directory {shown(str(workdir))}: "
                "give --ray-workdir on storage every node sees"
            )
        if weights and not seen[1]:
            raise store.ProjectError(
                f"Ray node {shown(host)} cannot read the weights {shown(weights)}: put them on "
                "storage every node sees"
            )


# --- on the cluster ----------------------------------------------------------------------------


def _decode_batch(
    table: pa.Table, preprocessor: Preprocessor, greyscale: bool, max_pixels: int, stop: str
) -> pa.Table:
    """A CPU task: list rows in, the model's input (float32 bytes and shape) or the reason out,
    made by the local pipeline's own code so that inputs and error reasons are the same."""
    from panoptui.core.vector_inputs import ImageDataset

    if os.path.exists(stop):
        table = table.slice(0, 0)
    items = list(
        zip(
            table["id"].to_pylist(),
            table["path"].to_pylist(),
            table["size"].to_pylist(),
            table["mtime"].to_pylist(),
            strict=True,
        )
    )
    dataset = ImageDataset(items, preprocessor, greyscale, max_pixels)
    ids: list[int] = []
    inputs: list[bytes | None] = []
    shapes: list[list[int] | None] = []
    reasons: list[str | None] = []
    for index in range(len(dataset)):
        image_id, tensor, reason = dataset[index]
        ids.append(image_id)
        if reason is None:
            array = np.ascontiguousarray(np.asarray(tensor, dtype=np.float32))
            inputs.append(array.tobytes())
            shapes.append(list(array.shape))
        else:
            inputs.append(None)
            shapes.append(None)
        reasons.append(reason)
    return pa.table(
        {
            "image_id": pa.array(ids, pa.int64()),
            "input": pa.array(inputs, pa.binary()),
            "shape": pa.array(shapes, pa.list_(pa.int32())),
            "reason": pa.array(reasons, pa.string()),
        }
    )


class _EmbedShards:
    """An actor of the pool: loads the set's model once, embeds each batch, writes it as a shard
    (renamed into place only once whole, so that a shard seen is a shard complete), and tells
    the driver its name."""

    def __init__(
        self, model: str, weights: str | None, device: str, batch_size: int, shards: str
    ) -> None:
        from panoptui.core.models import load_embedder
        from panoptui.core.vectorize import ForwardBatcher

        if weights:  # the nodes load the weights given, never from the hub
            from panoptui.core.models.base import prefer_offline_hub

            prefer_offline_hub()
        try:
            embedder = load_embedder(model, weights, device)
        except Exception as exc:  # the node's name and the path: what to fix, and where
            source = f" from {weights}" if weights else ""
            raise RuntimeError(
                f"Ray node {socket.gethostname()} cannot load model {model}{source}: "
                f"{_first_line(exc)}"
            ) from None
        self.dim = embedder.dim
        self.forward = ForwardBatcher(embedder, batch_size)
        self.shards = shards
        self.stop = os.path.join(os.path.dirname(shards), STOP_FILE)

    def __call__(self, table: pa.Table) -> pa.Table:
        import torch

        if not len(table) or os.path.exists(self.stop):
            return pa.table({"shard": pa.array([], pa.string()), "rows": pa.array([], pa.int64())})

        reasons = table["reason"].to_pylist()
        good = [i for i, reason in enumerate(reasons) if reason is None]
        inputs, shapes = table["input"].to_pylist(), table["shape"].to_pylist()
        vectors: list[Any] = [None] * len(reasons)
        if good:
            batch = np.stack(
                [np.frombuffer(inputs[i], np.float32).reshape(shapes[i]) for i in good]
            )
            for i, vector in zip(good, self.forward(torch.from_numpy(batch)), strict=True):
                vectors[i] = vector
        shard = pa.table(
            {
                "image_id": table["image_id"],
                "vec": pa.array(
                    [None if v is None else np.asarray(v, np.float32) for v in vectors],
                    pa.list_(pa.float32()),
                ),
                "reason": table["reason"],
            }
        )
        name = f"{uuid.uuid4().hex}.parquet"
        aside = os.path.join(self.shards, f".{name}.part")
        pq.write_table(shard, aside)
        os.replace(aside, os.path.join(self.shards, name))
        return pa.table({"shard": [name], "rows": [len(reasons)]})


# --- on the driver (panoptui) ------------------------------------------------------------------


def _write_pending(folder: Path, items: list[tuple[int, str, int, int]], per_file: int) -> None:
    """The list of images to embed, as Parquet files of ``per_file`` rows: Ray reads a file
    per task, so the files are what spreads the decoding over the cluster."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, start in enumerate(range(0, len(items), per_file)):
        part = items[start : start + per_file]
        pq.write_table(
            pa.table(
                {
                    "id": pa.array([i[0] for i in part], pa.int64()),
                    "path": pa.array([i[1] for i in part], pa.string()),
                    "size": pa.array([i[2] for i in part], pa.int64()),
                    "mtime": pa.array([i[3] for i in part], pa.int64()),
                }
            ),
            folder / f"part-{number:06d}.parquet",
        )


def _rows_per_file(count: int, batch_size: int, cpus: int) -> int:
    """Whole batches a file, enough files for every core to decode a few, at most 64 batches
    (a file is the unit a failed task redoes)."""
    batches = math.ceil(count / batch_size)
    return batch_size * max(1, min(64, batches // (4 * cpus)))


def _read_shard(path: Path, errors_too: bool) -> pa.Table | None:
    """A shard's rows (only its vectors without ``errors_too``), or None when it cannot be read
    (a killed run's file half-written by a filesystem that does not rename atomically)."""
    try:
        table = pq.read_table(path, columns=["image_id", "vec", "reason"])
    except (pa.ArrowInvalid, OSError):
        return None
    return table if errors_too else table.filter(table["reason"].is_null())


def ingest_shards(
    con: Any,
    set_id: int,
    paths: list[Path],
    wanted: set[int],
    dim: int,
    errors_too: bool = True,
) -> tuple[int, int]:
    """Commit the rows of shards whose images are still wanted (then no longer: an image is
    ingested once), all in one transaction: a commit costs about as much for 256 rows as for
    30,000. Without ``errors_too`` (a killed run's shards) only vectors are taken: as in the
    local pipeline, a resume tries failed images again. Returns (vectors, errors) committed."""
    tables = [t for t in (_read_shard(p, errors_too) for p in paths) if t is not None and len(t)]
    if not tables:
        return 0, 0
    table = pa.concat_tables(tables)
    ids = table["image_id"].to_numpy()
    keep = np.zeros(len(ids), bool)
    for row, image_id in enumerate(ids.tolist()):
        if image_id in wanted:
            keep[row] = True
            wanted.discard(image_id)  # a later row of the same image (a retried task) is not
    table = table.filter(pa.array(keep))
    if not len(table):
        return 0, 0
    failed = table["reason"].is_valid()
    bad = table.filter(failed)
    errors = list(zip(bad["image_id"].to_pylist(), bad["reason"].to_pylist(), strict=True))
    good = table.filter(pc.invert(failed))
    flat = good["vec"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
    vectors = np.asarray(flat, np.float32).reshape(len(good), dim)
    try:
        commit_batch(con, set_id, good["image_id"].to_pylist(), vectors, errors)
    except BaseException:
        wanted.update(int(i) for i in table["image_id"].to_pylist())  # not in the project
        raise
    return len(good), len(errors)


def _cluster_gpus(ray: Any) -> int:
    return int(ray.cluster_resources().get("GPU", 0))


def _cluster_cpus(ray: Any) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def compute_vectors_on_ray(
    con: Any,
    set_id: int,
    embedder: Embedder,
    workdir: Path,
    *,
    batch_size: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    embed_actors: int | None = None,
    weights: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> RayRunSummary:
    """``vectorize.compute_vectors`` on the connected Ray cluster (see ``connect``): the same
    set, the same vectors. ``embed_actors``: the size of the embedding pool (default: one per
    GPU, else a CPU actor per 2 cores); ``weights``: where the nodes load the model from
    (default: the set's own; every node must read them, see ``check_cluster``). Returns after
    ingesting every shard, or after the current one once ``cancel`` is set."""
    ray = _ray()
    vector_set, batch_size = run_settings(con, set_id, embedder, batch_size)
    check_model(vector_set.model)
    project = project_dir(con)
    report = progress or (lambda event: None)
    cancel = cancel or threading.Event()
    summary = RayRunSummary(set_id, batch_size=batch_size)
    started = time.monotonic()
    items = pending_images(con, set_id)
    wanted = {i for i, _, _, _ in items}
    set_dir = Path(workdir) / f"set-{set_id}"
    run_dir = set_dir / f"run-{uuid.uuid4().hex[:12]}"
    shards = run_dir / SHARDS_DIR
    meter = RateMeter()
    vector_sets.start_running(set_id)
    failed = False

    def ingest(paths: list[Path], errors_too: bool = True) -> None:
        """Commit shards a transaction per INGEST_ROWS rows, reporting after each."""
        per_commit = max(1, INGEST_ROWS // batch_size)
        for start in range(0, len(paths), per_commit):
            group = paths[start : start + per_commit]
            ingesting = time.monotonic()
            with saving(set_id, project):
                done, errors = ingest_shards(con, set_id, group, wanted, embedder.dim, errors_too)
            summary.ingest_seconds += time.monotonic() - ingesting
            summary.shards += len(group)
            summary.done += done
            summary.errors += errors
            report(
                meter.event("embedding", summary.done + summary.errors, len(items), summary.errors)
            )

    try:
        with saving(set_id, project):
            set_state(con, set_id, RUNNING)
        report(meter.event("embedding", 0, len(items)))
        # What a killed run finished is not computed again.
        ingest(sorted(set_dir.glob(f"run-*/{SHARDS_DIR}/*.parquet")), errors_too=False)
        summary.from_earlier_runs = summary.done
        todo = [item for item in items if item[0] in wanted]
        if todo and not cancel.is_set():
            shards.mkdir(parents=True, exist_ok=True)
            per_file = _rows_per_file(len(todo), batch_size, _cluster_cpus(ray))
            _write_pending(run_dir / PENDING_DIR, todo, per_file)
            summary.actors = _run_pipeline(
                ray, embedder, vector_set, weights or vector_set.weights, run_dir, batch_size,
                max_pixels, embed_actors, ingest, cancel,
            )  # fmt: skip
        summary.cancelled = bool(wanted) and cancel.is_set()
    except BaseException:
        failed = True
        raise
    finally:
        # A Ctrl-C now waits until the set's state and the work directory agree.
        with deferred_interrupts():
            vector_sets.stop_running(set_id)
            finished = not wanted
            try:
                set_state(con, set_id, COMPLETE if finished else INCOMPLETE)
            except Exception:
                if not failed:
                    raise
            if finished:  # every shard is in the project: the work directory has served
                shutil.rmtree(set_dir, ignore_errors=True)
            summary.seconds = time.monotonic() - started
    return summary


@dataclass(frozen=True)
class _PipelineJob:
    """What the task that drives Ray Data needs (sent to the cluster)."""

    run_dir: str
    preprocessor: Any
    greyscale: bool
    max_pixels: int
    model: str
    weights: str | None
    batch_size: int
    actors: int
    gpus: int


def _drive_pipeline(job: _PipelineJob) -> None:
    """On the cluster, as a task: run the Ray Data pipeline to its end. Ray Data runs in a task
    rather than in panoptui's process because through Ray Client (``ray://``) it cannot run in
    the client; panoptui sees its results as shards in the work directory."""
    ray = _ray()
    from ray.data import DataContext

    DataContext.get_current().enable_progress_bars = False  # nobody would see them
    pending = os.path.join(job.run_dir, PENDING_DIR)
    files = len([name for name in os.listdir(pending) if name.endswith(".parquet")])
    dataset = ray.data.read_parquet(pending, override_num_blocks=files)
    dataset = dataset.map_batches(
        _decode_batch,
        batch_size=job.batch_size,
        batch_format="pyarrow",
        fn_kwargs={
            "preprocessor": job.preprocessor,
            "greyscale": job.greyscale,
            "max_pixels": job.max_pixels,
            "stop": os.path.join(job.run_dir, STOP_FILE),
        },
        num_cpus=1,
    )
    dataset = dataset.map_batches(
        _EmbedShards,
        batch_size=job.batch_size,
        batch_format="pyarrow",
        fn_constructor_kwargs={
            "model": job.model,
            "weights": job.weights,
            "device": "cuda" if job.gpus else "cpu",
            "batch_size": job.batch_size,
            "shards": os.path.join(job.run_dir, SHARDS_DIR),
        },
        compute=ray.data.ActorPoolStrategy(size=job.actors),
        num_gpus=1 if job.gpus else 0,
        num_cpus=0 if job.gpus else 1,
    )
    for _ in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
        pass


def _run_pipeline(
    ray: Any,
    embedder: Embedder,
    vector_set: vector_sets.VectorSet,
    weights: str | None,
    run_dir: Path,
    batch_size: int,
    max_pixels: int,
    embed_actors: int | None,
    ingest: Any,
    cancel: threading.Event,
) -> int:
    """Run the Ray Data pipeline, ingesting each shard it writes; returns the pool's size."""
    gpus = _cluster_gpus(ray)
    # Without GPUs, Ray fuses decoding into the embedding actors (the same resources): each
    # actor decodes and embeds on one core, as the local pipeline does on the CPU, and half
    # the cores stay free for reading the list and for Ray's own tasks.
    actors = embed_actors or (gpus or max(1, _cluster_cpus(ray) // 2))
    job = _PipelineJob(
        str(run_dir), embedder.preprocessor, vector_set.greyscale, max_pixels,
        vector_set.model, weights, batch_size, actors, gpus,
    )  # fmt: skip
    # The pipeline's output blocks gather many shards (a block per task, tasks of many
    # batches), so panoptui does not wait for them: a task drives the pipeline while this
    # thread ingests each shard as it appears in the folder (renamed into place once whole).
    # Not retried: a resume takes over from the shards written.
    pipeline = ray.remote(num_cpus=0, max_retries=0)(_drive_pipeline).remote(job)
    failure: list[BaseException] = []
    finished = threading.Event()

    def drive() -> None:
        try:
            ray.get(pipeline)
        except BaseException as exc:
            failure.append(exc)
        finally:
            finished.set()

    folder = run_dir / SHARDS_DIR
    taken: set[str] = set()

    def take_new() -> None:
        new = [path for path in sorted(folder.glob("*.parquet")) if path.name not in taken]
        if new and not cancel.is_set():
            taken.update(path.name for path in new)
            ingest(new)

    driver = threading.Thread(target=drive, name="ray-pipeline", daemon=True)
    driver.start()
    try:
        while not finished.wait(POLL_SECONDS) and not cancel.is_set():
            take_new()
        if not cancel.is_set():
            take_new()  # what the last tasks wrote
    finally:
        if not finished.is_set():
            # Stopped (cancel, Ctrl-C, an error here): the tasks left skip their batches, so
            # the pipeline ends soon; the shards written meanwhile wait for the resume.
            with contextlib.suppress(OSError):
                (run_dir / STOP_FILE).touch()
            if not finished.wait(STOP_WAIT_SECONDS):
                with contextlib.suppress(Exception):
                    ray.cancel(pipeline, force=True)
    if failure and not cancel.is_set():
        exc = failure[0]
        if isinstance(exc, store.ProjectError):
            raise exc
        raise store.ProjectError(f"the Ray run failed: {shown(_ray_reason(exc))}") from exc
    return actors


def _ray_reason(exc: BaseException) -> str:
    """The line of a Ray error that says what failed. Ray wraps a task's exception in one whose
    first line names the task: the innermost cause says it (ours names the node and path)."""
    cause: BaseException | None = exc
    innermost = exc
    while cause is not None:
        for line in str(cause).splitlines():
            if line.startswith(("RuntimeError: Ray node", "Ray node")):
                return line.removeprefix("RuntimeError: ")
        innermost = cause
        inner = getattr(cause, "cause", None) or cause.__cause__
        cause = inner if isinstance(inner, BaseException) and inner is not cause else None
    return ANSI.sub("", _first_line(innermost))
