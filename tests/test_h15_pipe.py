"""The vector pipeline of issue 15: the writer thread (commits while the model embeds, bounded,
failures and kills), the batch size found by trying on a device, and the GPU JPEG path, run here
on the CPU (torchvision decodes JPEGs on the CPU with the same call) against the CPU path."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures import photo
from helpers import run_cli
from model_fixtures import timm_checkpoint
from PIL import Image

from panoptui.core import store, vector_inputs, vector_sets, vectorize
from panoptui.core.models import load_embedder, runtime

MIN_COSINE = 0.999


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return timm_checkpoint("test_vit", tmp_path_factory.mktemp("m") / "test_vit.safetensors", 3)


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """JPEGs of every kind the GPU path must take or hand back, plus files it must refuse."""
    root = tmp_path_factory.mktemp("jpegs")
    photo(1200, 800, 1).save(root / "a_big.jpg", quality=90)
    photo(640, 480, 2).save(root / "b_medium.jpg", quality=85)
    photo(150, 120, 3).save(root / "c_small.jpg", quality=85)  # smaller than the model's input
    photo(900, 600, 4).convert("L").save(root / "d_grey.jpg", quality=90)
    photo(800, 600, 5).save(root / "e_progressive.jpg", quality=85, progressive=True)
    photo(700, 500, 6).convert("CMYK").save(root / "f_cmyk.jpg", quality=90)
    for orientation in (3, 6, 8):  # rotated as a camera records it
        exif = Image.Exif()
        exif[0x0112] = orientation
        photo(600, 400, 10 + orientation).save(
            root / f"g_exif{orientation}.jpg", quality=90, exif=exif
        )
    photo(300, 200, 7).save(root / "h_png.png")
    (root / "i_corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(3000))
    (root / "j_text.jpg").write_text("not an image at all")
    return root


def items_of(folder: Path) -> list[tuple[int, str, int, int]]:
    out = []
    for i, path in enumerate(sorted(folder.iterdir())):
        st = path.stat()
        out.append((i + 1, str(path), st.st_size, st.st_mtime_ns))
    return out


def by_id(batches) -> tuple[dict[int, np.ndarray], dict[int, str]]:
    tensors: dict[int, np.ndarray] = {}
    errors: dict[int, str] = {}
    for ids, batch, errs in batches:
        for i, image_id in enumerate(ids):
            tensors[image_id] = batch[i].float().numpy()
        errors.update(errs)
    return tensors, errors


# --- GPU JPEG decoding, on the CPU -------------------------------------------------------------


@pytest.mark.parametrize("greyscale", [False, True])
def test_gpu_jpeg_path_agrees_with_the_cpu_path_and_falls_back(
    jpegs, tiny_vit, greyscale, monkeypatch
):
    monkeypatch.setattr(vector_inputs, "DECODE_CHUNK", 3)  # batches of 4 decoded in two calls
    embedder = load_embedder("timm:test_vit", str(tiny_vit), "cpu")
    items = items_of(jpegs)
    names = {image_id: Path(path).name for image_id, path, _, _ in items}
    steps = vector_inputs.tensor_steps(embedder.preprocessor)
    assert steps is not None
    cpu_inputs, cpu_errors = by_id(
        vector_inputs.collate([sample]) for sample in _cpu_samples(items, embedder, greyscale)
    )

    forced = {"b_medium.jpg", "g_exif6.jpg"}  # the decoder refuses these two
    calls = []

    def decoder(tensors, mode, device):
        from torchvision.io import decode_jpeg

        calls.append(len(tensors))
        for t in tensors:
            if any(bytes(t[:4096].numpy()) == Path(jpegs / n).read_bytes()[:4096] for n in forced):
                raise RuntimeError("nvjpeg says no")
        return decode_jpeg(tensors, mode=mode, device=device)

    loader = vector_inputs.GpuJpegBatches(
        items, 4, embedder.preprocessor, steps, greyscale, 10**9, "cpu", decoder
    )
    gpu_inputs, gpu_errors = by_id(loader)
    assert gpu_errors == cpu_errors  # the same files fail, for the same reasons
    assert {names[i] for i in cpu_errors} == {"i_corrupt.jpg", "j_text.jpg"}
    assert gpu_inputs.keys() == cpu_inputs.keys()
    fell_back = {names[i] for i in loader.fallback_ids}
    # Refused by the decoder, not JPEGs, CMYK, broken: the CPU path took them.
    assert fell_back == forced | {"f_cmyk.jpg", "h_png.png", "i_corrupt.jpg", "j_text.jpg"}
    assert max(calls) == 3  # decoded a list at a time, a chunk at most

    ids = sorted(cpu_inputs)
    ours = embedder.embed_images(torch.from_numpy(np.stack([gpu_inputs[i] for i in ids])))
    theirs = embedder.embed_images(torch.from_numpy(np.stack([cpu_inputs[i] for i in ids])))
    cosines = {names[i]: float(ours[k] @ theirs[k]) for k, i in enumerate(ids)}
    assert min(cosines.values()) >= MIN_COSINE, cosines
    for i in ids:  # the model's inputs themselves are close, pixel for pixel
        assert np.abs(gpu_inputs[i] - cpu_inputs[i]).mean() < 0.05, names[i]


def _cpu_samples(items, embedder, greyscale):
    dataset = vector_inputs.ImageDataset(items, embedder.preprocessor, greyscale, 10**9)
    return [dataset[i] for i in range(len(items))]


def test_the_gpu_plan_reduces_as_libjpeg_does_at_odd_sizes(tmp_path, tiny_vit):
    from torchvision.io import ImageReadMode, decode_jpeg

    embedder = load_embedder("timm:test_vit", str(tiny_vit), "cpu")
    path = tmp_path / "odd.jpg"
    photo(1001, 751, 9).save(path, quality=90)
    st = path.stat()
    plan = vector_inputs.plan_jpeg(
        str(path), st.st_size, st.st_mtime_ns, embedder.preprocessor, 10**9
    )
    assert plan is not None and (plan.draft, plan.box) == (4, 1)  # 1001 // 251 would say 3
    full = decode_jpeg(torch.frombuffer(bytearray(plan.data), dtype=torch.uint8), ImageReadMode.RGB)
    reduced = vector_inputs._box_reduce(full, plan.draft)
    with Image.open(path) as img:
        img.draft("RGB", (225, 169))
        assert reduced.shape[1:] == (img.size[1], img.size[0]) == (188, 251)
    # A file changed since the import takes the CPU path, which says so.
    changed = vector_inputs.plan_jpeg(
        str(path), st.st_size + 1, st.st_mtime_ns, embedder.preprocessor, 10**9
    )
    assert changed is None


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_on_tensors_is_pillows(orientation):
    from panoptui.core.decode import _TRANSPOSE

    pixels = np.random.default_rng(orientation).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    method = _TRANSPOSE.get(orientation)
    expected = np.asarray(image.transpose(method) if method is not None else image)
    got = vector_inputs._orient(torch.from_numpy(pixels).permute(2, 0, 1), orientation)
    assert np.array_equal(got.permute(1, 2, 0).numpy(), expected)


def test_greyscale_and_box_filter_on_tensors_are_pillows():
    pixels = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    tensor = torch.from_numpy(pixels).permute(2, 0, 1)
    grey = vector_inputs._grey(tensor).permute(1, 2, 0).numpy()
    assert np.array_equal(grey, np.asarray(image.convert("L").convert("RGB")))
    for factor in (2, 3, 4):
        reduced = vector_inputs._box_reduce(tensor, factor).permute(1, 2, 0).numpy()
        expected = np.asarray(image.reduce(factor)).astype(int)
        assert reduced.shape == expected.shape
        assert np.abs(reduced.astype(int) - expected).max() <= 1  # rounding only


def test_a_model_whose_transform_needs_pillow_stays_on_the_cpu_path():
    from torchvision import transforms

    from panoptui.core.models.base import Preprocessor

    class Custom(Preprocessor):
        def __init__(self) -> None:
            self._transform = transforms.Compose(
                [transforms.Resize(32), transforms.Lambda(lambda im: im), transforms.ToTensor()]
            )

        def transform(self, image):
            return self._transform(image)

    assert vector_inputs.tensor_steps(Custom()) is None


def test_compute_vectors_with_gpu_decoding_forced_on_the_cpu(tmp_path, jpegs, tiny_vit):
    from panoptui.core.scan import import_folders

    con = store.open_project(tmp_path / "project", create=True)
    import_folders(con, [str(jpegs)], workers=1)
    embedder = load_embedder("timm:test_vit", str(tiny_vit), "cpu")
    runs = {}
    for gpu_decode in (False, True):
        set_id = vector_sets.create_set(con, embedder, batch_size=4)
        summary = vectorize.compute_vectors(con, set_id, embedder, gpu_decode=gpu_decode)
        assert (summary.done, summary.errors) == (10, 0)  # the import kept out the broken two
        assert summary.cpu_fallbacks == (2 if gpu_decode else 0)  # the CMYK JPEG, the PNG
        runs[gpu_decode] = dict(
            con.execute(f"SELECT image_id, vec FROM {store.vector_table(set_id)}").fetchall()
        )
    assert runs[True].keys() == runs[False].keys()
    for image_id, vec in runs[True].items():
        assert float(np.dot(vec, runs[False][image_id])) >= MIN_COSINE


# --- batches made ahead on a thread ------------------------------------------------------------


def test_prefetched_keeps_order_raises_errors_and_stops_early():
    assert list(vector_inputs.prefetched(iter(range(50)))) == list(range(50))

    def broken():
        yield 1
        raise ValueError("decoder broke")

    got = []
    with pytest.raises(ValueError, match="decoder broke"):
        for item in vector_inputs.prefetched(broken()):
            got.append(item)
    assert got == [1]

    made = []

    def endless():
        i = 0
        while True:
            made.append(i)
            yield i
            i += 1

    batches = vector_inputs.prefetched(endless(), depth=2)
    assert next(batches) == 0
    batches.close()
    time.sleep(0.5)
    count = len(made)
    time.sleep(0.3)
    assert len(made) == count <= 5  # stopped, never ran far ahead


# --- the writer thread --------------------------------------------------------------------------


class CountingEmbedder:
    """A model that costs nothing (the pixels descriptor, as vectors of its input)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.spec, self.dim, self.preprocessor = inner.spec, inner.dim, inner.preprocessor
        self.device, self.from_thumbnails = inner.device, inner.from_thumbnails
        self.embeds_text = inner.embeds_text
        self.batches = 0

    def embed_images(self, batch):
        self.batches += 1
        return self.inner.embed_images(batch)


@pytest.fixture(scope="module")
def thirty_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("thirty")
    for i in range(30):
        photo(96, 64, 100 + i).save(root / f"p{i:02d}.jpg", quality=85)
    return root


def pixels_project(tmp_path: Path, images: Path):
    from panoptui.core.scan import import_folders

    con = store.open_project(tmp_path / "project", create=True)
    import_folders(con, [str(images)], workers=1)
    return con


def all_vectors(con, set_id: int) -> dict[int, np.ndarray]:
    rows = con.execute(f"SELECT image_id, vec FROM {store.vector_table(set_id)}").fetchall()
    return {i: np.asarray(v, np.float32) for i, v in rows}


def test_the_write_queue_is_bounded_when_the_disk_is_slow(tmp_path, thirty_images, monkeypatch):
    con = pixels_project(tmp_path, thirty_images)
    embedder = CountingEmbedder(load_embedder("pixels"))
    set_id = vector_sets.create_set(con, embedder, batch_size=2)
    commit = vectorize.commit_batch
    ahead = []

    def slow_commit(cur, *args):
        # Batches the model has made that are not committed: one being written, the queue's.
        ahead.append(embedder.batches - (len(ahead)))
        time.sleep(0.05)
        commit(cur, *args)

    monkeypatch.setattr(vectorize, "commit_batch", slow_commit)
    summary = vectorize.compute_vectors(con, set_id, embedder)
    assert summary.done == 30 and len(ahead) == 15
    assert max(ahead) <= vectorize.WRITE_QUEUE + 2  # + the one in hand + the one being made
    assert max(ahead) >= 2  # the model did run ahead of the writer
    assert summary.model_waited_on_writer_seconds > 0  # held back by the full queue


def test_a_failing_writer_stops_the_run_and_resume_is_identical(
    tmp_path, thirty_images, monkeypatch
):
    con = pixels_project(tmp_path, thirty_images)
    embedder = load_embedder("pixels")
    reference = vector_sets.create_set(con, embedder, batch_size=4)
    vectorize.compute_vectors(con, reference, embedder)
    set_id = vector_sets.create_set(con, embedder, batch_size=4)
    commit = vectorize.commit_batch
    calls = []

    def failing_commit(cur, *args):
        calls.append(1)
        if len(calls) == 3:
            raise store.ProjectError("disk full while saving vectors of set 2; free space")
        commit(cur, *args)

    monkeypatch.setattr(vectorize, "commit_batch", failing_commit)
    with pytest.raises(store.ProjectError, match="^disk full while saving vectors of set 2"):
        vectorize.compute_vectors(con, set_id, embedder)
    assert len(calls) == 3  # nothing written after the failure
    stored = vector_sets.get_set(con, set_id)
    assert (stored.count, stored.status) == (8, "incomplete")  # two whole batches
    monkeypatch.setattr(vectorize, "commit_batch", commit)
    vectorize.compute_vectors(con, set_id, embedder)
    got, expected = all_vectors(con, set_id), all_vectors(con, reference)
    assert got.keys() == expected.keys() and len(got) == 30
    assert all(np.array_equal(got[i], expected[i]) for i in expected)


def test_an_interrupt_in_the_model_keeps_what_was_handed_over(tmp_path, thirty_images):
    con = pixels_project(tmp_path, thirty_images)
    inner = load_embedder("pixels")

    class Interrupted(CountingEmbedder):
        def embed_images(self, batch):
            if self.batches == 4:
                raise KeyboardInterrupt
            return super().embed_images(batch)

    embedder = Interrupted(inner)
    set_id = vector_sets.create_set(con, embedder, batch_size=3)
    with pytest.raises(KeyboardInterrupt):
        vectorize.compute_vectors(con, set_id, embedder)
    stored = vector_sets.get_set(con, set_id)
    assert (stored.count, stored.status) == (12, "incomplete")  # all four made, committed
    vectorize.compute_vectors(con, set_id, inner)
    assert vector_sets.get_set(con, set_id).status == "complete"


def test_sigkill_with_the_writer_thread_then_resume_is_bit_identical(tmp_path, tiny_vit):
    import re

    from helpers import TerminalRun

    images = tmp_path / "images"
    images.mkdir()
    for i in range(240):
        photo(320, 240, 2000 + i).save(images / f"p{i:03d}.jpg", quality=85)
    args = ["--model", "timm:test_vit", "--weights", str(tiny_vit), "--device", "cpu"]
    args += ["--batch-size", "8", "--workers", "0"]
    reference = tmp_path / "reference"
    assert run_cli("import", str(reference), str(images)).returncode == 0
    assert run_cli("vectors", "create", str(reference), *args).returncode == 0
    expected = read_vectors(reference)
    assert len(expected) == 240

    project = tmp_path / "killed"
    assert run_cli("import", str(project), str(images)).returncode == 0
    run = TerminalRun("vectors", "create", str(project), *args)
    embedding = re.compile(rb"embedding (\d+)/240")

    def reached(output: bytes) -> bool:
        found = embedding.findall(output)
        return bool(found) and int(found[-1]) >= 96

    run.read_until(reached, timeout=300)
    assert run.kill() == -9
    listed = json.loads(run_cli("vectors", "list", str(project), "--json").stdout)
    assert listed[0]["status"] == "incomplete"
    assert 96 <= listed[0]["count"] < 240 and listed[0]["count"] % 8 == 0  # whole batches
    assert run_cli("vectors", "resume", str(project), "1").returncode == 0
    got = read_vectors(project)
    assert got.keys() == expected.keys()
    assert all(np.array_equal(got[i], expected[i]) for i in expected)


def read_vectors(project: Path) -> dict[int, np.ndarray]:
    con = store.open_project(project, read_only=True)
    try:
        return all_vectors(con, 1)
    finally:
        con.close()


# --- the batch size that fits ------------------------------------------------------------------


class FakeGpuModel:
    """An embedder on a pretend CUDA device whose memory holds ``fits`` images a batch."""

    def __init__(self, name: str, fits: int) -> None:
        from panoptui.core.models import ModelSpec

        self.spec = ModelSpec(name, "timm", name)
        self.dim = 4
        self.device = "cuda"
        self.from_thumbnails = False
        self.fits = fits
        self.tried: list[int] = []

    def probe(self, size: int) -> None:
        self.tried.append(size)
        if size > self.fits:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_the_batch_size_is_the_largest_power_of_two_that_fits_and_is_remembered(tmp_path):
    con = store.open_project(tmp_path / "project", create=True)
    model = FakeGpuModel("clip", fits=100)
    size = vectorize.default_batch_size(con, model, model.probe, "Fake GPU 80 GiB")
    assert size == 64 and model.tried == [512, 256, 128, 64]
    again = FakeGpuModel("clip", fits=0)  # would fail every size: the stored one is used
    assert vectorize.default_batch_size(con, again, again.probe, "Fake GPU 80 GiB") == 64
    assert again.tried == []
    bigger = FakeGpuModel("clip", fits=10_000)  # another GPU: tried again
    assert vectorize.default_batch_size(con, bigger, bigger.probe, "Bigger GPU 141 GiB") == 512
    other = FakeGpuModel("siglip", fits=20)  # another model: tried again
    assert vectorize.default_batch_size(con, other, other.probe, "Fake GPU 80 GiB") == 16

    on_cpu = FakeGpuModel("clip", fits=0)
    on_cpu.device = "cpu"
    assert vectorize.default_batch_size(con, on_cpu, on_cpu.probe) == 32 and on_cpu.tried == []

    from panoptui.core import settings

    settings.save(con, {"batch_size": 48})  # the project's setting wins
    assert vectorize.default_batch_size(con, bigger, bigger.probe, "New GPU") == 48


def test_batch_size_search_raises_what_is_not_out_of_memory():
    def broken(size: int) -> None:
        raise ValueError("shape mismatch")

    with pytest.raises(ValueError):
        runtime.largest_batch(broken, device="cpu")

    def never(size: int) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(torch.cuda.OutOfMemoryError):
        runtime.largest_batch(never, device="cpu")
    assert runtime.largest_batch(lambda size: None, ceiling=8, device="cpu") == 8
