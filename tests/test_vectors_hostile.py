"""Vector sets against hostile images, checkpoints and faults: elongated images embedded within
bounded memory by every model family, true reasons for what cannot be embedded, an honest ETA,
bounded batch sizes, a full disk, malicious pickles and library warnings."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import duckdb
import numpy as np
import pytest
from fixtures import png_bomb
from model_fixtures import timm_checkpoint, tiny_hf_clip_dir, tiny_hf_vit_dir, tiny_open_clip_dir
from PIL import Image

from panoptui.core import store, vector_inputs, vector_sets, vectorize
from panoptui.core.models import ModelError, load_embedder
from panoptui.core.models.base import MAX_RESIZED_PIXELS
from panoptui.core.progress import RateMeter, eta_text
from panoptui.core.samples import family_image
from panoptui.core.scan import import_folders

# Every family, and what a 1,000,000x1 image costs in its transform without a bound: "shortest"
# transforms upscale the long side with the short one (timm's test_vit at 169 px: 1.7e8 x 169).
FAMILIES = {
    "open_clip:shortest": "open_clip_shortest",
    "open_clip:squash": "open_clip_squash",
    "open_clip:longest": "open_clip_longest",
    "timm:test_vit": "test_vit",
    "hf:tiny-vit": "hf_vit",  # squash (height and width)
    "hf:tiny-clip": "hf_clip",  # shortest_edge, then a centre crop
    "pixels": None,  # the import's thumbnail; embed_file makes one the same way
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "open_clip_shortest": tiny_open_clip_dir(root, resize_mode="shortest"),
        "open_clip_squash": tiny_open_clip_dir(root, resize_mode="squash"),
        "open_clip_longest": tiny_open_clip_dir(root, resize_mode="longest"),
        "test_vit": timm_checkpoint("test_vit", root / "test_vit.safetensors", seed=3),
        "hf_vit": tiny_hf_vit_dir(root),
        "hf_clip": tiny_hf_clip_dir(root),
    }


def small_corpus(root: Path, count: int = 8) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    families = ("circles", "stripes", "checker", "gradient", "triangles", "noise")
    for i in range(count):
        family_image(families[i % len(families)], i, (80, 60)).save(root / f"img{i}.png")
    return root


def new_project(tmp_path: Path, folder: Path) -> duckdb.DuckDBPyConnection:
    con = store.open_project(tmp_path / "project", create=True)
    import_folders(con, [str(folder)], workers=1)
    return con


def vectors_of(con: duckdb.DuckDBPyConnection, set_id: int) -> dict[int, np.ndarray]:
    rows = con.execute(f"SELECT image_id, vec FROM {store.vector_table(set_id)}").fetchall()
    return {int(i): np.asarray(v, np.float32) for i, v in rows}


def error_reasons(con: duckdb.DuckDBPyConnection, set_id: int) -> dict[str, str]:
    return {e.path.rsplit("/", 1)[1]: e.reason for e in vector_sets.vector_errors(con, set_id)}


# --- 1, 2: elongated images and memory ----------------------------------------------------------

# Run in a child under an address-space limit of what it holds plus LIMIT_HEADROOM once the
# models are loaded and warm: without the bound, the 1,000,000x1 image needs gigabytes in three
# of the families and fails there (or, unlimited, would take the machine's memory).
LIMIT_HEADROOM = 3 << 29  # 1.5 GiB
CHILD = """
import json, resource, sys
from panoptui.core import store, vector_sets, vectorize
from panoptui.core.models import load_embedder
project, folder, models = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
con = store.open_project(project)
embedders = {name: load_embedder(name, weights, "cpu") for name, weights in models.items()}
sets = {name: vector_sets.create_set(con, e) for name, e in embedders.items()}
for e in embedders.values():  # build each transform, warm each model
    vectorize.embed_file(e, folder + "/normal.png", False)
size = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) << 10
resource.setrlimit(resource.RLIMIT_AS, (size + int(sys.argv[4]), resource.RLIM_INFINITY))
out = {}
for name, e in embedders.items():
    summary = vectorize.compute_vectors(con, sets[name], e, workers=0)
    files = {}
    for file in ("wide.png", "tall.jpg", "normal.png"):
        try:
            files[file] = len(vectorize.embed_file(e, f"{folder}/{file}", False))
        except store.ProjectError as exc:
            files[file] = str(exc)
    rows = vector_sets.vector_errors(con, sets[name])
    errors = {r.path.rsplit("/", 1)[1]: r.reason for r in rows}
    out[name] = {"done": summary.done, "errors": errors, "embed_file": files}
print(json.dumps(out))
"""


def test_elongated_images_embed_within_bounded_memory_in_every_family(tmp_path, models):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (1_000_000, 1), (200, 30, 30)).save(folder / "wide.png")  # 3 KB
    Image.new("RGB", (2, 65500), (30, 200, 30)).save(folder / "tall.jpg")  # JPEG's limit
    family_image("circles", 1, (64, 48)).save(folder / "normal.png")
    new_project(tmp_path, folder).close()
    weights = {name: str(models[key]) if key else None for name, key in FAMILIES.items()}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "project"), str(folder)]
        + [json.dumps(weights), str(LIMIT_HEADROOM)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for name, got in result.items():
        if name == "open_clip:longest":
            # Fitting the long side to 64 px leaves the short one under a pixel: said so.
            assert got["done"] == 1, got
            for file in ("wide.png", "tall.jpg"):
                assert "too elongated to embed" in got["errors"][file], got
                assert "too elongated to embed" in got["embed_file"][file], got
            assert got["errors"]["wide.png"].startswith("image is 1000000x1: ")
        else:
            assert (got["done"], got["errors"]) == (3, {}), (name, got)
            assert all(isinstance(n, int) for n in got["embed_file"].values()), (name, got)


def test_the_bound_keeps_normal_images_whole_and_crops_what_the_crop_would_drop(models):
    embedder = load_embedder("timm:test_vit", str(models["test_vit"]), "cpu")
    pre = embedder.preprocessor
    assert pre.resize_mode == "shortest"
    panorama = family_image("stripes", 3, (4000, 400))  # 10:1, resized to 1690x169
    assert pre.fit(panorama) is panorama
    wide = family_image("stripes", 3, (12000, 10))  # 1200:1, resized to 34 MP, just over
    fitted = pre.fit(wide)
    assert fitted.size[1] == 10 and fitted.size[0] < 100
    assert fitted.size[0] * pre.input_size / 10 * pre.input_size <= MAX_RESIZED_PIXELS
    # What the model sees is (nearly) what it saw of the whole image: the same centre.
    whole = embedder.embed_images(pre.transform(wide)[None])[0]
    assert float(whole @ embedder.embed_images(pre(wide)[None])[0]) > 0.999


def test_every_preprocessor_knows_its_resize_mode_in_worker_processes_too(models):
    import pickle

    expected = {
        "open_clip:shortest": "shortest",
        "open_clip:squash": "squash",
        "open_clip:longest": "longest",
        "timm:test_vit": "shortest",
        "hf:tiny-vit": "squash",
        "hf:tiny-clip": "shortest",
        "pixels": "squash",
    }
    for name, key in FAMILIES.items():
        embedder = load_embedder(name, str(models[key]) if key else None, "cpu")
        copy = pickle.loads(pickle.dumps(embedder.preprocessor))  # as DataLoader workers get it
        assert copy.resize_mode == embedder.preprocessor.resize_mode == expected[name], name


def test_an_image_over_the_decode_budget_gets_a_true_reason(tmp_path, models):
    embedder = load_embedder("timm:test_vit", str(models["test_vit"]), "cpu")
    bomb = tmp_path / "huge.png"
    bomb.write_bytes(png_bomb(40_000, 30_000))  # 1.2 G pixels of one byte: 1.1 GB
    item = (1, str(bomb), bomb.stat().st_size, bomb.stat().st_mtime_ns)
    dataset = vector_inputs.ImageDataset([item], embedder.preprocessor, False, max_pixels=2 * 10**9)
    _, tensor, reason = dataset[0]
    assert tensor is None
    assert reason == (
        "decoding this 40000x30000 image (mode 1) needs about 1,144 MB of memory, more than the "
        "1,024 MB one image may use here"
    )


OUT_OF_MEMORY = "image is 80x60: not enough memory to decode and preprocess it for the model"


def test_memory_errors_become_a_clear_reason_and_the_run_goes_on(tmp_path, models, monkeypatch):
    con = new_project(tmp_path, small_corpus(tmp_path / "photos", 4))
    embedder = load_embedder("timm:test_vit", str(models["test_vit"]), "cpu")
    transform = type(embedder.preprocessor).transform
    seen = []

    def failing(self, image):
        seen.append(image.size)
        if len(seen) == 2:
            raise MemoryError()
        if len(seen) == 3:  # how torch's CPU allocator says it
            raise RuntimeError(
                "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't "
                "allocate memory: you tried to allocate 3072000000 bytes. Error code 12"
            )
        return transform(self, image)

    monkeypatch.setattr(type(embedder.preprocessor), "transform", failing)
    for workers in (0, None):  # decoded in this thread; by a thread per core
        seen.clear()
        set_id = vector_sets.create_set(con, embedder)
        summary = vectorize.compute_vectors(con, set_id, embedder, workers=workers)
        assert (summary.done, summary.errors) == (2, 2)
        reasons = set(error_reasons(con, set_id).values())
        assert reasons == {OUT_OF_MEMORY}


# --- 3: the ETA ----------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_eta_leaves_out_start_up_and_the_first_slow_batch():
    """The case reported: a resumed job of 12,600 images at 70 images/s (3 minutes), whose
    workers took 30 s to start and deliver the first batch, read ETA 3:30:29."""
    clock = FakeClock()
    meter = RateMeter(clock=clock)
    total, batch = 12_600, 32
    first = meter.event("embedding", 0, total)
    assert first.eta is None and eta_text(first) == "--:--"
    clock.now += 30.0  # start-up and the first batch
    event = meter.event("embedding", batch, total)
    assert event.eta is None  # one interval is not a rate yet
    etas = []
    for done in range(2 * batch, total, batch):
        clock.now += batch / 70.0
        event = meter.event("embedding", done, total)
        etas.append(event.eta)
        assert event.rate == pytest.approx(70.0)
    assert etas[0] == pytest.approx((total - 2 * batch) / 70.0)
    assert max(etas) < 181  # never the hours a start-up-diluted rate gave


def test_eta_follows_a_slow_spell_and_recovers():
    clock = FakeClock()
    meter = RateMeter(clock=clock)
    meter.event("embedding", 0, 10_000)
    done = 0
    for step in range(200):
        clock.now += 0.5 if step != 100 else 10.0  # one batch held up by a slow commit
        done += 50
        event = meter.event("embedding", done, 10_000)
        if step == 100:
            # Over a 20 s window the spell slows the estimate, not by hours.
            assert event.eta is not None and event.eta < 3 * (10_000 - done) / 100
    assert event.rate == pytest.approx(100.0)


def test_compute_vectors_reports_this_runs_work_from_zero(tmp_path, models):
    con = new_project(tmp_path, small_corpus(tmp_path / "photos", 6))
    embedder = load_embedder("timm:test_vit", str(models["test_vit"]), "cpu")
    set_id = vector_sets.create_set(con, embedder, batch_size=2)
    cancel = threading.Event()
    vectorize.compute_vectors(
        con, set_id, embedder, workers=0, cancel=cancel, progress=lambda e: cancel.set()
    )
    events = []
    vectorize.compute_vectors(con, set_id, embedder, workers=0, progress=events.append)
    # The resumed run counts its own images (4 left), so its rate is not inflated or diluted
    # by the 2 done before; no ETA until progress has been timed.
    assert [(e.done, e.total) for e in events] == [(0, 4), (2, 4), (4, 4)]
    assert events[0].eta is None and events[1].eta is None


# --- 4: batch sizes -----------------------------------------------------------------------------


def test_batch_size_is_bounded_and_a_stored_huge_one_is_clamped(tmp_path, models):
    con = new_project(tmp_path, small_corpus(tmp_path / "photos", 3))
    embedder = load_embedder("timm:test_vit", str(models["test_vit"]), "cpu")
    for bad in (vector_sets.MAX_BATCH_SIZE + 1, 100_000_000, 0, -3):
        with pytest.raises(store.ProjectError, match=r"batch size .* out of range: give 1 to 4096"):
            vector_sets.create_set(con, embedder, batch_size=bad)
    set_id = vector_sets.create_set(con, embedder, batch_size=vector_sets.MAX_BATCH_SIZE)
    with pytest.raises(store.ProjectError, match="out of range"):
        vectorize.compute_vectors(con, set_id, embedder, batch_size=100_000_000)
    # A project from before the bound, with a huge batch size stored on its set.
    con.execute("UPDATE vector_sets SET batch_size = 100000000 WHERE id = ?", [set_id])
    summary = vectorize.compute_vectors(con, set_id, embedder, workers=0)
    assert summary.batch_size == vector_sets.MAX_BATCH_SIZE and summary.done == 3
    assert vector_sets.get_set(con, set_id).batch_size == vector_sets.MAX_BATCH_SIZE


# --- 5: a full disk -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        duckdb.IOException('Could not write file "project.duckdb.wal": No space left on device'),
        OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
    ],
    ids=["duckdb", "oserror"],
)
def test_a_full_disk_while_saving_is_one_line_and_resume_finishes_the_set(
    tmp_path, models, monkeypatch, failure
):
    con = new_project(tmp_path, small_corpus(tmp_path / "photos", 8))
    embedder = load_embedder("timm:test_vit", str(models["test_vit"]), "cpu")
    clean = vector_sets.create_set(con, embedder, batch_size=3)
    vectorize.compute_vectors(con, clean, embedder, workers=0)

    set_id = vector_sets.create_set(con, embedder, batch_size=3)
    commit = vectorize.commit_batch
    commits = []

    def disk_fills(*args, **kwargs):
        commits.append(1)
        if len(commits) == 2:  # the first batch is saved, the second meets a full disk
            raise failure
        return commit(*args, **kwargs)

    monkeypatch.setattr(vectorize, "commit_batch", disk_fills)
    with pytest.raises(store.ProjectError) as raised:
        vectorize.compute_vectors(con, set_id, embedder, workers=0)
    message = str(raised.value)
    assert "\n" not in message
    project = str(tmp_path / "project")
    assert message == (
        f"disk full while saving vectors of set {set_id}; free space, then: "
        f"panoptui vectors resume {project} {set_id}"
    )
    listed = vector_sets.get_set(con, set_id)
    assert (listed.count, listed.status) == (3, "incomplete")
    monkeypatch.setattr(vectorize, "commit_batch", commit)
    vectorize.compute_vectors(con, set_id, embedder, workers=0)
    expected, got = vectors_of(con, clean), vectors_of(con, set_id)
    assert got.keys() == expected.keys() and len(got) == 8
    assert all(np.array_equal(got[i], expected[i]) for i in expected)
    assert vector_sets.get_set(con, set_id).status == "complete"


# --- 6: malicious checkpoints -------------------------------------------------------------------


class Payload:
    """What a malicious checkpoint holds: unpickled, it would run a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_checkpoint_is_refused_without_advice_to_unpickle_it(tmp_path, models):
    import shutil

    import torch

    marker = tmp_path / "the-payload-ran"
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": {"weight": torch.zeros(2)}, "extra": Payload(marker)}, evil)
    folder = tmp_path / "evil-hf"
    shutil.copytree(models["hf_vit"], folder)
    for weights_file in folder.glob("*.safetensors"):
        weights_file.unlink()
    shutil.copy(evil, folder / "pytorch_model.bin")
    for model, weights in (("clip", evil), ("mobilenet", evil), ("hf:evil", folder)):
        with pytest.raises(ModelError) as raised:
            load_embedder(model, str(weights), "cpu")
        message = str(raised.value)
        assert message.startswith(f"weights {weights} hold code or objects that are not plain")
        assert "(the file asks for posix.system)" in message and "not loaded, for safety" in message
        assert "weights_only" not in message and "\n" not in message
    assert not marker.exists()
    # Torch words its refusal of a damaged pickle the same way: no advice to unpickle it either.
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"\x80\x02not a checkpoint at all")
    # A file that is no checkpoint at all (a text file) is refused before torch sees it.
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    for model in ("clip", "mobilenet"):
        with pytest.raises(ModelError) as raised:
            load_embedder(model, str(damaged), "cpu")
        assert str(raised.value) == (
            f"cannot load weights {damaged} for model {model}: the file is not a checkpoint of "
            "plain weights (damaged, or not a weights file)"
        )
        with pytest.raises(ModelError) as raised:
            load_embedder(model, str(junk), "cpu")
        assert str(raised.value) == (
            f"cannot load weights {junk}: not a weights file (neither a PyTorch checkpoint nor "
            "safetensors)"
        )


# --- 7: warnings ---------------------------------------------------------------------------------


def test_warnings_from_decode_threads_are_not_shown(tmp_path, models, recwarn):
    # An image whose pixels make numpy warn (inf - inf while stretching a float image).
    folder = small_corpus(tmp_path / "photos", 2)
    pixels = np.zeros((60, 80), np.float32)
    pixels[0, 0], pixels[1, 1] = np.inf, -np.inf
    Image.fromarray(pixels, "F").save(folder / "float.tif")
    con = new_project(tmp_path, folder)
    embedder = load_embedder("timm:test_vit", str(models["test_vit"]), "cpu")
    recwarn.clear()
    set_id = vector_sets.create_set(con, embedder)
    summary = vectorize.compute_vectors(con, set_id, embedder)  # the CPU: a thread per core
    assert summary.done + summary.errors == 3
    # ...and a warning raised by a library in a decode thread (Pillow's about odd files).
    with vector_inputs.quiet_decoding():
        warnings.warn("Possibly corrupt EXIF data", UserWarning, stacklevel=1)
    assert [str(w.message) for w in recwarn] == []
    warnings.warn("outside decoding", UserWarning, stacklevel=1)  # others are untouched
    assert [str(w.message) for w in recwarn] == ["outside decoding"]
