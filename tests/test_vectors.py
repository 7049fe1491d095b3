"""Vector sets: every model family through its real loader (tiny random weights from local files),
checked against the library's own forward pass on its own preprocessing."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures import photo
from helpers import run_cli
from model_fixtures import (
    TINY_OPEN_CLIP_PREPROCESS,
    timm_checkpoint,
    tiny_hf_clip_dir,
    tiny_hf_vit_dir,
    tiny_open_clip_dir,
)
from PIL import Image

from panoptui.core import store, vector_sets, vectorize
from panoptui.core.models import ModelError, load_embedder, parse_spec
from panoptui.core.samples import family_image
from panoptui.core.scan import import_folders

# Tolerances. PNGs decode identically in both pipelines, so only float summation order differs
# (batching): 1e-5 per component. Large JPEGs are decoded by us at reduced scale (libjpeg's DCT
# scaling) before the library's resize, so pixels differ slightly: cosine >= 0.99.
ATOL_EXACT = 1e-5
MIN_COSINE_DRAFT = 0.99


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vec-corpus")
    for i, family in enumerate(("circles", "stripes", "checker", "gradient", "triangles")):
        family_image(family, i, (160, 120)).save(root / f"{family}.png")
    family_image("noise", 1, (90, 140)).convert("L").save(root / "grey.png")
    rgba = family_image("circles", 9, (120, 120)).convert("RGBA")
    rgba.putalpha(180)
    rgba.save(root / "alpha.png")
    photo(2400, 1600, 5).save(root / "big_photo.jpg", quality=90)
    return root


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "open_clip_dir": tiny_open_clip_dir(root),
        "mobilenet": timm_checkpoint(
            "mobilenetv3_large_100", root / "mobilenet.safetensors", seed=1
        ),
        "dinov2": timm_checkpoint("vit_small_patch14_dinov2", root / "dinov2.pth", seed=2),
        "test_vit": timm_checkpoint("test_vit", root / "test_vit.safetensors", seed=3),
        "hf_vit": tiny_hf_vit_dir(root),
        "hf_clip": tiny_hf_clip_dir(root),
    }


def new_project(tmp_path: Path, corpus: Path):
    con = store.open_project(tmp_path / "project", create=True)
    import_folders(con, [str(corpus)], workers=1)
    return con


def stored_vectors(con, set_id: int) -> dict[str, np.ndarray]:
    rows = con.execute(
        f"SELECT f.rel_path, v.vec FROM {store.vector_table(set_id)} v "
        "JOIN files f ON f.image_id = v.image_id ORDER BY f.rel_path"
    ).fetchall()
    return {path: np.asarray(vec, np.float32) for path, vec in rows}


def embed_project(con, model: str, weights: Path | None, workers: int | None = 0, **kw) -> int:
    embedder = load_embedder(model, str(weights) if weights else None, "cpu")
    set_id = vector_sets.create_set(con, embedder, kw.pop("greyscale", False), str(weights))
    summary = vectorize.compute_vectors(con, set_id, embedder, workers=workers, **kw)
    assert summary.errors == 0 and not summary.cancelled
    return set_id


def as_displayed(path: Path) -> Image.Image:
    """What panoptui hands to a model: the image as a viewer shows it (EXIF orientation applied,
    transparency over white, 16-bit stretched), in RGB. Libraries' bare convert("RGB") would
    show transparent pixels' hidden colours instead."""
    from PIL import ImageOps

    from panoptui.core.decode import to_rgb

    image = Image.open(path)
    return to_rgb(ImageOps.exif_transpose(image) or image)


def normalise(x: torch.Tensor) -> np.ndarray:
    x = x.float().detach().numpy()
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def assert_matches_reference(ours: dict[str, np.ndarray], reference) -> None:
    for rel, vec in ours.items():
        expected = reference(rel)
        assert np.isclose(np.linalg.norm(vec), 1.0, atol=1e-5)
        if rel.endswith(".jpg"):
            assert float(vec @ expected) >= MIN_COSINE_DRAFT, rel
        else:
            np.testing.assert_allclose(vec, expected, atol=ATOL_EXACT, err_msg=rel)


def test_open_clip_from_a_local_folder_matches_open_clip(tmp_path, corpus, models):
    import open_clip

    con = new_project(tmp_path, corpus)
    set_id = embed_project(con, "open_clip:tiny", models["open_clip_dir"], workers=1)
    model, _, preprocess = open_clip.create_model_and_transforms(
        f"local-dir:{models['open_clip_dir']}"
    )
    model.eval()
    # The folder's own preprocessing was kept, not CLIP's defaults.
    assert open_clip.get_model_preprocess_cfg(model)["resize_mode"] == "squash"

    def reference(rel: str) -> np.ndarray:
        with torch.inference_mode():
            return normalise(model.encode_image(preprocess(as_displayed(corpus / rel))[None]))[0]

    ours = stored_vectors(con, set_id)
    assert len(ours) == 8
    assert_matches_reference(ours, reference)
    listed = vector_sets.get_set(con, set_id)
    assert (listed.dim, listed.count, listed.total, listed.status) == (32, 8, 8, "complete")
    assert listed.embeds_text


def test_text_embedding_matches_open_clip(tmp_path, models):
    import open_clip

    embedder = load_embedder("open_clip:tiny", str(models["open_clip_dir"]), "cpu")
    texts = ["a photo of a cat", "red stripes"]
    ours = embedder.embed_texts(texts)
    model = open_clip.create_model(f"local-dir:{models['open_clip_dir']}").eval()
    tokenizer = open_clip.get_tokenizer(f"local-dir:{models['open_clip_dir']}")
    with torch.inference_mode():
        expected = normalise(model.encode_text(tokenizer(texts)))
    np.testing.assert_allclose(ours, expected, atol=ATOL_EXACT)
    assert ours.shape == (2, 32)


def test_mobilenet_preset_from_a_checkpoint_matches_timm(tmp_path, corpus, models):
    import timm

    con = new_project(tmp_path, corpus)
    set_id = embed_project(con, "mobilenet", models["mobilenet"], workers=None)  # CPU: threads
    model = timm.create_model(
        "mobilenetv3_large_100",
        pretrained=True,
        pretrained_cfg_overlay={"file": str(models["mobilenet"])},
        num_classes=0,
    ).eval()
    transform = timm.data.create_transform(**timm.data.resolve_model_data_config(model))

    def reference(rel: str) -> np.ndarray:
        with torch.inference_mode():
            return normalise(model(transform(as_displayed(corpus / rel))[None]))[0]

    ours = stored_vectors(con, set_id)
    assert next(iter(ours.values())).shape == (1280,)
    assert_matches_reference(ours, reference)


def test_dinov2_preset_runs_at_224_from_a_518_checkpoint(tmp_path, corpus, models):
    import timm

    embedder = load_embedder("dinov2", str(models["dinov2"]), "cpu")
    assert embedder.preprocessor.input_size == 224
    assert embedder.preprocessor.data_config["input_size"] == (3, 224, 224)
    assert embedder.dim == 384
    model = timm.create_model(
        "vit_small_patch14_dinov2",
        pretrained=True,
        pretrained_cfg_overlay={"file": str(models["dinov2"])},
        num_classes=0,
        img_size=224,
    ).eval()
    config = {**timm.data.resolve_model_data_config(model), "input_size": (3, 224, 224)}
    transform = timm.data.create_transform(**config)
    image = Image.open(corpus / "circles.png").convert("RGB")
    ours = embedder.embed_images(embedder.preprocessor(image)[None])
    with torch.inference_mode():
        expected = normalise(model(transform(image)[None]))
    np.testing.assert_allclose(ours, expected, atol=ATOL_EXACT)


def test_timm_custom_spec_and_hf_models(tmp_path, corpus, models):
    from transformers import AutoImageProcessor, AutoModel

    con = new_project(tmp_path, corpus)
    timm_set = embed_project(con, "timm:test_vit", models["test_vit"])
    assert len(stored_vectors(con, timm_set)) == 8

    vit_set = embed_project(con, "hf:tiny-vit", models["hf_vit"])
    model = AutoModel.from_pretrained(models["hf_vit"]).eval()
    processor = AutoImageProcessor.from_pretrained(models["hf_vit"])

    def reference(rel: str) -> np.ndarray:
        pixels = processor(images=as_displayed(corpus / rel), return_tensors="pt")
        with torch.inference_mode():
            return normalise(model(**pixels).pooler_output)[0]

    assert_matches_reference(stored_vectors(con, vit_set), reference)

    clip_embedder = load_embedder("hf:tiny-clip", str(models["hf_clip"]), "cpu")
    assert clip_embedder.embeds_text and clip_embedder.dim == 16


def test_pixels_descriptor(tmp_path, corpus):
    from panoptui.core.models.pixels import DIM, describe

    con = new_project(tmp_path, corpus)
    set_id = embed_project(con, "pixels", None, workers=1)
    ours = stored_vectors(con, set_id)
    assert next(iter(ours.values())).shape == (DIM,)

    def reference(rel: str) -> np.ndarray:  # from the thumbnail the import made
        (jpeg,) = con.execute(
            "SELECT t.jpeg FROM thumbnails t JOIN files f ON f.image_id = t.image_id "
            "WHERE f.rel_path = ?",
            [rel],
        ).fetchall()[0]
        vec = describe(Image.open(io.BytesIO(jpeg)).convert("RGB"))
        return vec / np.linalg.norm(vec)

    for rel, vec in ours.items():
        np.testing.assert_allclose(vec, reference(rel), atol=ATOL_EXACT, err_msg=rel)
        # ...and close to the descriptor of the full-size original.
        full = describe(as_displayed(corpus / rel))
        assert float(vec @ full) / np.linalg.norm(full) > 0.99, rel


def test_greyscale_changes_colour_images_only(tmp_path, corpus, models):
    con = new_project(tmp_path, corpus)
    for model, weights in (("pixels", None), ("open_clip:tiny", models["open_clip_dir"])):
        colour = stored_vectors(con, embed_project(con, model, weights))
        grey = stored_vectors(con, embed_project(con, model, weights, greyscale=True))
        np.testing.assert_allclose(grey["grey.png"], colour["grey.png"], atol=1e-6)
        for rel in ("circles.png", "stripes.png", "big_photo.jpg"):
            assert not np.allclose(grey[rel], colour[rel], atol=1e-3), (model, rel)
    assert [s.greyscale for s in vector_sets.list_sets(con)] == [False, True, False, True]


def test_failures_are_recorded_and_resume_picks_up_new_images(tmp_path, corpus, models):
    import shutil

    folder = tmp_path / "photos"
    shutil.copytree(corpus, folder)
    con = store.open_project(tmp_path / "project", create=True)
    import_folders(con, [str(folder)], workers=1)
    (folder / "stripes.png").unlink()  # deleted since the import
    with open(folder / "checker.png", "ab") as handle:
        handle.write(b"changed")  # changed since the import
    embedder = load_embedder("timm:test_vit", str(models["test_vit"]), "cpu")
    set_id = vector_sets.create_set(con, embedder)
    summary = vectorize.compute_vectors(con, set_id, embedder, workers=0, batch_size=3)
    assert (summary.done, summary.errors) == (6, 2)
    reasons = dict(
        con.execute(
            "SELECT f.rel_path, e.reason FROM vector_errors e "
            "JOIN files f ON f.image_id = e.image_id"
        ).fetchall()
    )
    assert "disappeared" in reasons["stripes.png"]
    listed_errors = vector_sets.vector_errors(con, set_id)
    assert {e.path.rsplit("/", 1)[1] for e in listed_errors} == {"stripes.png", "checker.png"}
    # pixels reads the thumbnails, but it too records files that are gone or changed.
    pixels = load_embedder("pixels")
    pixel_set = vector_sets.create_set(con, pixels)
    summary = vectorize.compute_vectors(con, pixel_set, pixels)
    assert (summary.done, summary.errors) == (6, 2)
    assert "changed since it was imported" in reasons["checker.png"]
    assert vector_sets.get_set(con, set_id).status == "complete"

    family_image("triangles", 42).save(folder / "new.png")
    import_folders(con, None, workers=1)  # the changed file is re-read, new.png is added
    listed = vector_sets.get_set(con, set_id)
    assert listed.status == "incomplete" and listed.total == 8
    summary = vectorize.compute_vectors(con, set_id, embedder, workers=0)
    assert (summary.done, summary.errors) == (2, 0)
    listed = vector_sets.get_set(con, set_id)
    assert (listed.count, listed.total, listed.errors, listed.status) == (8, 8, 0, "complete")


def test_cancel_then_resume_gives_identical_vectors(tmp_path, corpus, models):
    import threading

    con = new_project(tmp_path, corpus)
    embedder = load_embedder("timm:test_vit", str(models["test_vit"]), "cpu")
    full = vector_sets.create_set(con, embedder, batch_size=3)
    vectorize.compute_vectors(con, full, embedder, workers=0)
    part = vector_sets.create_set(con, embedder, batch_size=3)
    cancel = threading.Event()
    summary = vectorize.compute_vectors(
        con,
        part,
        embedder,
        workers=0,
        cancel=cancel,
        progress=lambda e: cancel.set() if e.done >= 3 else None,
    )
    assert summary.cancelled and vector_sets.get_set(con, part).status == "incomplete"
    assert vector_sets.get_set(con, part).count == 3
    vectorize.compute_vectors(con, part, embedder, workers=0)  # resumes with its batch size
    a, b = stored_vectors(con, full), stored_vectors(con, part)
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_registry_and_preprocessing_of_file_weights():
    from panoptui.core.models.openclip_family import preprocess_override

    assert parse_spec("clip").arch == "ViT-B-32-quickgelu"  # OpenAI weights need QuickGELU
    assert parse_spec("CLIP").pretrained == "openai"
    spec = parse_spec("open_clip:ViT-B-32/laion2b_s34b_b79k")
    assert (spec.arch, spec.pretrained) == ("ViT-B-32", "laion2b_s34b_b79k")
    assert parse_spec("open_clip:hf-hub:timm/ViT-B-16-SigLIP").arch == "hf-hub:timm/ViT-B-16-SigLIP"
    assert parse_spec("timm:resnet50.a1_in1k").arch == "resnet50.a1_in1k"
    assert parse_spec("hf:facebook/dinov2-small").family == "hf"
    for bad in ("clipp", "torch:resnet", "open_clip:"):
        with pytest.raises(ModelError, match="choose a preset|unknown model"):
            parse_spec(bad)
    # A bare checkpoint file says nothing about preprocessing: SigLIP's own is used.
    siglip = preprocess_override(parse_spec("siglip"))
    assert siglip["mean"] == (0.5, 0.5, 0.5) and siglip["resize_mode"] == "squash"
    clip = preprocess_override(parse_spec("clip"))
    assert clip["mean"][0] == pytest.approx(0.48145466) and clip["resize_mode"] == "shortest"
    assert TINY_OPEN_CLIP_PREPROCESS["mean"] == [0.5, 0.5, 0.5]


def test_clip_preset_from_a_full_size_checkpoint_file(tmp_path, corpus):
    """The default model end to end: ViT-B-32-quickgelu with random weights in a .pt file."""
    import open_clip

    torch.manual_seed(7)
    model = open_clip.create_model("ViT-B-32-quickgelu").eval()
    weights = tmp_path / "clip-random.pt"
    torch.save(model.state_dict(), weights)
    embedder = load_embedder("clip", str(weights), "cpu")
    assert (embedder.dim, embedder.embeds_text) == (512, True)
    from open_clip.transform import PreprocessCfg, image_transform_v2

    preprocess = image_transform_v2(
        PreprocessCfg(**open_clip.get_model_preprocess_cfg(model)), False
    )
    image = Image.open(corpus / "triangles.png")
    ours = embedder.embed_images(embedder.preprocessor(image.convert("RGB"))[None])
    with torch.inference_mode():
        expected = normalise(model.encode_image(preprocess(image)[None]))
    np.testing.assert_allclose(ours, expected, atol=ATOL_EXACT)
    text = embedder.embed_texts(["a diagram"])  # CLIP's tokenizer ships with open_clip
    assert text.shape == (1, 512)


# --- failures a user can cause -----------------------------------------------------------------


def offline_env(tmp_path: Path) -> dict[str, str]:
    import os

    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "empty-cache")}


def test_offline_without_weights_says_what_is_missing(tmp_path, corpus):
    import subprocess
    import sys

    con = new_project(tmp_path, corpus)
    con.close()
    project = str(tmp_path / "project")
    for model in ("clip", "mobilenet"):
        done = subprocess.run(
            [sys.executable, "-m", "panoptui", "vectors", "create", project, "--model", model],
            capture_output=True,
            text=True,
            env=offline_env(tmp_path),
            timeout=120,
        )
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith(f"panoptui: cannot load the weights for model {model}")
        assert "--weights PATH" in last and "HF_HUB_OFFLINE=1" in last
    assert json.loads(run_cli("vectors", "list", project, "--json").stdout) == []


def test_bad_models_and_weights_are_one_line_errors(tmp_path, corpus, models):
    con = new_project(tmp_path, corpus)
    con.close()
    project = str(tmp_path / "project")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    whole = (models["open_clip_dir"] / "open_clip_model.safetensors").read_bytes()
    truncated = tmp_path / "partial-download.safetensors"
    truncated.write_bytes(whole[: len(whole) // 3])
    cases = [
        (["--model", "clipp"], "unknown model 'clipp'"),
        (["--model", "timm:no_such_net"], "timm has no model"),
        (["--model", "mobilenet", "--weights", str(tmp_path / "nope.pt")], "not found"),
        (["--model", "mobilenet", "--weights", str(junk)], "cannot load weights"),
        (["--model", "mobilenet", "--weights", str(models["test_vit"])], "cannot load weights"),
        (["--model", "pixels", "--device", "cuda"], "no CUDA GPU"),
        (["--model", "pixels", "--device", "cuda:1"], "no CUDA GPU"),
        (["--model", "pixels", "--device", "tpu"], "unknown device"),
        (["--model", "pixels", "--weights", str(junk)], "has no weights"),
        (["--model", "clip", "--weights", str(truncated)], "cannot load weights"),
        (["--model", "clip", "--weights", str(junk)], "cannot load weights"),
        (["--model", "clip", "--weights", str(models["open_clip_dir"])], "another architecture"),
        (["--model", "pixels", "--batch-size", "0"], "at least 1"),
    ]
    for args, words in cases:
        done = run_cli("vectors", "create", project, *args)
        assert done.returncode in (1, 2), (args, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        assert words in done.stderr, (args, done.stderr)
    assert "no vector set 9" in run_cli("vectors", "resume", project, "9").stderr
    assert "no vector set 9" in run_cli("vectors", "delete", project, "9").stderr


def test_cli_create_list_status_delete(tmp_path, corpus):
    con = new_project(tmp_path, corpus)
    con.close()
    project = str(tmp_path / "project")
    done = run_cli("vectors", "create", project, "--model", "pixels", "--greyscale", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["done"] == 8 and summary["set"]["status"] == "complete"
    listed = json.loads(run_cli("vectors", "list", project, "--json").stdout)
    assert listed == [summary["set"]]
    for key in ("id", "model", "greyscale", "dim", "count", "total", "status"):
        assert key in listed[0]
    assert listed[0]["greyscale"] is True and listed[0]["dim"] > 0
    status = json.loads(run_cli("status", project, "--json").stdout)
    assert status["vector_sets"] == listed
    assert "pixels" in run_cli("vectors", "list", project).stdout
    assert run_cli("vectors", "delete", project, "1").returncode == 0
    assert json.loads(run_cli("vectors", "list", project, "--json").stdout) == []


# --- real processes ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def many_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("many")
    for i in range(400):
        photo(320, 240, 1000 + i).save(root / f"p{i:03d}.jpg", quality=85)
    return root


EMBEDDING = re.compile(rb"embedding (\d+)/400")


def vectors_by_image(project: Path, set_id: int) -> dict[int, np.ndarray]:
    con = store.open_project(project, read_only=True)
    try:
        rows = con.execute(f"SELECT image_id, vec FROM {store.vector_table(set_id)}").fetchall()
    finally:
        con.close()
    return {image_id: np.asarray(vec, np.float32) for image_id, vec in rows}


def test_sigkill_mid_run_then_resume_gives_the_same_vectors(tmp_path, many_images, models):
    from helpers import TerminalRun

    args = ["--model", "timm:test_vit", "--weights", str(models["test_vit"])]
    args += ["--batch-size", "16", "--workers", "1", "--device", "cpu"]
    reference = tmp_path / "reference"
    assert run_cli("import", str(reference), str(many_images)).returncode == 0
    done = run_cli("vectors", "create", str(reference), *args)
    assert done.returncode == 0, done.stderr
    expected = vectors_by_image(reference, 1)
    assert len(expected) == 400

    for kill_at in (48, 240):
        project = tmp_path / f"killed-{kill_at}"
        assert run_cli("import", str(project), str(many_images)).returncode == 0
        run = TerminalRun("vectors", "create", str(project), *args)

        def reached(output: bytes, at: int = kill_at) -> bool:
            found = EMBEDDING.findall(output)
            return bool(found) and int(found[-1]) >= at

        run.read_until(reached, timeout=300)
        assert run.kill() == -9
        listed = json.loads(run_cli("vectors", "list", str(project), "--json").stdout)
        assert listed[0]["status"] == "incomplete"
        assert kill_at <= listed[0]["count"] < 400
        resumed = run_cli("vectors", "resume", str(project), "1")  # the set's batch size
        assert resumed.returncode == 0, resumed.stderr
        got = vectors_by_image(project, 1)
        assert got.keys() == expected.keys()
        assert all(np.array_equal(got[i], expected[i]) for i in expected), kill_at
        listed = json.loads(run_cli("vectors", "list", str(project), "--json").stdout)
        assert (listed[0]["count"], listed[0]["status"]) == (400, "complete")


def test_offline_detection_is_quick_without_hf_hub_offline(tmp_path):
    """With no network and no HF_HUB_OFFLINE, the hub client would retry for most of a minute:
    panoptui probes first (here against a closed port on this machine) and goes offline."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE" and "PROXY" not in k}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{port}", HF_HOME=str(tmp_path / "cache"))
    code = (
        "from panoptui.core.models import load_embedder, ModelError\n"
        "try:\n"
        "    load_embedder('mobilenet')\n"
        "except ModelError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert "the model hub cannot be reached" in done.stdout, done.stdout + done.stderr


def test_a_version_1_project_is_migrated(tmp_path):
    import duckdb

    project = tmp_path / "old"
    project.mkdir()
    raw = duckdb.connect(str(project / store.DB_NAME))
    raw.execute("CREATE TABLE schema_meta (version INTEGER NOT NULL)")
    raw.execute("INSERT INTO schema_meta VALUES (1)")
    store.MIGRATIONS[0](raw)  # the schema as version 1 left it
    raw.execute("INSERT INTO folders (id, path) VALUES (1, '/photos')")
    raw.close()
    con = store.open_project(project, read_only=True)
    assert store.scalar(con, "SELECT version FROM schema_meta") == store.SCHEMA_VERSION
    assert con.execute("SELECT path FROM folders").fetchall() == [("/photos",)]
    assert vector_sets.list_sets(con) == []


def test_ctrl_c_while_loading_and_while_running(tmp_path, many_images, models):
    import signal

    from helpers import TerminalRun

    project = tmp_path / "project"
    assert run_cli("import", str(project), str(many_images)).returncode == 0
    args = ["--model", "timm:test_vit", "--weights", str(models["test_vit"]), "--workers", "1"]
    loading = TerminalRun("vectors", "create", str(project), *args)
    loading.read_until(lambda out: b"loading model" in out)
    loading.proc.send_signal(signal.SIGINT)
    assert loading.finish() == 130
    assert b"Traceback" not in loading.output and b"interrupted" in loading.output

    running = TerminalRun("vectors", "create", str(project), *args, "--batch-size", "8")
    running.read_until(lambda out: re.search(rb"embedding ([1-9]\d*)/", out) is not None)
    os.killpg(os.getpgid(running.proc.pid), signal.SIGINT)  # as the terminal's Ctrl-C does
    assert running.finish() == 130
    assert b"Traceback" not in running.output and b"Exception ignored" not in running.output
    assert b"panoptui vectors resume" in running.output
    listed = json.loads(run_cli("vectors", "list", str(project), "--json").stdout)
    assert listed[-1]["status"] == "incomplete" and listed[-1]["count"] > 0
