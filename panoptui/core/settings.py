"""Project settings a user can change (the Settings screen; the CLI reads them as defaults):
stored as text in the project's settings table, checked on the way in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb

from panoptui.core import store
from panoptui.core.models.base import DEVICE_NAME
from panoptui.core.read_worker import DEFAULT_THUMB_SIZE
from panoptui.core.vector_sets import DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE

IMAGE_PROTOCOLS = ("auto", "kitty", "sixel", "halfcell", "none")

# key: (default, what it is).
SETTINGS: dict[str, tuple[Any, str]] = {
    "device": ("auto", "where models run: auto, cpu, cuda, cuda:N or mps"),
    "batch_size": (DEFAULT_BATCH_SIZE, "images per model batch for new vector sets"),
    "thumb_size": (DEFAULT_THUMB_SIZE, "longest side of thumbnails made at import, in pixels"),
    "image_protocol": ("auto", "how the app draws images: " + ", ".join(IMAGE_PROTOCOLS)),
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
    raise store.ProjectError(f"no setting {key!r}")


@dataclass(frozen=True)
class Settings:
    """One project's settings, checked and typed (defaults where none is stored)."""

    device: str
    batch_size: int
    thumb_size: int
    image_protocol: str


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
