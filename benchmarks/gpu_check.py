"""The GPU check of issue 15: what panoptui's vector pipeline does on a CUDA machine, in one run.

    python benchmarks/gpu_check.py [--images 5000] [--query-n 1000000]

Prints:
- the device (GPU, memory, the half precision autocast uses);
- model-only images/s for clip, siglip, dinov2 and mobilenet (random weights loaded through
  panoptui's own loader, autocast half precision, batch 256, tensors already on the GPU);
- end-to-end images/s of ``compute_vectors`` (clip, random weights, batch 256) on generated
  1.6 MP JPEGs, with CPU decoding (worker processes, pinned memory) and with GPU decoding
  (torchvision's decode_jpeg on the GPU), and how many images fell back to the CPU path;
- the agreement of those vectors with the CPU fp32 path (cosine per image, min and mean; target
  >= 0.999);
- the cold-query time at 1,000,000 x 512 (a fresh process: ``VectorMatrix.load`` + ``top_k``),
  with the warm one after it.
It runs in under 8 minutes on a GPU server (each section prints its own time). Without CUDA it
says so in one line, runs every section on the CPU at a tiny size (so that its code runs; GPU
decoding then runs the same code with torchvision decoding on the CPU) and exits 0.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import write_photos  # noqa: E402

from panoptui.core import store, vector_sets, vectorize  # noqa: E402
from panoptui.core.models import load_embedder  # noqa: E402
from panoptui.core.scan import import_folders  # noqa: E402

MODELS = ("clip", "siglip", "dinov2", "mobilenet")


def section(title: str):
    started = time.perf_counter()
    print(f"\n== {title}", flush=True)
    return lambda: print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)


def random_weights(name: str, folder: Path) -> Path:
    """A checkpoint of the preset's architecture with random weights (no download)."""
    path = folder / f"{name}.pt"
    if path.exists():
        return path
    torch.manual_seed(0)
    if name in ("clip", "siglip"):
        import open_clip

        arch = {"clip": "ViT-B-32-quickgelu", "siglip": "ViT-B-16-SigLIP"}[name]
        model = open_clip.create_model(arch)
    else:
        import timm

        arch = {"dinov2": "vit_small_patch14_dinov2", "mobilenet": "mobilenetv3_large_100"}[name]
        model = timm.create_model(arch, pretrained=False)
    torch.save(model.state_dict(), path)
    return path


def input_shape(embedder) -> tuple[int, ...]:
    from PIL import Image

    side = embedder.preprocessor.input_size
    return tuple(embedder.preprocessor(Image.new("RGB", (side, side))).shape)


def model_only(embedder, batch_size: int, batches: int) -> float:
    batch = torch.randn(batch_size, *input_shape(embedder), device=embedder.device)
    for _ in range(2):  # warm-up: kernels chosen, memory pooled
        embedder.embed_images(batch)
    if embedder.device.startswith("cuda"):
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(batches):
        embedder.embed_images(batch)  # returns numpy: synchronised
    return batch_size * batches / (time.perf_counter() - started)


def describe_device(cuda: bool) -> str:
    if not cuda:
        return f"cpu ({torch.get_num_threads()} threads), torch {torch.__version__}"
    props = torch.cuda.get_device_properties(0)
    half = "bf16" if props.major >= 8 else "fp16"
    return (
        f"cuda: {props.name}, {props.total_memory / 2**30:.0f} GiB, compute capability "
        f"{props.major}.{props.minor}, autocast {half}; torch {torch.__version__}"
    )


def cold_query(project: Path) -> dict[str, float]:
    """Run in a fresh process: the set's matrix loaded, then one query, as `similar` does."""
    from panoptui.core.query import VectorMatrix

    started = time.perf_counter()
    con = store.open_project(project, read_only=True)
    opened = time.perf_counter()
    matrix = VectorMatrix.load(con, 1)
    loaded = time.perf_counter()
    query = matrix.vector(len(matrix) // 2)
    hits = matrix.top_k(query, 20)
    first = time.perf_counter()
    matrix.top_k(matrix.vector(7), 20)
    second = time.perf_counter()
    return {
        "rows": float(len(matrix)),
        "open_s": opened - started,
        "load_s": loaded - opened,
        "first_query_s": first - loaded,
        "cold_total_s": first - started,
        "warm_query_s": second - first,
        "top_score": hits[0][1] if hits else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--images", type=int, default=None, help="default: 5000 (CPU: 24)")
    parser.add_argument("--query-n", type=int, default=None, help="default: 1M (CPU: 20k)")
    parser.add_argument("--cold-query", metavar="PROJECT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold_query:
        print(json.dumps(cold_query(Path(args.cold_query))))
        return

    begun = time.perf_counter()
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    if not cuda:
        print("no CUDA GPU here: running every check on the CPU at a tiny size (not GPU figures)")
    images = args.images or (5000 if cuda else 24)
    size = (1600, 1000) if cuda else (480, 320)
    batch, batches = (256, 20) if cuda else (2, 1)
    run_batch = 256 if cuda else 8
    query_n = args.query_n or (1_000_000 if cuda else 20_000)
    root = Path(tempfile.mkdtemp(prefix="panoptui-gpu-check-"))
    try:
        done = section("device")
        print("   " + describe_device(cuda))
        done()

        done = section(f"model only: images/s, random weights, batch {batch}, {device}")
        weights = root / "weights"
        weights.mkdir()
        for name in MODELS:
            embedder = load_embedder(name, str(random_weights(name, weights)), device)
            rate = model_only(embedder, batch, batches)
            print(f"   {name:<10} {rate:9.1f} images/s  (input {input_shape(embedder)})")
            del embedder
            if cuda:
                torch.cuda.empty_cache()
        done()

        done = section(f"end to end: {images} generated {size[0]}x{size[1]} JPEGs, clip")
        photos = root / "photos"
        write_photos(photos, images, size)
        con = store.open_project(root / "project", create=True)
        import_folders(con, [str(photos)])
        clip = load_embedder("clip", str(weights / "clip.pt"), device)
        sets = {}
        for label, gpu_decode in (("CPU decoding", False), ("GPU decoding", True)):
            set_id = vector_sets.create_set(con, clip, batch_size=run_batch)
            summary = vectorize.compute_vectors(con, set_id, clip, gpu_decode=gpu_decode)
            sets[label] = set_id
            print(
                f"   {label}: {summary.done / summary.seconds:8.1f} images/s ({summary.done} "
                f"images, {summary.errors} errors, {summary.cpu_fallbacks} took the CPU path; "
                f"waited for decoding "
                f"{summary.decode_wait_seconds:.1f} s, model {summary.model_seconds:.1f} s, "
                f"model waited on the writer {summary.model_waited_on_writer_seconds:.2f} s)"
            )
        done()

        done = section("agreement with the CPU fp32 path (cosine per image)")
        cpu_clip = load_embedder("clip", str(weights / "clip.pt"), "cpu")
        items = vectorize.pending_images(con, vector_sets.create_set(con, cpu_clip))
        sample = items[: min(len(items), 256 if cuda else 16)]
        reference: dict[int, np.ndarray] = {}
        for ids, tensors, _ in vectorize.batch_loader(
            con, sample, 32, cpu_clip, False, gpu_decode=False
        ):
            for image_id, vector in zip(ids, cpu_clip.embed_images(tensors), strict=True):
                reference[image_id] = vector
        for label, set_id in sets.items():
            rows = dict(
                con.execute(
                    f"SELECT image_id, vec FROM {store.vector_table(set_id)} "
                    "WHERE image_id IN (SELECT unnest(?::BIGINT[]))",
                    [list(reference)],
                ).fetchall()
            )
            cosines = np.array([float(np.dot(rows[i], reference[i])) for i in reference])
            print(
                f"   {device} + {label} vs CPU fp32: min {cosines.min():.5f}, mean "
                f"{cosines.mean():.5f} over {len(cosines)} images (target >= 0.999)"
            )
        con.close()
        done()

        done = section(f"cold query at {query_n:,} x 512 (a fresh process)")
        from query_bench import build_project

        started = time.perf_counter()
        build_project(root / "big", query_n, 512)
        print(f"   project built in {time.perf_counter() - started:.1f} s")
        cold = subprocess.run(
            [sys.executable, __file__, "--cold-query", str(root / "big")],
            capture_output=True,
            text=True,
            check=False,
        )
        if cold.returncode != 0:
            print("   cold query failed: " + (cold.stderr.strip().splitlines() or ["?"])[-1])
        else:
            figures = json.loads(cold.stdout.strip().splitlines()[-1])
            print(
                f"   cold: {figures['cold_total_s']:.2f} s (open {figures['open_s']:.2f}, load "
                f"{figures['load_s']:.2f}, first top-k {figures['first_query_s']:.3f}); warm "
                f"top-k {figures['warm_query_s'] * 1000:.1f} ms; {figures['rows']:,.0f} rows"
            )
        done()
        print(f"\ntotal {time.perf_counter() - begun:.0f} s (target: under 480 s)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
