"""Importing a Panoptic project into a panoptui project (``panoptui import-panoptic``).

The files are imported as ``panoptui import`` does (its own hashes, metadata, thumbnails), from
Panoptic's root folders, moved with ``move`` when the project travelled. Then what the user made
in Panoptic comes over, matched by path (and, for Panoptic 1.x, whose sha1 is of the file's
bytes, by content for a file that was renamed or moved): properties with their values, tags
with all their parents, and the vector sets, keyed by panoptui's images. A file Panoptic knew
that is not on disk becomes a missing image, with Panoptic's thumbnail, so that its annotations
stay.

A second run updates. What was made is remembered (the project's settings: Panoptic id ->
panoptui id, and the names given), and each value brought is kept as Panoptic held it (table
``panoptic_values``): a run writes only what is new or changed in Panoptic since the last one,
so what the user changed here stays, and nothing is made twice. Renames in Panoptic follow when
the name here is still the one given. Nothing is deleted here. Reading the Panoptic project is
``panoptic_read``'s (it is never written to); which file here each of its files is,
``panoptic_files``'s.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from panoptui.core import properties, store, tags
from panoptui.core.import_commit import refresh_image_states
from panoptui.core.panoptic_files import Memory, match_files, moved_path
from panoptui.core.panoptic_read import (
    TYPE_MAP,
    PanopticProject,
    VectorType,
)
from panoptui.core.progress import ProgressCallback
from panoptui.core.scan import ImportSummary, add_folders, import_folders, registered_folders
from panoptui.core.text import shown

# Panoptic's property modes: per image content, per instance (a file), per file (1.x).
MODE_MAP = {"sha1": "image", "id": "file", "file": "file"}
# Panoptic's default model (PanopticML's CLIP) is the OpenAI ViT-B/32 of panoptui's ``clip``.
PRESET_OF_MODEL = {"openai/clip-vit-base-patch32": "clip"}
SETTINGS_PREFIX = "panoptic_import:"

# What did not come over, by key (``--json``), in words (the summary). A key may end with
# ":DETAIL" (the Panoptic type panoptui lacks).
REASONS = {
    "deleted_properties": "properties deleted in Panoptic",
    "deleted_tags": "tags deleted in Panoptic",
    "deleted_values": "values deleted in Panoptic",
    "deleted_tag_values": "tag values deleted in Panoptic",
    "unknown_type": "properties of a type panoptui lacks",
    "values_not_json": "values that are not JSON",
    "not_local": "files of a source that is not a local folder (IIIF)",
    "outside_folders": "files outside Panoptic's folders",
    "deleted_here": "properties or tags deleted here since the last import (not made again)",
    "values_of_missing_targets": "values of images or files not imported",
    "values_not_fitting": "values that do not fit their property's type",
    "tag_loops": "tag parents that would put a tag under itself",
    "unreadable_thumbnails": "Panoptic thumbnails that cannot be read",
    "damaged_media": "thumbnails or vectors that media.db cannot give (damaged)",
    "no_model": "vector sets without a model name",
    "empty_sets": "vector sets without vectors, of a model panoptui has no preset for",
    "bad_vectors": "vectors of another length, or not numbers",
}


def reason_text(key: str) -> str:
    base, _, detail = key.partition(":")
    text = REASONS.get(base, base)
    return f"{text} ({detail})" if detail else text


@dataclass
class VectorSetImported:
    panoptic_id: int
    set_id: int
    model: str  # as Panoptic named it
    preset: str | None  # the panoptui preset it is, when it is one
    greyscale: bool
    vectors: int  # Panoptic's images with a vector here
    images: int  # Panoptic's images
    complete: bool  # every image of the project has a vector


@dataclass
class PanopticImportSummary:
    panoptic: str
    layout: str  # 1.x | 0.7
    version: str  # the database version read, in words
    name: str
    files: int = 0  # Panoptic's files (instances) on a local disk
    found: int = 0  # of them, at their path and imported
    found_by_content: int = 0  # of them, found elsewhere in the folders by their bytes (1.x)
    missing: int = 0  # of them, not on disk: kept as missing
    unreadable: int = 0  # of them, on disk but not readable now (see `panoptui errors`)
    missing_thumbnails: int = 0  # missing images shown with Panoptic's thumbnail
    images: int = 0  # panoptui images they are
    missing_images: int = 0  # of them, with no file on disk (shown by the filter missing = true)
    other_files: int = 0  # files in Panoptic's folders that Panoptic did not list
    properties: int = 0
    properties_new: int = 0
    properties_renamed: dict[str, str] = field(default_factory=dict)  # a name taken here
    renames_followed: dict[str, str] = field(default_factory=dict)  # renamed in Panoptic
    # Tags renamed and properties whose type changed in Panoptic, followed here.
    tag_renames_followed: list[dict[str, str]] = field(default_factory=list)
    types_followed: list[dict[str, str]] = field(default_factory=list)
    values: int = 0  # Panoptic's values, on the images and files here
    values_written: int = 0  # of them, new or changed in Panoptic since the last import
    values_removed: int = 0  # removed in Panoptic since the last import, so here too
    tags: int = 0
    tags_new: int = 0
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


def check_move(source: PanopticProject, move: tuple[str, str]) -> tuple[str, str]:
    """``--move OLD_ROOT NEW_ROOT`` made absolute and checked: OLD_ROOT holds some of Panoptic's
    files, NEW_ROOT is a folder. A one-line ProjectError otherwise."""
    old = os.path.normpath(os.path.abspath(os.path.expanduser(move[0])))
    new = os.path.normpath(os.path.abspath(os.path.expanduser(move[1])))
    if not any(moved_path(i.path, (old, new)) != i.path for i in source.instances):
        roots = ", ".join(shown(r) for r in source.roots[:5]) or "none"
        raise store.ProjectError(
            f"--move: {shown(old)} holds none of Panoptic's files (its folders: {roots})"
        )
    if not os.path.isdir(new):
        raise store.ProjectError(f"--move: {shown(new)} is not a folder")
    return old, new


def check_target(source: PanopticProject, project: str) -> None:
    """The panoptui project must not go inside the Panoptic project: that would write to it."""
    target = Path(project).expanduser().absolute().resolve()
    folder = source.folder.resolve()
    if target == folder or folder in target.parents:
        raise store.ProjectError(
            f"{shown(str(project))} is inside the Panoptic project, which is never written to: "
            "give a PROJECT elsewhere"
        )


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
    summary = PanopticImportSummary(str(source.folder), source.layout, source.version, source.name)
    for reason, n in source.left_out.items():
        summary.left_out(reason, n)
    roots = {root: moved_path(root, move) for root in source.roots}
    local = [r for r in dict.fromkeys(roots.values()) if os.path.isabs(r)]
    present = [r for r in local if os.path.isdir(r)]
    real = {r: str(Path(r).resolve()) for r in present}
    if present:
        summary.files_import = import_folders(
            con, present, workers=workers, thumb_size=thumb_size, progress=progress, cancel=cancel
        )
        if summary.files_import.cancelled:
            summary.cancelled = True
            summary.seconds = time.monotonic() - started
            return summary
    absent = [r for r in local if r not in real]
    # Panoptic's folders (where it saw them, or under --move) that are gone from disk: their
    # files here are missing now (as a rescan would say), so that they can be found elsewhere.
    memory = _memory(con, source.key)
    earlier = [str(r) for r in memory["roots"]]  # where an earlier run found them
    gone = [r for r in dict.fromkeys([*source.roots, *earlier, *local]) if r not in real]
    gone_ids = _mark_gone(con, [r for r in gone if os.path.isabs(r) and not os.path.isdir(r)])
    memory["roots"] = dict.fromkeys(real.values(), True)
    if absent:  # registered to hold the missing files: dropped once they are found elsewhere
        before = {i for i, _path in registered_folders(con)}
        for folder_id, _path in add_folders(con, [os.path.abspath(r) for r in absent]):
            if folder_id not in before:
                memory["folders_added"][str(folder_id)] = True
    with store.transaction(con):
        match = match_files(con, source, move, real, memory)
        for folder_id in gone_ids:  # all its files were found elsewhere
            if not store.scalar(con, "SELECT 1 FROM files WHERE folder_id = ?", [folder_id]):
                con.execute("DELETE FROM import_errors WHERE folder_id = ?", [folder_id])
                con.execute("DELETE FROM folders WHERE id = ?", [folder_id])
        files_of, images_of = match.files_of, match.images_of
        for name in ("files", "found", "found_by_content", "missing", "unreadable"):
            setattr(summary, name, getattr(match, name))
        summary.missing_thumbnails, summary.images = match.missing_thumbnails, match.images
        summary.missing_images = match.missing_images
        summary.other_files = match.other_files
        for reason, n in match.not_imported.items():
            summary.left_out(reason, n)
        property_ids = _import_properties(con, source, memory, summary)
        tag_ids = _import_tags(con, source, memory, property_ids, summary)
        _import_values(
            con, source, property_ids, tag_ids, files_of, images_of, memory["tags"], summary
        )
        _import_vectors(con, source, memory, images_of, summary)
        # Added to what was remembered: one deleted here stays known, so it is not made again.
        memory["properties"].update({str(k): v.id for k, v in property_ids.items()})
        memory["property_names"].update(
            {str(p.id): p.name for p in source.properties if p.id in property_ids}
        )
        memory["names_given"].update({str(v.id): v.name for v in property_ids.values()})
        memory["tags"].update({str(k): v for k, v in tag_ids.items()})
        memory["tag_names"].update({str(t.id): t.value for t in source.tags if t.id in tag_ids})
        memory["files"].update({str(k): v for k, v in files_of.items()})
        store.set_setting(con, SETTINGS_PREFIX + source.key, json.dumps(memory))
    summary.seconds = time.monotonic() - started
    return summary


def _mark_gone(con: duckdb.DuckDBPyConnection, paths: list[str]) -> list[int]:
    """Mark missing the present files of the registered folders at these paths (gone from
    disk); their ids."""
    stored = [store.stored_path(p)[0] for p in paths]
    ids = [
        int(i)
        for (i,) in con.execute(
            "SELECT id FROM folders WHERE list_contains(?, path)", [stored]
        ).fetchall()
    ]
    if ids:
        with store.transaction(con):
            touched = [
                int(i)
                for (i,) in con.execute(
                    "SELECT DISTINCT image_id FROM files WHERE list_contains(?, folder_id) "
                    "AND state = 'ok' AND image_id IS NOT NULL",
                    [ids],
                ).fetchall()
            ]
            con.execute(
                "UPDATE files SET state = 'missing' WHERE list_contains(?, folder_id) "
                "AND state = 'ok'",
                [ids],
            )
            refresh_image_states(con, touched)
    return ids


def _memory(con: duckdb.DuckDBPyConnection, key: str) -> Memory:
    """What an earlier import of this Panoptic project made here."""
    text = store.get_setting(con, SETTINGS_PREFIX + key)
    loaded = json.loads(text) if text else {}
    names = ("properties", "property_names", "names_given", "tags", "tag_names", "vector_sets")
    more = ("files", "folders_added", "roots")
    return {name: dict(loaded.get(name, {})) for name in (*names, *more)}


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


def _new_property(
    con: duckdb.DuckDBPyConnection, name: str, type_: str, mode: str, summary: PanopticImportSummary
) -> properties.Property:
    given = _free_name(con, name)
    if given != name:
        summary.properties_renamed[name] = given
    property_id = store.next_id(con, "properties")
    con.execute(
        "INSERT INTO properties VALUES (?, ?, ?, ?, ?)",
        [property_id, given, type_, mode, datetime.now()],
    )
    summary.properties_new += 1
    return properties.Property(property_id, given, type_, mode)


def _import_properties(
    con: duckdb.DuckDBPyConnection,
    source: PanopticProject,
    memory: Memory,
    summary: PanopticImportSummary,
) -> dict[int, properties.Property]:
    """Panoptic's properties as panoptui properties: the one made by an earlier run (renamed
    or converted when Panoptic's was, unless changed here), else one of the same name, type and
    mode, else a new one (renamed when the name is taken). One deleted here is not made again."""
    ours = {p.id: p for p in properties.list_properties(con)}
    made: dict[int, properties.Property] = {}
    for prop in source.properties:
        type_, mode = TYPE_MAP[prop.type], MODE_MAP.get(prop.mode, "image")
        remembered = memory["properties"].get(str(prop.id))
        if remembered is not None:
            before = ours.get(int(str(remembered)))
            if before is None:
                summary.left_out("deleted_here")
                continue
            old_name = str(memory["property_names"].get(str(prop.id), prop.name))
            given = str(memory["names_given"].get(str(before.id), before.name))
            made[prop.id] = _follow(con, prop.name, old_name, given, type_, mode, before, summary)
            continue
        same = properties.find_property(con, prop.name)
        if same is not None and (same.type, same.mode) == (type_, mode):
            made[prop.id] = same
        else:
            made[prop.id] = _new_property(con, prop.name, type_, mode, summary)
        ours[made[prop.id].id] = made[prop.id]
    summary.properties = len(made)
    return made


def _follow(
    con: duckdb.DuckDBPyConnection,
    name: str,
    old_name: str,
    given: str,
    type_: str,
    mode: str,
    before: properties.Property,
    summary: PanopticImportSummary,
) -> properties.Property:
    """The property an earlier run made (``given`` its name then, Panoptic's ``old_name``),
    after Panoptic's changes to its name and type."""
    prop = before
    if name != old_name and prop.name == given:  # renamed in Panoptic, not here
        new = _free_name(con, name)
        prop = properties.rename_property(con, prop.name, new)
        summary.renames_followed[old_name] = new
    if (prop.type, prop.mode) == (type_, mode):
        return prop
    if prop.mode == mode:
        try:
            changed = properties.change_type(con, prop.name, type_)[0]
            summary.types_followed.append({"property": prop.name, "old": prop.type, "new": type_})
            return changed
        except store.ProjectError:
            pass  # values that do not fit the new type: a new property takes Panoptic's
    return _new_property(con, name, type_, mode, summary)


def _import_tags(
    con: duckdb.DuckDBPyConnection,
    source: PanopticProject,
    memory: Memory,
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
            continue
        try:
            name = tags.clean_name(tag.value)
        except store.ProjectError:
            name = f"tag {tag.id}"
        remembered = memory["tags"].get(str(tag.id))
        if remembered is not None:
            before = int(str(remembered))
            if existing.get(before, (None,))[0] != prop.id:
                summary.left_out("deleted_here")
                continue
            made[tag.id] = before
            old_value = memory["tag_names"].get(str(tag.id))
            here = existing[before][1]
            renamed = old_value is not None and name != old_value and here == old_value
            if renamed and (prop.id, name) not in by_name:  # renamed in Panoptic, not here
                con.execute("UPDATE tags SET name = ? WHERE id = ?", [name, before])
                summary.tag_renames_followed.append(
                    {"property": prop.name, "old": str(old_value), "new": name}
                )
                del by_name[(prop.id, here)]
                by_name[(prop.id, name)] = before
                existing[before] = (prop.id, name)
            continue
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
        summary.tags_new += 1
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
                    summary.left_out("tag_loops")
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
    memory_tags: dict[str, object],
    summary: PanopticImportSummary,
) -> None:
    """Every value, on the images (per-image properties) or files (the others) it belongs to;
    what changed in Panoptic since the last import is applied (see _apply_changes)."""
    modes = {p.id: p.mode for p in source.properties}
    file_of_file: dict[int, list[int]] = {}
    for instance in source.instances:
        if instance.id in files_of:
            file_of_file.setdefault(instance.file_id, []).append(files_of[instance.id])
    plain: dict[int, dict[int, tuple[object, str]]] = {}
    tagged: dict[int, dict[int, tuple[list[int], str]]] = {}
    for value in source.values:
        prop = property_ids.get(value.property_id)
        if prop is None:
            continue  # its property was left out, and said
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
            summary.left_out("values_of_missing_targets")
            continue
        if prop.is_tags:
            ids = value.value if isinstance(value.value, list) else [value.value]
            theirs = sorted(t for t in ids if isinstance(t, int) and t in tag_ids)
            if not theirs:
                continue
            mine = [tag_ids[t] for t in theirs]
            for target in targets:
                tagged.setdefault(prop.id, {})[target] = (mine, json.dumps(theirs))
        else:
            try:
                stored = _plain_value(prop.type, value.value)
            except (ValueError, TypeError, OverflowError):
                summary.left_out("values_not_fitting")
                continue
            for target in targets:
                plain.setdefault(prop.id, {})[target] = (stored, json.dumps(value.value))
    last = {
        (int(p), int(t)): str(v)
        for p, t, v in con.execute(
            "SELECT property_id, target_id, value FROM panoptic_values WHERE source = ?",
            [source.key],
        ).fetchall()
    }
    tag_map = {int(k): int(str(v)) for k, v in memory_tags.items()} | tag_ids
    _apply_changes(con, source.key, property_ids, plain, tagged, last, tag_map, summary)


def _apply_changes(
    con: duckdb.DuckDBPyConnection,
    key: str,
    property_ids: dict[int, properties.Property],
    plain: dict[int, dict[int, tuple[object, str]]],
    tagged: dict[int, dict[int, tuple[list[int], str]]],
    last: dict[tuple[int, int], str],
    tag_map: dict[int, int],
    summary: PanopticImportSummary,
) -> None:
    """Panoptic's changes since the last import, applied here: a value new or changed there is
    written (Panoptic's change wins); one removed there is removed here, unless it was changed
    here since; every other value is left as it is here. ``last``: what the last import
    brought, as Panoptic held it; ``tag_map``: Panoptic's tag ids -> ours."""
    before: dict[int, dict[int, str]] = {}
    for (property_id, target), text in last.items():
        before.setdefault(property_id, {})[target] = text
    written: list[tuple[int, int, str]] = []
    gone: list[tuple[int, int]] = []
    for prop in {p.id: p for p in property_ids.values()}.values():
        was = before.get(prop.id, {})
        if prop.is_tags:
            now_tags = tagged.get(prop.id, {})
            summary.values += len(now_tags)
            _apply_tags(con, prop, now_tags, was, tag_map, written, gone, summary)
        else:
            now = plain.get(prop.id, {})
            summary.values += len(now)
            _apply_plain(con, prop, now, was, written, gone, summary)
    if written:
        con.execute(
            "INSERT INTO panoptic_values SELECT ?, unnest(?::INTEGER[]), unnest(?::BIGINT[]), "
            "unnest(?::VARCHAR[]) ON CONFLICT (source, property_id, target_id) "
            "DO UPDATE SET value = excluded.value",
            [key, [w[0] for w in written], [w[1] for w in written], [w[2] for w in written]],
        )
    if gone:
        con.execute(
            "DELETE FROM panoptic_values USING (SELECT unnest(?::INTEGER[]) AS p, "
            "unnest(?::BIGINT[]) AS t) g WHERE source = ? AND property_id = g.p "
            "AND target_id = g.t",
            [[g[0] for g in gone], [g[1] for g in gone], key],
        )
    summary.values_written = len(written)


def _apply_plain(
    con: duckdb.DuckDBPyConnection,
    prop: properties.Property,
    now: dict[int, tuple[object, str]],
    was: dict[int, str],
    written: list[tuple[int, int, str]],
    gone: list[tuple[int, int]],
    summary: PanopticImportSummary,
) -> None:
    column = properties.VALUE_COLUMN[prop.type]
    changed = {t: v for t, (v, text) in now.items() if was.get(t) != text}
    written += [(prop.id, t, now[t][1]) for t in changed]
    if changed:
        con.execute(
            f"INSERT INTO property_values (property_id, target_id, {column}) "
            "SELECT ?, unnest(?::BIGINT[]), unnest(?) "
            f"ON CONFLICT (property_id, target_id) DO UPDATE SET {column} = excluded.{column}",
            [prop.id, list(changed), list(changed.values())],
        )
    removed = [t for t in was if t not in now]
    if not removed:
        return
    gone += [(prop.id, t) for t in removed]
    here = dict(
        con.execute(
            f"SELECT target_id, {column} FROM property_values WHERE property_id = ? "
            "AND target_id IN (SELECT unnest(?::BIGINT[]))",
            [prop.id, removed],
        ).fetchall()
    )
    drop = []
    for target in removed:
        try:
            brought = _plain_value(prop.type, json.loads(was[target]))
        except (ValueError, TypeError, OverflowError):
            continue
        if target in here and here[target] == brought:  # not changed here since
            drop.append(target)
    if drop:
        con.execute(
            "DELETE FROM property_values WHERE property_id = ? "
            "AND target_id IN (SELECT unnest(?::BIGINT[]))",
            [prop.id, drop],
        )
        summary.values_removed += len(drop)


def _apply_tags(
    con: duckdb.DuckDBPyConnection,
    prop: properties.Property,
    now: dict[int, tuple[list[int], str]],
    was: dict[int, str],
    tag_map: dict[int, int],
    written: list[tuple[int, int, str]],
    gone: list[tuple[int, int]],
    summary: PanopticImportSummary,
) -> None:
    table, column = ("image_tags", "image_id") if prop.mode == "image" else ("file_tags", "file_id")

    def ours(text: str | None) -> set[int]:
        theirs = json.loads(text) if text else []
        return {tag_map[t] for t in theirs if t in tag_map}

    add: list[tuple[int, int]] = []
    take_off: list[tuple[int, int]] = []
    replaced: list[int] = []
    for target, (mine, text) in now.items():
        if was.get(target) == text:
            continue
        written.append((prop.id, target, text))
        if prop.type == "tag":  # one tag per image or file: Panoptic's new one replaces it
            replaced.append(target)
            add += [(t, target) for t in mine]
        else:
            old = ours(was.get(target))
            add += [(t, target) for t in set(mine) - old]
            take_off += [(t, target) for t in old - set(mine)]
    for target, text in was.items():
        if target not in now:  # every tag Panoptic had there is gone
            gone.append((prop.id, target))
            take_off += [(t, target) for t in ours(text)]
            summary.values_removed += 1
    if replaced:
        con.execute(
            f"DELETE FROM {table} WHERE {column} IN (SELECT unnest(?::BIGINT[])) "
            "AND tag_id IN (SELECT id FROM tags WHERE property_id = ?)",
            [replaced, prop.id],
        )
    if take_off:
        con.execute(
            f"DELETE FROM {table} USING (SELECT unnest(?::INTEGER[]) AS a, "
            f"unnest(?::BIGINT[]) AS b) d WHERE {table}.tag_id = d.a AND {table}.{column} = d.b",
            [[p[0] for p in take_off], [p[1] for p in take_off]],
        )
    if add:
        con.execute(
            f"INSERT INTO {table} (tag_id, {column}) SELECT unnest(?::INTEGER[]), "
            "unnest(?::BIGINT[]) ON CONFLICT DO NOTHING",
            [[p[0] for p in add], [p[1] for p in add]],
        )


def _import_vectors(
    con: duckdb.DuckDBPyConnection,
    source: PanopticProject,
    memory: Memory,
    images_of: dict[str, list[int]],
    summary: PanopticImportSummary,
) -> None:
    """Each Panoptic vector set as a panoptui one, vectors keyed by image (normalised, as
    panoptui keeps them). A set of the clip model is panoptui's ``clip`` set: text search and
    ``vectors resume`` load that model; another model's is kept under its name, for image-only
    use (``hf:NAME`` is how panoptui would load it to finish the set)."""
    sets = {int(i) for (i,) in con.execute("SELECT id FROM vector_sets").fetchall()}
    images = {i for ids in images_of.values() for i in ids}
    for vtype in source.vector_types:
        if not vtype.model:
            summary.left_out("no_model")
            continue
        if vtype.dim == 0 and vtype.model not in PRESET_OF_MODEL:
            summary.left_out("empty_sets")
            continue
        remembered = memory["vector_sets"].get(str(vtype.id))
        set_id = None if remembered is None else int(str(remembered))
        if set_id is None or set_id not in sets:
            set_id = _create_set(con, vtype)
            sets.add(set_id)
            memory["vector_sets"][str(vtype.id)] = set_id
        dim = int(store.scalar(con, "SELECT dim FROM vector_sets WHERE id = ?", [set_id]))
        table = store.vector_table(set_id)
        have = {int(i) for (i,) in con.execute(f"SELECT image_id FROM {table}").fetchall()}
        try:
            for batch in source.vectors(vtype.id):
                _store_vectors(con, table, dim, batch, images_of, have, summary)
        except sqlite3.DatabaseError:
            summary.left_out("damaged_media")
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
        with_vector = len(images & have)
        summary.vector_sets.append(
            VectorSetImported(
                vtype.id,
                set_id,
                vtype.model,
                PRESET_OF_MODEL.get(vtype.model),
                vtype.greyscale,
                with_vector,
                len(images),
                pending == 0 and with_vector == len(images),
            )
        )


def _store_vectors(
    con: duckdb.DuckDBPyConnection,
    table: str,
    dim: int,
    batch: list[tuple[str, np.ndarray]],
    images_of: dict[str, list[int]],
    have: set[int],
    summary: PanopticImportSummary,
) -> None:
    ids: list[int] = []
    rows: list[np.ndarray] = []
    for sha1, vector in batch:
        if vector.shape != (dim,) or not np.isfinite(vector).all():
            summary.left_out("bad_vectors")
            continue
        for image_id in images_of.get(sha1, []):
            if image_id not in have:
                have.add(image_id)
                ids.append(image_id)
                rows.append(vector)
    if not ids:
        return
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
