"""The demo project: a synthetic corpus made by code, imported, with pixels vectors (no model to
download), so that a newcomer sees the whole tool in seconds, offline.

A demo killed at any point is finished by the next run: samples are renamed into place only once
written whole, completion is recorded in the project only at the very end, and even then the
corpus is checked (every sample on disk and imported, every image with a vector) before a run
is skipped.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from panoptui.core import store, vector_sets, vectorize
from panoptui.core.progress import ProgressCallback
from panoptui.core.samples import sample_paths, write_samples
from panoptui.core.scan import import_folders

IMAGES_PER_FAMILY = 50  # 6 families: 300 images
# Each family keeps a band of hues, so that the demo's pixels vectors group families visibly.
HUE_SPREAD = 0.12
# Project setting written last: the number of images per family of the finished demo.
COMPLETE_KEY = "demo_complete"


def demo_is_complete(con: duckdb.DuckDBPyConnection, images: Path, per_family: int) -> bool:
    """Whether the demo was finished, and still is: its samples all on disk and imported, and a
    complete pixels vector set holding every one of them."""
    if store.get_setting(con, COMPLETE_KEY) != str(per_family):
        return False
    expected = sample_paths(images, per_family)
    if not all(path.is_file() for path in expected):
        return False
    imported = int(store.scalar(con, "SELECT count(*) FROM files WHERE state = 'ok'") or 0)
    return imported >= len(expected) and any(
        s.model == "pixels" and s.status == vector_sets.COMPLETE and s.count == s.total
        for s in vector_sets.list_sets(con)
    )


def build_demo(
    root: str | Path,
    per_family: int = IMAGES_PER_FAMILY,
    progress: ProgressCallback | None = None,
) -> Path:
    """Make (or finish) the demo below ``root`` and return its project folder. Safe to run again:
    a complete demo is left as it is; an interrupted one is finished."""
    from panoptui.core.models import load_embedder

    root = Path(root).expanduser().absolute()
    images, project = root / "images", root / "project"
    con = store.open_project(project, create=True)
    try:
        if demo_is_complete(con, images, per_family):
            return project
        try:
            # Samples already written are whole (renamed into place): only the rest are made.
            write_samples(images, per_family=per_family, hue_spread=HUE_SPREAD, skip_existing=True)
        except OSError as exc:
            raise store.ProjectError(f"cannot write the demo to {root}: {exc.strerror}") from None
        import_folders(con, [str(images)], progress=progress)
        embedder = load_embedder("pixels")
        existing = [s for s in vector_sets.list_sets(con) if s.model == "pixels"]
        set_id = existing[0].id if existing else vector_sets.create_set(con, embedder)
        vectorize.compute_vectors(con, set_id, embedder, progress=progress)
        vector_sets.set_default(con, set_id)
        store.set_setting(con, COMPLETE_KEY, str(per_family))
    finally:
        con.close()
    return project
