"""The demo project: a synthetic corpus made by code, imported, with pixels vectors (no model to
download), so that a newcomer sees the whole tool in seconds, offline."""

from __future__ import annotations

from pathlib import Path

from panoptui.core import store, vectorize
from panoptui.core.progress import ProgressCallback
from panoptui.core.samples import write_samples
from panoptui.core.scan import import_folders

IMAGES_PER_FAMILY = 50  # 6 families: 300 images
# Each family keeps a band of hues, so that the demo's pixels vectors group families visibly.
HUE_SPREAD = 0.12


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
        if any(s.status == vectorize.COMPLETE for s in vectorize.list_sets(con)):
            return project
        if not images.is_dir():
            try:
                write_samples(images, per_family=per_family, hue_spread=HUE_SPREAD)
            except OSError as exc:
                raise store.ProjectError(
                    f"cannot write the demo to {root}: {exc.strerror}"
                ) from None
        import_folders(con, [str(images)], progress=progress)
        embedder = load_embedder("pixels")
        existing = [s for s in vectorize.list_sets(con) if s.model == "pixels"]
        set_id = existing[0].id if existing else vectorize.create_set(con, embedder)
        vectorize.compute_vectors(con, set_id, embedder, progress=progress)
        vectorize.set_default(con, set_id)
    finally:
        con.close()
    return project
