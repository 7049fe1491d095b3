"""Project settings a user can change (the Settings screen; the CLI reads them as defaults):
stored as text in the project's settings table, checked on the way in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from panoptui.core import store
from panoptui.core.models.base import DEVICE_NAME
from panoptui.core.read_worker import DEFAULT_THUMB_SIZE
from panoptui.core.vector_sets import DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE

IMAGE_PROTOCOLS = ("auto", "kitty", "sixel", "halfcell", "none")
# The sizes of the Results grid's tiles, smallest first (`+`/`-` on Results step through them;
# the terminal app owns what each is in cells). "tiny" fits 24 images at 80x24.
TILE_SIZES = ("tiny", "small", "medium", "large", "huge", "giant")

# key: (default, what it is).
SETTINGS: dict[str, tuple[Any, str]] = {
    "device": ("auto", "where models run: auto, cpu, cuda, cuda:N or mps"),
    "batch_size": (DEFAULT_BATCH_SIZE, "images per model batch for new vector sets"),
    "thumb_size": (DEFAULT_THUMB_SIZE, "longest side of thumbnails made at import, in pixels"),
    "image_protocol": ("auto", "how the app draws images: " + ", ".join(IMAGE_PROTOCOLS)),
    "tile_size": ("medium", "size of the Results grid's tiles: " + ", ".join(TILE_SIZES)),
}


def check(key: str, value: Any) -> Any:
    """The value, typed, or ProjectError with a one-line reason."""
    text = str(value).strip().lower()
    if key == "device":
        if not DEVICE_NAME.match(text):
            raise store.ProjectError(f"device {value!r}: choose auto, cpu, cuda, cuda:N or mps")
        return text
    if key in ("batch_size", "thumb_size"):
        low, high = (1, MAX_BATCH_SIZE) if key == "batch_size" else (32, 1024)
        if not text.isdigit() or not low <= int(text) <= high:
            raise store.ProjectError(f"{key.replace('_', ' ')} {value!r}: a number {low}-{high}")
        return int(text)
    if key == "image_protocol":
        if text not in IMAGE_PROTOCOLS:
            raise store.ProjectError(
                f"image protocol {value!r}: choose {', '.join(IMAGE_PROTOCOLS)}"
            )
        return text
    if key == "tile_size":
        if text not in TILE_SIZES:
            raise store.ProjectError(f"tile size {value!r}: choose {', '.join(TILE_SIZES)}")
        return text
    raise store.ProjectError(f"no setting {key!r}")


@dataclass(frozen=True)
class Settings:
    """One project's settings, checked and typed (defaults where none is stored)."""

    device: str
    batch_size: int
    thumb_size: int
    image_protocol: str
    tile_size: str = "medium"


def load(con: duckdb.DuckDBPyConnection) -> Settings:
    values = {}
    for key, (default, _) in SETTINGS.items():
        stored = store.get_setting(con, key)
        try:
            values[key] = default if stored is None else check(key, stored)
        except store.ProjectError:
            values[key] = default  # written by hand or by a newer version: fall back
    return Settings(**values)


def save(con: duckdb.DuckDBPyConnection, values: Mapping[str, Any]) -> None:
    """Check every value (typed or as typed in), then store them all (one bad value stores
    none); keys left out keep what is stored."""
    checked = {key: check(key, value) for key, value in values.items()}
    with store.transaction(con):
        for key, value in checked.items():
            store.set_setting(con, key, str(value))


# The file the terminal app's export dialog wrote last, proposed again next time (per project,
# like the settings above, but set by exporting, not by the user on the Settings screen).
EXPORT_PATH_KEY = "last_export_path"
DEFAULT_EXPORT_NAME = "panoptui-export.csv"


def export_path(con: duckdb.DuckDBPyConnection) -> str:
    """Where an export goes unless the user says otherwise: where the last one went, else
    panoptui-export.csv in the current folder."""
    last = store.get_setting(con, EXPORT_PATH_KEY)
    if last:
        return last
    try:
        return str(Path.cwd() / DEFAULT_EXPORT_NAME)
    except OSError:  # the current folder was deleted under us
        return DEFAULT_EXPORT_NAME


def remember_export_path(con: duckdb.DuckDBPyConnection, path: str) -> None:
    store.set_setting(con, EXPORT_PATH_KEY, path)
