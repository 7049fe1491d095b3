"""Inline images with textual-image: which renderer draws them, and thumbnails from the store.

textual-image probes the terminal (sixel? kitty graphics?) when it is imported, which is only
possible before Textual takes the terminal over: ``prepare()`` runs before ``App.run()``."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image as PILImage

PROTOCOLS = ("auto", "kitty", "sixel", "halfcell", "none")


def prepare(protocol: str) -> type[Any] | None:
    """The widget class that draws images with ``protocol`` (None: no images at all)."""
    if protocol == "none":
        return None
    from textual_image import widget

    return {
        "auto": widget.Image,
        "kitty": widget.TGPImage,
        "sixel": widget.SixelImage,
        "halfcell": widget.HalfcellImage,
    }[protocol]


def open_thumbnail(jpeg: bytes) -> PILImage.Image | None:
    """A stored thumbnail as a PIL image (decoded now, so that drawing never touches the file)."""
    try:
        img = PILImage.open(io.BytesIO(jpeg))
        img.load()
        return img
    except (OSError, ValueError):
        return None
