"""Importing a Panoptic project into a panoptui project (``panoptui import-panoptic``).

The files are imported as ``panoptui import`` does (its own hashes, metadata, thumbnails), from
Panoptic's root folders, moved with ``move`` when the project travelled. Then what the user made
in Panoptic comes over, matched by path: properties with their values, tags with all their
parents, and the vector sets, keyed by panoptui's images. A file Panoptic knew that is not on
disk becomes a missing image, with Panoptic's thumbnail, so that its annotations stay.

A second run updates: what is new or changed in Panoptic arrives, nothing is made twice (what
was made is remembered in the project's settings), and nothing is deleted here (a value removed
in Panoptic stays, as everything annotated in panoptui does). Reading the Panoptic project is
``panoptic_read``'s; it is never written to.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from PIL import Image

from panoptui.core import properties, store, tags
from panoptui.core.folders import drop_images
from panoptui.core.panoptic_read import TYPE_MAP, PanopticProject, VectorType
from panoptui.core.progress import ProgressCallback
from panoptui.core.scan import ImportSummary, add_folders, import_folders
from panoptui.core.text import storable

# Panoptic's property modes: per image content, per instance (a file), per file (1.0).
MODE_MAP = {"sha1": "image", "id": "file", "file": "file"}
# Panoptic's default model (PanopticML's CLIP) is the OpenAI ViT-B/32 of panoptui's ``clip``.
PRESET_OF_MODEL = {"openai/clip-vit-base-patch32": "clip"}
MISSING_HASH = "panoptic-sha1:"  # content_hash of a missing image known only by Panoptic's sha1
SETTINGS_PREFIX = "panoptic_import:"


@dataclass
class VectorSetImported:
    panoptic_id: int
    set_id: int
    model: str  # as Panoptic named it
    preset: str | None  # the panoptui preset it is, when it is one
    greyscale: bool
    vectors: int  # images of this project with a vector from Panoptic
    complete: bool


@dataclass
class PanopticImportSummary:
    panoptic: str
    layout: str
    name: str
    files: int = 0  # Panoptic's files (instances)
    found: int = 0  # of them, on disk and imported
    missing: int = 0  # of them, kept as missing images
    missing_thumbnails: int = 0  # missing images shown with Panoptic's thumbnail
    images: int = 0  # panoptui images they are
    other_files: int = 0  # files in Panoptic's folders that Panoptic did not list
    properties: int = 0
    properties_renamed: dict[str, str] = field(default_factory=dict)
    values: int = 0
    tags: int = 0
    vector_sets: list[VectorSetImported] = field(default_factory=list)
    not_imported: dict[str, int] = field(default_factory=dict)
    files_import: ImportSummary | None = None
    cancelled: bool = False
    seconds: float = 0.0

    def left_out(self, reason: str, n: int = 1) -> None:
        if n:
            self.not_imported[reason] = self.not_imported.get(reason, 0) + n

    def as_dict(self) -> dict[str, object]:
        data = dict(self.__dict__)
        data["vector_sets"] = [dict(v.__dict__) for v in self.vector_sets]
        data["files_import"] = self.files_import.as_dict() if self.files_import else None
        return data


def moved_path(path: str, move: tuple[str, str] | None) -> str:
    """Panoptic's recorded path, under the new root when the project travelled."""
    if move is None:
        return path
    old, new = move[0].rstrip("/") or "/", move[1].rstrip("/") or "/"
    if path == old:
        return new
    if path.startswith(old.rstrip("/") + "/"):
        return new.rstrip("/") + "/" + path[len(old.rstrip("/")) + 1 :]
    return path


def import_panoptic(
    con: duckdb.DuckDBPyConnection,
    source: PanopticProject,
    *,
    move: tuple[str, str] | None = None,
    workers: int | None = None,
    thumb_size: int = 256,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> PanopticImportSummary:
    """Bring a Panoptic project (read by ``panoptic_read.read_project``) into ``con``."""
    started = time.monotonic()
    summary = PanopticImportSummary(str(source.folder), source.version, source.name)
    for reason, n in source.left_out.items():
        summary.left_out(reason, n)
    roots = {root: moved_path(root, move) for root in source.roots}
    present = [r for r in dict.fromkeys(roots.values()) if os.path.isdir(r)]
    real = {r: str(Path(r).resolve()) for r in present}
    if present:
        summary.files_import = import_folders(
            con, present, workers=workers, thumb_size=thumb_size, progress=progress, cancel=cancel
        )
        if summary.files_import.cancelled:
            summary.cancelled = True
            summary.seconds = time.monotonic() - started
            return summary
    absent = [r for r in dict.fromkeys(roots.values()) if r not in real]
    if absent:
        add_folders(con, [os.path.abspath(r) for r in absent])
    with store.transaction(con):
        files_of, images_of = _match_files(con, source, move, real, summary)
        memory = _memory(con, source.key)
        property_ids = _import_properties(con, source, memory, summary)
        tag_ids = _import_tags(con, source, memory, property_ids, summary)
        _import_values(con, source, property_ids, tag_ids, files_of, images_of, summary)
        _import_vectors(con, source, memory, images_of, summary)
        memory["properties"] = {str(k): v.id for k, v in property_ids.items()}
        memory["tags"] = {str(k): v for k, v in tag_ids.items()}
        store.set_setting(con, SETTINGS_PREFIX + source.key, json.dumps(memory))
    summary.seconds = time.monotonic() - started
    return summary


def _memory(con: duckdb.DuckDBPyConnection, key: str) -> dict[str, dict[str, int]]:
    """What an earlier import of this Panoptic project made here: Panoptic id -> panoptui id."""
    text = store.get_setting(con, SETTINGS_PREFIX + key)
    loaded = json.loads(text) if text else {}
    return {name: dict(loaded.get(name, {})) for name in ("properties", "tags", "vector_sets")}


def _in_store(path: str, real: dict[str, str]) -> str:
    """The path the store keys a file by: under its root resolved as the import resolves it."""
    for root, resolved in real.items():
        if path.startswith(root.rstrip("/") + "/"):
            return store.stored_path(resolved.rstrip("/") + path[len(root.rstrip("/")) :])[0]
    return store.stored_path(path)[0]


def _match_files(
    con: duckdb.DuckDBPyConnection,
    source: PanopticProject,
    move: tuple[str, str] | None,
    real: dict[str, str],
    summary: PanopticImportSummary,
) -> tuple[dict[int, int], dict[str, list[int]]]:
    """Panoptic's instances as panoptui rows: instance id -> files.id, sha1 -> images.id. An
    instance whose file is not imported (gone, or unreadable now) gets a missing image."""
    paths = {i.id: _in_store(moved_path(i.path, move), real) for i in source.instances}
    known = {
        str(p): (int(fid), image_id, str(state))
        for p, fid, image_id, state in con.execute(
            "SELECT path, id, image_id, state FROM files WHERE path IN (SELECT unnest(?))",
            [list(paths.values())],
        ).fetchall()
    }
    files_of: dict[int, int] = {}
    images_of: dict[str, list[int]] = {}
    lost = []
    for instance in source.instances:
        row = known.get(paths[instance.id])
        if row is not None and row[2] == store.FILE_OK and row[1] is not None:
            files_of[instance.id] = row[0]
            images_of.setdefault(instance.sha1, [])
            if int(row[1]) not in images_of[instance.sha1]:
                images_of[instance.sha1].append(int(row[1]))
            summary.found += 1
        else:
            lost.append(instance)
    summary.files = len(source.instances)
    summary.missing = len(lost)
    _merge_placeholders(con, images_of)
    if lost:
        _keep_missing(con, source, lost, paths, known, files_of, images_of, summary)
    summary.images = len({i for ids in images_of.values() for i in ids})
    if summary.files_import is not None:
        listed = set(paths.values())
        roots = list(real.values())
        summary.other_files = int(
            store.scalar(
                con,
                "SELECT count(*) FROM files WHERE state = 'ok' AND NOT list_contains(?, path) "
                "AND folder_id IN (SELECT id FROM folders WHERE list_contains(?, path))",
                [sorted(listed), roots],
            )
            or 0
        )
    return files_of, images_of


def _merge_placeholders(con: duckdb.DuckDBPyConnection, images_of: dict[str, list[int]]) -> None:
    """Missing images made by an earlier run whose content is found now (the files came back,
    or --move told where they are): their files, tags and values go to the image found."""
    placeholders = {
        str(h)[len(MISSING_HASH) :]: int(i)
        for h, i in con.execute(
            "SELECT content_hash, id FROM images WHERE content_hash IN (SELECT unnest(?))",
            [[MISSING_HASH + sha1 for sha1, ids in images_of.items() if ids]],
        ).fetchall()
    }
    if not placeholders:
        return
    image_props = [p.id for p in properties.list_properties(con) if p.mode == "image"]
    for sha1, old in placeholders.items():
        new = images_of[sha1][0]
        con.execute("UPDATE files SET image_id = ? WHERE image_id = ?", [new, old])
        con.execute(
            "INSERT INTO image_tags SELECT tag_id, ? FROM image_tags WHERE image_id = ? "
            "ON CONFLICT DO NOTHING",
            [new, old],
        )
        con.execute(
            "INSERT INTO property_values SELECT property_id, ?, text, number, date, flag "
            "FROM property_values WHERE target_id = ? AND list_contains(?, property_id) "
            "ON CONFLICT DO NOTHING",
            [new, old, image_props],
        )
        con.execute(
            "DELETE FROM property_values WHERE target_id = ? AND list_contains(?, property_id)",
            [old, image_props],
        )
    drop_images(con, list(placeholders.values()))


def _keep_missing(
    con: duckdb.DuckDBPyConnection,
    source: PanopticProject,
    lost: list,
    paths: dict[int, str],
    known: dict[str, tuple[int, object, str]],
    files_of: dict[int, int],
    images_of: dict[str, list[int]],
    summary: PanopticImportSummary,
) -> None:
    """Missing images (one per sha1) and missing file rows for Panoptic's files not on disk,
    with Panoptic's thumbnails where it kept one."""
    hashes = sorted({MISSING_HASH + i.sha1 for i in lost})
    existing = {
        str(h): int(i)
        for h, i in con.execute(
            "SELECT content_hash, id FROM images WHERE content_hash IN (SELECT unnest(?))",
            [hashes],
        ).fetchall()
    }
    # A missing copy of content found elsewhere is that image, not a missing one.
    for instance in lost:
        if images_of.get(instance.sha1):
            existing[MISSING_HASH + instance.sha1] = images_of[instance.sha1][0]
    now = datetime.now()
    next_image = store.next_id(con, "images")
    new_images: dict[str, int] = {}
    for instance in lost:
        key = MISSING_HASH + instance.sha1
        if key in existing or key in new_images:
            continue
        new_images[key] = next_image
        con.execute(
            "INSERT INTO images (id, content_hash, size, format, width, height, mode, "
            "orientation, frames, phash, state, imported_at, metadata_read) "
            "VALUES (?, ?, 0, ?, ?, ?, '', 1, 1, 0, ?, ?, true)",
            [
                next_image,
                key,
                (instance.format or "unknown").upper(),
                instance.width,
                instance.height,
                store.IMAGE_MISSING,
                now,
            ],
        )
        next_image += 1
    image_of = {**existing, **new_images}
    folders = [
        (int(i), store.os_path(p, raw))
        for i, p, raw in con.execute("SELECT id, path, raw_path FROM folders").fetchall()
    ]
    next_file = store.next_id(con, "files")
    for instance in lost:
        image_id = image_of[MISSING_HASH + instance.sha1]
        images_of.setdefault(instance.sha1, [])
        if image_id not in images_of[instance.sha1]:
            images_of[instance.sha1].append(image_id)
        path = paths[instance.id]
        row = known.get(path)
        if row is not None:  # a file panoptui cannot read now: its annotations keep it
            files_of[instance.id] = row[0]
            continue
        folder = next(
            ((i, p) for i, p in folders if path.startswith(storable(p).rstrip("/") + "/")), None
        )
        if folder is None:
            summary.left_out("files outside Panoptic's folders")
            continue
        stored, raw = store.stored_path(store.os_path(path))
        con.execute(
            "INSERT INTO files (id, path, folder_id, rel_path, size, mtime_ns, image_id, state, "
            "seen_at, raw_path) VALUES (?, ?, ?, ?, -1, -1, ?, ?, ?, ?)",
            [
                next_file,
                stored,
                folder[0],
                stored[len(storable(folder[1]).rstrip("/")) + 1 :],
                image_id,
                store.FILE_MISSING,
                now,
                raw,
            ],
        )
        known[path] = (next_file, image_id, store.FILE_MISSING)
        files_of[instance.id] = next_file
        next_file += 1
    _missing_thumbnails(con, source, lost, image_of, summary)


def _missing_thumbnails(
    con: duckdb.DuckDBPyConnection,
    source: PanopticProject,
    lost: list,
    image_of: dict[str, int],
    summary: PanopticImportSummary,
) -> None:
    have = {
        int(i)
        for (i,) in con.execute(
            "SELECT image_id FROM thumbnails WHERE image_id IN (SELECT unnest(?::BIGINT[]))",
            [sorted(set(image_of.values()))],
        ).fetchall()
    }
    wanted = sorted({i.sha1 for i in lost if image_of[MISSING_HASH + i.sha1] not in have})
    shown_now = len({image_of[MISSING_HASH + i.sha1] for i in lost} & have)
    for sha1, jpeg in source.thumbnails(wanted).items():
        try:
            with Image.open(io.BytesIO(jpeg)) as thumb:
                width, height = thumb.size
        except (OSError, Image.DecompressionBombError, ValueError):
            summary.left_out("Panoptic thumbnails that cannot be read")
            continue
        con.execute(
            "INSERT INTO thumbnails VALUES (?, ?, ?, ?)",
            [image_of[MISSING_HASH + sha1], width, height, jpeg],
        )
        shown_now += 1
    summary.missing_thumbnails = shown_now


def _free_name(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """A property name not taken yet (nor a built-in field's), near Panoptic's."""
    try:
        base = properties.check_name(name)
    except store.ProjectError:
        base = (name.strip() or "property")[: properties.MAX_NAME - 20].replace("\n", " ")
    for n in range(1, 1000):
        candidate = base if n == 1 else f"{base} (Panoptic {n})" if n > 2 else f"{base} (Panoptic)"
        try:
            properties.check_name(candidate)
        except store.ProjectError:
            continue
        if properties.find_property(con, candidate) is None:
            return candidate
    raise store.ProjectError(f"no free name for Panoptic's property {name!r}")


def _import_properties(
    con: duckdb.DuckDBPyConnection,
    source: PanopticProject,
    memory: dict[str, dict[str, int]],
    summary: PanopticImportSummary,
) -> dict[int, properties.Property]:
    """Panoptic's properties as panoptui properties: the one made by an earlier run, else one
    of the same name, type and mode, else a new one (renamed when the name is taken)."""
    ours = {p.id: p for p in properties.list_properties(con)}
    made: dict[int, properties.Property] = {}
    for prop in source.properties:
        type_, mode = TYPE_MAP[prop.type], MODE_MAP.get(prop.mode, "image")
        before = ours.get(memory["properties"].get(str(prop.id), -1))
        if before is not None and (before.type, before.mode) == (type_, mode):
            made[prop.id] = before
            continue
        same = properties.find_property(con, prop.name)
        if same is not None and (same.type, same.mode) == (type_, mode):
            made[prop.id] = same
            continue
        name = _free_name(con, prop.name)
        if name != prop.name:
            summary.properties_renamed[prop.name] = name
        property_id = store.next_id(con, "properties")
        con.execute(
            "INSERT INTO properties VALUES (?, ?, ?, ?, ?)",
            [property_id, name, type_, mode, datetime.now()],
        )
        made[prop.id] = properties.Property(property_id, name, type_, mode)
        ours[property_id] = made[prop.id]
    summary.properties = len(made)
    return made


def _import_tags(
    con: duckdb.DuckDBPyConnection,
    source: PanopticProject,
    memory: dict[str, dict[str, int]],
    property_ids: dict[int, properties.Property],
    summary: PanopticImportSummary,
) -> dict[int, int]:
    """Panoptic's tags in their properties, then their parents (all of them)."""
    existing = {
        int(i): (int(p), str(n))
        for i, p, n in con.execute("SELECT id, property_id, name FROM tags").fetchall()
    }
    by_name = {(p, n): i for i, (p, n) in existing.items()}
    made: dict[int, int] = {}
    now = datetime.now()
    for tag in source.tags:
        prop = property_ids.get(tag.property_id)
        if prop is None or not prop.is_tags:
            summary.left_out("tags of properties not imported")
            continue
        before = memory["tags"].get(str(tag.id))
        if before is not None and existing.get(before, (None,))[0] == prop.id:
            made[tag.id] = before
            continue
        try:
            name = tags.clean_name(tag.value)
        except store.ProjectError:
            name = f"tag {tag.id}"
        if (prop.id, name) in by_name and by_name[(prop.id, name)] not in made.values():
            made[tag.id] = by_name[(prop.id, name)]  # one of the same name made here before
            continue
        base, n = name, 2
        while (prop.id, name) in by_name:  # Panoptic allows one name twice in a property
            name, n = f"{base} ({n})", n + 1
        tag_id = store.next_id(con, "tags")
        con.execute(
            "INSERT INTO tags (id, property_id, name, parent_id, created_at) "
            "VALUES (?, ?, ?, NULL, ?)",
            [tag_id, prop.id, name, now],
        )
        existing[tag_id] = (prop.id, name)
        by_name[(prop.id, name)] = tag_id
        made[tag.id] = tag_id
    for tag in source.tags:
        if tag.id not in made:
            continue
        parents = [made[p] for p in tag.parents if p in made]
        try:
            tags.set_parents(con, made[tag.id], parents)
        except store.ProjectError:  # one of them makes a loop: keep those that do not
            kept: list[int] = []
            for parent in parents:
                try:
                    tags.set_parents(con, made[tag.id], [*kept, parent])
                    kept.append(parent)
                except store.ProjectError:
                    summary.left_out("tag parents that would put a tag under itself")
            tags.set_parents(con, made[tag.id], kept)
    summary.tags = len(made)
    return made


def _plain_value(type_: str, value: object) -> object:
    """Panoptic's JSON value as the panoptui column holds it; ValueError when it does not fit."""
    if type_ in ("text", "url"):
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
    elif type_ == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            return float(value)
    elif type_ == "date":
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is not None:  # panoptui keeps dates as Panoptic shows them: UTC
                parsed = parsed.astimezone(UTC).replace(tzinfo=None)
            return parsed
    elif type_ == "checkbox" and isinstance(value, bool):
        return value
    raise ValueError(value)


def _import_values(
    con: duckdb.DuckDBPyConnection,
    source: PanopticProject,
    property_ids: dict[int, properties.Property],
    tag_ids: dict[int, int],
    files_of: dict[int, int],
    images_of: dict[str, list[int]],
    summary: PanopticImportSummary,
) -> None:
    """Every value, on the images (per-image properties) or files (the others) it belongs to."""
    modes = {p.id: p.mode for p in source.properties}
    file_of_file: dict[int, list[int]] = {}
    for instance in source.instances:
        if instance.id in files_of:
            file_of_file.setdefault(instance.file_id, []).append(files_of[instance.id])
    plain: dict[int, dict[int, object]] = {}
    tagged: dict[int, dict[int, list[int]]] = {}
    for value in source.values:
        prop = property_ids.get(value.property_id)
        if prop is None:
            summary.left_out("values of properties not imported")
            continue
        mode = modes[value.property_id]
        targets: Iterable[int]
        if mode == "sha1":
            targets = images_of.get(str(value.anchor), [])
        elif mode == "file":
            targets = file_of_file.get(int(value.anchor), [])
        else:
            found = files_of.get(int(value.anchor))
            targets = [] if found is None else [found]
        targets = list(targets)
        if not targets:
            summary.left_out("values of images not imported")
            continue
        if prop.is_tags:
            ids = value.value if isinstance(value.value, list) else [value.value]
            mine = [tag_ids[t] for t in ids if isinstance(t, int) and t in tag_ids]
            if not mine:
                continue
            for target in targets:
                tagged.setdefault(prop.id, {})[target] = mine
        else:
            try:
                stored = _plain_value(prop.type, value.value)
            except (ValueError, TypeError, OverflowError):
                summary.left_out("values that do not fit their property's type")
                continue
            for target in targets:
                plain.setdefault(prop.id, {})[target] = stored
    by_id = {p.id: p for p in property_ids.values()}
    for property_id, values in plain.items():
        column = properties.VALUE_COLUMN[by_id[property_id].type]
        con.execute(
            f"INSERT INTO property_values (property_id, target_id, {column}) "
            "SELECT ?, unnest(?::BIGINT[]), unnest(?) "
            f"ON CONFLICT (property_id, target_id) DO UPDATE SET {column} = excluded.{column}",
            [property_id, list(values), list(values.values())],
        )
        summary.values += len(values)
    for property_id, targets_tags in tagged.items():
        prop = by_id[property_id]
        table, column = (
            ("image_tags", "image_id") if prop.mode == "image" else ("file_tags", "file_id")
        )
        pairs = [(t, target) for target, ids in targets_tags.items() for t in ids]
        if prop.type == "tag":  # one tag per image or file: Panoptic's replaces the one here
            con.execute(
                f"DELETE FROM {table} WHERE {column} IN (SELECT unnest(?::BIGINT[])) "
                "AND tag_id IN (SELECT id FROM tags WHERE property_id = ?)",
                [list(targets_tags), property_id],
            )
        con.execute(
            f"INSERT INTO {table} (tag_id, {column}) SELECT unnest(?::INTEGER[]), "
            "unnest(?::BIGINT[]) ON CONFLICT DO NOTHING",
            [[p[0] for p in pairs], [p[1] for p in pairs]],
        )
        summary.values += len(targets_tags)


def _import_vectors(
    con: duckdb.DuckDBPyConnection,
    source: PanopticProject,
    memory: dict[str, dict[str, int]],
    images_of: dict[str, list[int]],
    summary: PanopticImportSummary,
) -> None:
    """Each Panoptic vector set as a panoptui one, vectors keyed by image (normalised, as
    panoptui keeps them). A set of the clip model is panoptui's ``clip`` set: text search and
    ``vectors resume`` load that model; another model's is kept under its name, for image-only
    use (``hf:NAME`` is how panoptui would load it to finish the set)."""
    sets = {int(i) for (i,) in con.execute("SELECT id FROM vector_sets").fetchall()}
    for vtype in source.vector_types:
        if not vtype.model:
            summary.left_out("vector sets without a model name")
            continue
        if vtype.dim == 0 and vtype.model not in PRESET_OF_MODEL:
            summary.left_out("vector sets without vectors, of a model panoptui has no preset for")
            continue
        set_id = memory["vector_sets"].get(str(vtype.id))
        if set_id is None or set_id not in sets:
            set_id = _create_set(con, vtype)
            sets.add(set_id)
            memory["vector_sets"][str(vtype.id)] = set_id
        dim = int(store.scalar(con, "SELECT dim FROM vector_sets WHERE id = ?", [set_id]))
        table = store.vector_table(set_id)
        have = {int(i) for (i,) in con.execute(f"SELECT image_id FROM {table}").fetchall()}
        for batch in source.vectors(vtype.id):
            ids: list[int] = []
            rows: list[np.ndarray] = []
            for sha1, vector in batch:
                if vector.shape != (dim,) or not np.isfinite(vector).all():
                    summary.left_out("vectors of another length, or not numbers")
                    continue
                for image_id in images_of.get(sha1, []):
                    if image_id not in have:
                        have.add(image_id)
                        ids.append(image_id)
                        rows.append(vector)
            if ids:
                matrix = np.stack(rows).astype(np.float32)
                norms = np.linalg.norm(matrix, axis=1, keepdims=True)
                matrix /= np.where(norms > 0, norms, 1)
                store.insert_arrow(
                    con,
                    f"INSERT INTO {table} SELECT * FROM batch",
                    pa.table(
                        {
                            "image_id": pa.array(ids, pa.int64()),
                            "vec": pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), dim),
                        }
                    ),
                )
        images = {i for ids in images_of.values() for i in ids}
        with_vector = len(images & have)
        pending = int(
            store.scalar(
                con,
                f"SELECT count(*) FROM images i WHERE i.state = 'ok' AND NOT EXISTS "
                f"(SELECT 1 FROM {table} v WHERE v.image_id = i.id)",
            )
            or 0
        )
        con.execute(
            "UPDATE vector_sets SET state = ?, updated_at = ? WHERE id = ?",
            ["complete" if pending == 0 else "incomplete", datetime.now(), set_id],
        )
        summary.vector_sets.append(
            VectorSetImported(
                vtype.id,
                set_id,
                vtype.model,
                PRESET_OF_MODEL.get(vtype.model),
                vtype.greyscale,
                with_vector,
                pending == 0,
            )
        )


def _create_set(con: duckdb.DuckDBPyConnection, vtype: VectorType) -> int:
    preset = PRESET_OF_MODEL.get(vtype.model)
    dim = vtype.dim or 512
    model, family = (preset, "open_clip") if preset else (f"hf:{vtype.model}", "hf")
    now = datetime.now()
    set_id = store.next_id(con, "vector_sets")
    con.execute(
        "INSERT INTO vector_sets (id, model, family, greyscale, weights, dim, embeds_text, "
        "batch_size, state, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, NULL, ?, ?, 32, 'incomplete', ?, ?)",
        [set_id, model, family, vtype.greyscale, dim, preset is not None, now, now],
    )
    store.create_vector_table(con, set_id, dim)
    return set_id
