"""2-D maps of a vector set: PCA (deterministic, any size), t-SNE (up to 20,000 images) or UMAP
(umap-learn, the optional extra ``map``), saved per set; coloured by a clustering of the same set
or a tag family (``colouring``: groups, names and counts for a legend), and drawn to a PNG with
Pillow in the map screen's colours, with that legend. A drawing is written like an export
(export.write_beside): never over an existing file without --force, never through a symbolic
link, never left half-written.

A map is a job: reading the vectors and PCA's blocks are progress steps and cancel checks
(Cancelled: nothing saved). sklearn's t-SNE has no callback and runs minutes at 20,000 images,
UMAP likewise: each runs in a child process, which a cancel terminates, and whose progress (its
iterations, its epochs) is read from what it writes (sklearn's verbose lines, UMAP's tqdm bar).
"""

from __future__ import annotations

import colorsys
import io
import multiprocessing
import os
import re
import sys
import threading
from dataclasses import dataclass
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
        # The product in float32, summed in float64: float64 blocks took 4.7 s at 100k x 512
        # against 0.4 s (measured, two cores), and the two leading axes do not move.
        block = vectors[start : start + PCA_BLOCK] - mean.astype(np.float32)
        cov += block.T @ block
        stage.step(start + len(block))
    _, eigenvectors = np.linalg.eigh(cov)
    axes = eigenvectors[:, ::-1][:, :2]
    axes *= np.where(axes[np.abs(axes).argmax(axis=0), [0, 1]] < 0, -1.0, 1.0)
    out = np.empty((len(vectors), 2), np.float32)
    for start in range(0, len(vectors), PCA_BLOCK):
        check_cancel(cancel)
        block = vectors[start : start + PCA_BLOCK] - mean.astype(np.float32)
        out[start : start + PCA_BLOCK] = block @ axes.astype(np.float32)
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
    return _in_child("t-SNE", _tsne_in_child, (vectors, perplexity), stage, cancel)


def umap_epochs(images: int) -> int:
    """umap-learn's own default number of epochs (fewer for large sets), given explicitly so
    that the progress knows its total."""
    return 500 if images <= 10_000 else 200


def umap_2d(
    vectors: np.ndarray,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """UMAP (umap-learn, the optional extra ``map``) in a child process, as t-SNE: progress
    counts its epochs, and a cancel terminates it."""
    import importlib.util

    if importlib.util.find_spec("umap") is None:
        raise store.ProjectError(
            "UMAP needs umap-learn, which is not installed: pip install 'panoptui[map]' "
            "(or use --method pca)"
        )
    epochs = umap_epochs(len(vectors))
    stage = Stage(progress, "UMAP", epochs)
    return _in_child("UMAP", _umap_in_child, (vectors, epochs), stage, cancel)


def _in_child(
    name: str, target: Any, args: tuple[Any, ...], stage: Stage, cancel: threading.Event | None
) -> np.ndarray:
    """Run ``target(*args, send)`` in a child process: it sends ("step", n) as it goes (and
    ("stage", (name, total)) as a new stage begins), then ("points", array) or ("error", one
    line). A cancel terminates it within POLL_SECONDS."""
    ctx = multiprocessing.get_context("spawn")  # as the import's workers: no forked threads
    start_resource_tracker()
    receive, send = ctx.Pipe(duplex=False)
    with children_ignore_interrupts():
        child = ctx.Process(target=target, args=(*args, send), daemon=True, name=name)
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
                    f"{name} stopped (exit code {child.exitcode}): out of memory? "
                    "Use --method pca, or map fewer images"
                ) from None
            if kind == "step":
                stage.step(value)
            elif kind == "stage":  # a new counted stage begins (its name, its total)
                stage.finish()
                stage = Stage(stage.progress, *value)
            elif kind == "error":
                raise store.ProjectError(f"{name} failed: {value}")
            else:
                stage.finish()
                return np.asarray(value, np.float32)
    finally:
        if child.is_alive():
            child.terminate()
        child.join(5)
        receive.close()


class _StepReporter(io.TextIOBase):
    """What a child writes as it goes (sklearn's verbose lines, a tqdm bar): each count that
    ``pattern`` finds is sent to the parent as a step; nothing reaches a terminal."""

    def __init__(self, send: Connection, pattern: str) -> None:
        self.send = send
        self.pattern = re.compile(pattern)

    def write(self, text: str) -> int:
        for found in self.pattern.finditer(text):
            self.send.send(("step", int(found.group(1))))
        return len(text)


def _quiet_child() -> None:
    """Silent (stderr), ignores Ctrl-C, dies with its parent, and nothing on the terminal's
    stdout either (the TUI draws there): anything the C libraries write goes nowhere."""
    init_worker()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def _tsne_in_child(vectors: np.ndarray, perplexity: float, send: Connection) -> None:
    from sklearn.manifold import TSNE

    _quiet_child()
    sys.stdout = _StepReporter(send, r"\[t-SNE\] Iteration (\d+)")  # its verbose lines
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


class _UmapReporter(io.TextIOBase):
    """umap-learn's verbose lines, as stages: its nearest-neighbour descent ("NN descent for 14
    iterations", then "1 / 14" ...), then the layout's epochs (its tqdm bar, "n/total")."""

    def __init__(self, send: Connection, epochs: int) -> None:
        self.send, self.epochs = send, epochs

    def write(self, text: str) -> int:
        if found := re.search(r"NN descent for (\d+) iterations", text):
            self.send.send(("stage", ("UMAP: nearest neighbours", int(found.group(1)))))
        elif "Construct embedding" in text:
            self.send.send(("stage", ("UMAP: layout", self.epochs)))
        else:
            for found in re.finditer(r"(\d+)\s*/\s*\d+", text):
                self.send.send(("step", int(found.group(1))))
        return len(text)


def _umap_in_child(vectors: np.ndarray, epochs: int, send: Connection) -> None:
    _quiet_child()
    result: tuple[str, Any]
    try:
        import umap

        reporter = _UmapReporter(send, epochs)
        sys.stdout = reporter  # its verbose lines (print)
        # Its epochs bar (tqdm) written as "n/total" lines; disable=False keeps the bar.
        tqdm_kwds = {"file": reporter, "disable": False, "mininterval": 0.2,
                     "bar_format": "{n}/{total}\n"}  # fmt: skip
        model = umap.UMAP(
            n_components=2, n_neighbors=min(15, len(vectors) - 1), metric="cosine",
            n_epochs=epochs, random_state=0, init="spectral" if len(vectors) > 20 else "random",
            tqdm_kwds=tqdm_kwds, verbose=True,
        )  # fmt: skip
        result = ("points", np.asarray(model.fit_transform(vectors), np.float32))
    except Exception as exc:  # said by the parent, in one line
        result = ("error", f"{type(exc).__name__}: {exc}")
    send.send(result)


METHODS = {"pca": pca_2d, "tsne": tsne_2d, "umap": umap_2d}


def compute_map(
    con: duckdb.DuckDBPyConnection,
    set_id: int,
    method: str = "pca",
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Compute and save a set's map; returns (image ids, (N, 2) coordinates). ``cancel`` set:
    Cancelled at the next check, and the map saved before (if any) is kept."""
    if method not in METHODS:
        raise store.ProjectError(f"unknown map method {method!r}; choose pca, tsne or umap")
    matrix = VectorMatrix.load(con, set_id, progress, cancel)
    if len(matrix) < 3:
        raise store.ProjectError("a map needs at least 3 images with vectors")
    points = METHODS[method](matrix.vectors, progress, cancel)
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


@dataclass
class Colouring:
    """What a map's dots are coloured by: each image's group (-1: none), the groups' names (a
    cluster label or a tag) and what was chosen (``title``: "clustering c3", "tags under kind",
    or "nothing")."""

    groups: np.ndarray
    names: list[str]
    title: str

    def legend(self) -> list[tuple[int, str, int]]:
        """(group, name, images) for each group with images on the map, then the ungrouped."""
        counts = np.bincount(self.groups[self.groups >= 0], minlength=len(self.names))
        rows = [(g, name, int(counts[g])) for g, name in enumerate(self.names) if counts[g]]
        ungrouped = int((self.groups < 0).sum())
        return rows + ([(-1, "none", ungrouped)] if ungrouped else [])


def colour_choices(con: duckdb.DuckDBPyConnection, set_id: int) -> list[tuple[str, str]]:
    """What a map of the set can be coloured by: ("clustering", name) for the set's own
    clusterings, newest first (another set's clusters would leave most dots grey), then
    ("tag", name) for each tag that has tags under it."""
    from panoptui.core import tags

    clusterings = con.execute(
        "SELECT name FROM clusterings WHERE set_id = ? ORDER BY id DESC", [set_id]
    ).fetchall()
    families = sorted({t.parent for t in tags.list_tags(con) if t.parent}, key=tags.natural_key)
    return [("clustering", str(r[0])) for r in clusterings] + [("tag", f) for f in families]


def colouring(
    con: duckdb.DuckDBPyConnection,
    set_id: int,
    ids: np.ndarray,
    *,
    by_clustering: str | None = None,
    by_tag: str | None = None,
    newest_clustering: bool = False,
) -> Colouring:
    """Group a map's images for colouring: by the clusters of a clustering, by the tags under a
    tag (the tag itself if it has none), or (with ``newest_clustering``) by the set's newest
    clustering if it has one."""
    from panoptui.core import cluster, tags

    groups = np.full(len(ids), -1)
    if by_clustering is None and by_tag is None and newest_clustering:
        by_clustering = cluster.newest_clustering(con, set_id)
    if by_clustering:
        clusters = cluster.load_clustering(con, by_clustering)
        for n, c in enumerate(clusters):
            groups[np.isin(ids, c.ids)] = n
        names = [f"cluster {c.label}" for c in clusters]
        return Colouring(groups, names, f"clustering {by_clustering}")
    if by_tag:
        parent = tags.clean_name(by_tag)
        names = tags.child_tags(con, parent) or [parent]
        for n, name in enumerate(names):
            groups[np.isin(ids, tags.tag_members(con, name))] = n
        return Colouring(groups, names, f"tags under {parent}")
    return Colouring(groups, [], "nothing")


def map_with_colours(
    con: duckdb.DuckDBPyConnection,
    set_id: int,
    method: str = "pca",
    *,
    by_clustering: str | None = None,
    by_tag: str | None = None,
    newest_clustering: bool = False,
    progress: ProgressCallback = no_progress,
    cancel: threading.Event | None = None,
) -> tuple[np.ndarray, np.ndarray, Colouring]:
    """Compute and save a set's map, and its colouring (``colouring``). Returns (image ids,
    (N, 2) coordinates, colouring)."""
    ids, points = compute_map(con, set_id, method, progress, cancel)
    found = colouring(
        con, set_id, ids, by_clustering=by_clustering, by_tag=by_tag,
        newest_clustering=newest_clustering,
    )  # fmt: skip
    return ids, points, found


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
    """``map_with_colours``, with each image's group (-1: none) for the colouring."""
    ids, points, found = map_with_colours(
        con, set_id, method, by_clustering=by_clustering, by_tag=by_tag,
        newest_clustering=newest_clustering, progress=progress, cancel=cancel,
    )  # fmt: skip
    return ids, points, found.groups


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


# The legend of a drawing, in its top left corner: a swatch and a line per group.
LEGEND_MARGIN, LEGEND_ROW, LEGEND_SWATCH = 12, 20, 12
LEGEND_ROWS = 24  # more groups than this: the first ones (a legend is not a list)
UNGROUPED = (150, 150, 150)


def draw_png(
    path: str,
    points: np.ndarray,
    groups: np.ndarray | Colouring | None = None,
    size: int = 1024,
    force: bool = False,
) -> None:
    """A scatter of the map: one dot per image, coloured by group (-1: grey, ungrouped) in the
    colours of the map screen (``palette``), with a legend (colour, name, images) when given a
    Colouring."""
    from PIL import Image, ImageDraw, ImageFont

    target = check_png_target(path, force)

    image = Image.new("RGB", (size, size), (20, 20, 24))
    draw = ImageDraw.Draw(image)
    margin = 24
    lo, hi = points.min(axis=0), points.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    xy = margin + (points - lo) / span * (size - 2 * margin)
    found = groups if isinstance(groups, Colouring) else None
    labels: np.ndarray
    if isinstance(groups, Colouring):
        labels = groups.groups
    else:
        labels = groups if groups is not None else np.full(len(points), -1)
    colours = palette(int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0)
    radius = 3 if len(points) < 5_000 else 1
    for (x, y), label in zip(xy, labels, strict=True):
        colour = colours[label] if label >= 0 else UNGROUPED
        draw.ellipse([x - radius, size - y - radius, x + radius, size - y + radius], fill=colour)
    if found is not None:
        font = ImageFont.load_default(14)
        rows = [(None, found.title, len(labels))] + found.legend()[:LEGEND_ROWS]
        width = (
            2 * LEGEND_MARGIN
            + LEGEND_SWATCH
            + 8
            + max(int(draw.textlength(f"{shown(name)}  {n}", font=font)) for _, name, n in rows)
        )
        draw.rectangle([0, 0, width, 2 * LEGEND_MARGIN + LEGEND_ROW * len(rows)], fill=(20, 20, 24))
        for row, (group, name, n) in enumerate(rows):
            top = LEGEND_MARGIN + row * LEGEND_ROW
            text_x = LEGEND_MARGIN + LEGEND_SWATCH + 8
            if group is not None:
                swatch = colours[group] if group >= 0 else UNGROUPED
                draw.rectangle(
                    [LEGEND_MARGIN, top, LEGEND_MARGIN + LEGEND_SWATCH, top + LEGEND_SWATCH],
                    fill=swatch,
                )
            else:
                text_x = LEGEND_MARGIN
            draw.text((text_x, top - 2), f"{shown(name)}  {n}", fill=(230, 230, 230), font=font)
    try:
        write_beside(target, lambda temp: image.save(temp, format="PNG"))
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise store.ProjectError(f"cannot write {shown(path)}: {reason}") from None
