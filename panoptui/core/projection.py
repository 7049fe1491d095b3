"""2-D maps of a vector set: PCA (deterministic, any size) or t-SNE (up to 20,000 images), saved
per set, and drawn to a PNG with Pillow, coloured by cluster or tag. A drawing is written like
an export (export.write_beside): never over an existing file without --force, never through a
symbolic link, never left half-written.

A map is a job: reading the vectors and PCA's blocks are progress steps and cancel checks
(Cancelled: nothing saved). sklearn's t-SNE has no callback and runs minutes at 20,000 images:
it runs in a child process, which a cancel terminates, and whose progress (its iterations) is
read from what sklearn prints when verbose.
"""

from __future__ import annotations

import colorsys
import io
import multiprocessing
import os
import re
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from panoptui.core import store
from panoptui.core.export import check_target, write_beside
from panoptui.core.progress import ProgressCallback, Stage, check_cancel, no_progress
from panoptui.core.query import VectorMatrix
from panoptui.core.text import shown
from panoptui.core.workers import children_ignore_interrupts, init_worker, start_resource_tracker

TSNE_LIMIT = 20_000
TSNE_ITERATIONS = 1000  # sklearn's default max_iter: its progress counts up to it
# Rows per block of PCA, each a progress step and a cancel check: a block's covariance is
# 2 x rows x dim^2 operations (measured: 65,536 rows of 512 took 2.2 s on two busy cores).
PCA_BLOCK = 16_384
POLL_SECONDS = 0.2  # how often the wait for the t-SNE child checks the cancel event


def pca_2d(
    vectors: np.ndarray,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """The two leading principal components, from the covariance built block by block (no copy
    of the matrix), signs fixed so the same vectors always give the same map. Progress counts
    the rows read twice: once for the covariance, once to project them."""
    mean = vectors.mean(axis=0, dtype=np.float64)
    cov = np.zeros((vectors.shape[1],) * 2)
    stage = Stage(progress, "PCA", 2 * len(vectors))
    for start in range(0, len(vectors), PCA_BLOCK):
        check_cancel(cancel)
        block = vectors[start : start + PCA_BLOCK].astype(np.float64) - mean
        cov += block.T @ block
        stage.step(start + len(block))
    _, eigenvectors = np.linalg.eigh(cov)
    axes = eigenvectors[:, ::-1][:, :2]
    axes *= np.where(axes[np.abs(axes).argmax(axis=0), [0, 1]] < 0, -1.0, 1.0)
    out = np.empty((len(vectors), 2), np.float32)
    for start in range(0, len(vectors), PCA_BLOCK):
        check_cancel(cancel)
        out[start : start + PCA_BLOCK] = (vectors[start : start + PCA_BLOCK] - mean) @ axes
        stage.step(len(vectors) + min(start + PCA_BLOCK, len(vectors)))
    return out


def tsne_2d(
    vectors: np.ndarray,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """t-SNE in a child process (``_tsne_in_child``): progress counts its iterations, and a
    cancel terminates it (Cancelled) within POLL_SECONDS."""
    if len(vectors) > TSNE_LIMIT:
        raise store.ProjectError(
            f"t-SNE is for up to {TSNE_LIMIT} images ({len(vectors)} here); use --method pca, "
            "or map a tag's images"
        )
    perplexity = float(min(30, max(2, (len(vectors) - 1) // 3)))
    stage = Stage(progress, "t-SNE", TSNE_ITERATIONS)
    ctx = multiprocessing.get_context("spawn")  # as the import's workers: no forked threads
    start_resource_tracker()
    receive, send = ctx.Pipe(duplex=False)
    with children_ignore_interrupts():
        child = ctx.Process(
            target=_tsne_in_child, args=(vectors, perplexity, send), daemon=True, name="t-SNE"
        )
        child.start()
    send.close()  # the child's end: reading gives EOFError once the child is gone
    try:
        while True:
            check_cancel(cancel)
            if not receive.poll(POLL_SECONDS):
                continue
            try:
                kind, value = receive.recv()
            except EOFError:
                raise store.ProjectError(
                    f"t-SNE stopped (exit code {child.exitcode}): out of memory? "
                    "Use --method pca, or map fewer images"
                ) from None
            if kind == "iteration":
                stage.step(value)
            elif kind == "error":
                raise store.ProjectError(f"t-SNE failed: {value}")
            else:
                stage.finish()
                return np.asarray(value, np.float32)
    finally:
        if child.is_alive():
            child.terminate()
        child.join(5)
        receive.close()


class _IterationReporter(io.TextIOBase):
    """The child's stdout: sklearn's verbose lines ("[t-SNE] Iteration 50: ...") become
    iteration counts sent to the parent; nothing reaches a terminal."""

    def __init__(self, send: Connection) -> None:
        self.send = send

    def write(self, text: str) -> int:
        for found in re.finditer(r"\[t-SNE\] Iteration (\d+)", text):
            self.send.send(("iteration", int(found.group(1))))
        return len(text)


def _tsne_in_child(vectors: np.ndarray, perplexity: float, send: Connection) -> None:
    from sklearn.manifold import TSNE

    init_worker()  # silent (stderr), ignores Ctrl-C, dies with its parent
    # Nothing on the terminal's stdout either (the TUI draws there): Python's prints go to the
    # parent, anything the C libraries write goes nowhere.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.stdout = _IterationReporter(send)
    result: tuple[str, Any]
    try:
        model = TSNE(
            2, init="pca", random_state=0, perplexity=perplexity, metric="cosine",
            max_iter=TSNE_ITERATIONS, verbose=2,
        )  # fmt: skip
        result = ("points", model.fit_transform(vectors).astype(np.float32))
    except Exception as exc:  # said by the parent, in one line
        result = ("error", f"{type(exc).__name__}: {exc}")
    send.send(result)


def compute_map(
    con: duckdb.DuckDBPyConnection,
    set_id: int,
    method: str = "pca",
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Compute and save a set's map; returns (image ids, (N, 2) coordinates). ``cancel`` set:
    Cancelled at the next check, and the map saved before (if any) is kept."""
    if method not in ("pca", "tsne"):
        raise store.ProjectError(f"unknown map method {method!r}; choose pca or tsne")
    matrix = VectorMatrix.load(con, set_id, progress, cancel)
    if len(matrix) < 3:
        raise store.ProjectError("a map needs at least 3 images with vectors")
    if method == "pca":
        points = pca_2d(matrix.vectors, progress, cancel)
    else:
        points = tsne_2d(matrix.vectors, progress, cancel)
    check_cancel(cancel)  # saving is one transaction: the old map stays whole, or the new one
    with store.transaction(con):
        con.execute("DELETE FROM map_points WHERE set_id = ? AND method = ?", [set_id, method])
        store.insert_arrow(
            con,
            "INSERT INTO map_points SELECT * FROM batch",
            pa.table(
                {
                    "set_id": pa.array(np.full(len(matrix), set_id, np.int32)),
                    "method": pa.array([method] * len(matrix)),
                    "image_id": pa.array(matrix.ids),
                    "x": pa.array(points[:, 0]),
                    "y": pa.array(points[:, 1]),
                }
            ),
        )
    return matrix.ids, points


def coloured_map(
    con: duckdb.DuckDBPyConnection,
    set_id: int,
    method: str = "pca",
    *,
    by_clustering: str | None = None,
    by_tag: str | None = None,
    newest_clustering: bool = False,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compute and save a set's map, and group its dots for colouring: by the clusters of a
    clustering, by the tags under a tag (the tag itself if it has none), or (with
    ``newest_clustering``) by the set's newest clustering if it has one. Returns (image ids,
    (N, 2) coordinates, each image's group: -1 for none)."""
    from panoptui.core import cluster, tags

    ids, points = compute_map(con, set_id, method, progress, cancel)
    groups = np.full(len(ids), -1)
    if by_clustering is None and newest_clustering:
        by_clustering = cluster.newest_clustering(con, set_id)
    if by_clustering:
        for c in cluster.load_clustering(con, by_clustering):
            groups[np.isin(ids, c.ids)] = c.label
    elif by_tag:
        parent = tags.clean_name(by_tag)
        for n, name in enumerate(tags.child_tags(con, parent) or [parent]):
            groups[np.isin(ids, tags.tag_members(con, name))] = n
    return ids, points, groups


def palette(n: int) -> list[tuple[int, int, int]]:
    colours = []
    for i in range(n):
        r, g, b = colorsys.hsv_to_rgb((i * 0.618034) % 1, 0.75, 0.95)
        colours.append((int(255 * r), int(255 * g), int(255 * b)))
    return colours


def check_png_target(path: str, force: bool = False) -> Path:
    """Where a drawing goes, checked before any work: a .png name, not an existing file (or
    link) unless ``force``, in a folder that exists."""
    return check_target(path, (".png",), force, "the map")


def draw_png(
    path: str,
    points: np.ndarray,
    groups: np.ndarray | None = None,
    size: int = 1024,
    force: bool = False,
) -> None:
    """A scatter of the map: one dot per image, coloured by group (-1: grey, ungrouped)."""
    from PIL import Image, ImageDraw

    target = check_png_target(path, force)

    image = Image.new("RGB", (size, size), (20, 20, 24))
    draw = ImageDraw.Draw(image)
    margin = 24
    lo, hi = points.min(axis=0), points.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    xy = margin + (points - lo) / span * (size - 2 * margin)
    labels = groups if groups is not None else np.full(len(points), -1)
    colours = palette(int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0)
    radius = 3 if len(points) < 5_000 else 1
    for (x, y), label in zip(xy, labels, strict=True):
        colour = colours[label] if label >= 0 else (150, 150, 150)
        draw.ellipse([x - radius, size - y - radius, x + radius, size - y + radius], fill=colour)
    try:
        write_beside(target, lambda temp: image.save(temp, format="PNG"))
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise store.ProjectError(f"cannot write {shown(path)}: {reason}") from None
