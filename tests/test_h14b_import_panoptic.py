"""`panoptui import-panoptic` on real Panoptic projects, built by Panoptic 1.0.0 and 0.7.6
themselves (tests/panoptic_env.py, tests/panoptic_scripts/): every count and value compared,
the Panoptic folder left byte for byte as it was, reruns, missing files, --move, a project
open in Panoptic meanwhile, a half-computed vector set finished by `vectors resume`, bad input.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pytest
from helpers import PANOPTUI, run_cli
from panoptic_env import panoptic_python, run_panoptic

HOLD_OPEN = Path(__file__).parent / "panoptic_scripts" / "hold_open_v1.py"
TYPES = ["text", "number", "date", "checkbox", "url", "color", "tag", "multi_tags", "path",
         "image_link"]  # fmt: skip


def expected(type_: str, i: int, layout: str) -> object:
    """The value make_project_*.py gives image index i, as panoptui holds it."""
    if type_ == "tag":
        return [["cat", "dog", "kitten"][i % 3]]
    if type_ == "multi_tags":
        return ["cat", "dog"] if i % 2 else ["kitten"]
    if type_ == "checkbox" and layout == "0.7" and i % 2:
        return None  # 0.7 stores no false
    return {
        "text": f"text {i}",
        "number": float(i * 1.5 if i % 3 else i),
        "date": datetime(2024, 9, i + 1, 10, 0),
        "checkbox": i % 2 == 0,
        "url": f"https://example.org/{i}",
        "color": float(i % 12),
        "path": f"/some/path/{i}.txt",
        "image_link": f"https://example.org/img/{i}.png",
    }[type_]


def panoptic_instances(project: Path) -> list[tuple[str, str]]:
    """(path, sha1) of each instance, in the order make_project_*.py numbers them."""
    if (project / "data.db").exists():
        con = sqlite3.connect(f"file:{project}/data.db?immutable=1", uri=True)
        sql = (
            "SELECT fo.path || '/' || f.name, i.sha1 FROM instances i JOIN files f ON "
            "f.id = i.file_id JOIN folders fo ON fo.id = f.folder_id ORDER BY i.id"
        )
    else:
        con = sqlite3.connect(f"file:{project}/panoptic.db?immutable=1", uri=True)
        sql = "SELECT url, sha1 FROM instances ORDER BY url"
    try:
        return [(str(p), str(s)) for p, s in con.execute(sql).fetchall()]
    finally:
        con.close()


def values_by_path(project: Path) -> dict[tuple[str, str], object]:
    """Every value of the panoptui project: (property, file path) -> value (tags: sorted
    names). An image's value is seen on each of its files."""
    con = duckdb.connect(str(project / "project.duckdb"), read_only=True)
    try:
        found: dict[tuple[str, str], object] = {}
        plain = con.execute(
            "SELECT p.name, f.path, v.text, v.number, v.date, v.flag FROM property_values v "
            "JOIN properties p ON p.id = v.property_id JOIN files f ON "
            "(p.mode = 'image' AND f.image_id = v.target_id) OR "
            "(p.mode = 'file' AND f.id = v.target_id)"
        ).fetchall()
        for name, path, *columns in plain:
            found[(name, path)] = next((c for c in columns if c is not None), None)
        tagged = con.execute(
            "SELECT p.name, f.path, list(t.name ORDER BY t.name) FROM tags t "
            "JOIN properties p ON p.id = t.property_id "
            "JOIN (SELECT tag_id, image_id, NULL::BIGINT AS file_id FROM image_tags "
            "      UNION ALL SELECT tag_id, NULL, file_id FROM file_tags) x ON x.tag_id = t.id "
            "JOIN files f ON f.image_id = x.image_id OR f.id = x.file_id "
            "GROUP BY p.name, f.path"
        ).fetchall()
        for name, path, names in tagged:
            found[(name, path)] = list(names)
        return found
    finally:
        con.close()


def fingerprint(folder: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def import_json(panoptic: Path, project: Path, *more: str) -> dict:
    done = run_cli("import-panoptic", str(panoptic), str(project), "--json", *more)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def query(project: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(project / "project.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def check_values(
    project: Path, panoptic: Path, layout: str, move: tuple[str, str] | None = None
) -> None:
    """Every property of every file holds exactly the value Panoptic had (and what Panoptic
    deleted or cleared is not here). ``move``: the files are under a new root."""
    instances = panoptic_instances(panoptic)
    if move is not None:
        instances = [(move[1] + p[len(move[0]) :], s) for p, s in instances]
    values = values_by_path(project)
    modes = ["sha1", "id", "file"] if layout == "1.0" else ["sha1", "id"]
    first_of_sha1: dict[str, int] = {}
    for i, (_path, sha1) in enumerate(instances):
        first_of_sha1.setdefault(sha1, i)
    want: dict[tuple[str, str], object] = {}
    for i, (path, sha1) in enumerate(instances):
        for type_ in TYPES:
            for mode in modes:
                index = first_of_sha1[sha1] if mode == "sha1" else i
                value = expected(type_, index, layout)
                if value is not None:
                    want[(f"{type_}_{mode}", path)] = value
    # What make_project_*.py deleted or cleared afterwards.
    first, second = instances[0], instances[1]
    if layout == "1.0":
        del want[("text_id", first[0])]
        for path, sha1 in instances:
            if sha1 == second[1]:
                del want[("text_sha1", path)]
                want[("multi_tags_sha1", path)] = ["cat"]
        for key, value in list(want.items()):
            if key[0] == "multi_tags_id" and value == ["cat", "dog"]:
                want[key] = ["cat"]  # 'dog' deleted
    else:
        for key in [k for k in want if k[0] == "text_id" and k[1] == first[0]]:
            del want[key]
        for path, sha1 in instances:
            if sha1 == second[1]:
                want.pop(("text_sha1", path), None)
        for key, value in list(want.items()):
            if key[0] == "multi_tags_id" and value == ["cat", "dog"]:
                want[key] = ["cat"]
    got = {k: v for k, v in values.items() if k[0] != "tags"}
    assert got == want


@pytest.mark.parametrize("layout", ["1.0", "0.7"])
def test_everything_comes_over_and_panoptic_is_untouched(
    layout, panoptic_v1, panoptic_v07, tmp_path
):
    source = panoptic_v1 if layout == "1.0" else panoptic_v07
    before = fingerprint(source.project)
    project = tmp_path / "project"
    summary = import_json(source.project, project)
    assert fingerprint(source.project) == before  # not one byte, not one new file

    n_props = 30 if layout == "1.0" else 20
    assert (summary["files"], summary["found"], summary["missing"]) == (13, 13, 0)
    assert summary["images"] == 12 and summary["other_files"] == 0
    assert summary["properties"] == n_props and summary["properties_renamed"] == {}
    assert summary["layout"] == ("1.x" if layout == "1.0" else "0.7")
    if layout == "1.0":
        assert summary["not_imported"] == {
            "deleted_properties": 1,
            "deleted_tags": 2,
            "deleted_values": 1,
            "deleted_tag_values": 7,
        }
    else:
        assert summary["not_imported"] == {}
    types = dict(query(project, "SELECT name, type || ' ' || mode FROM properties"))
    for type_ in TYPES:
        ours = {"multi_tags": "multi_tag", "color": "number", "path": "text",
                "image_link": "url"}.get(type_, type_)  # fmt: skip
        assert types[f"{type_}_sha1"] == f"{ours} image"
        assert types[f"{type_}_id"] == f"{ours} file"
        if layout == "1.0":
            assert types[f"{type_}_file"] == f"{ours} file"
    assert "to_delete" not in types
    check_values(project, source.project, layout)

    # Tags: every live one once, with all its live parents.
    tags = query(
        project,
        "SELECT p.name, t.name, "
        "list(DISTINCT pt.name ORDER BY pt.name) FILTER (pt.name IS NOT NULL) "
        "FROM tags t JOIN properties p ON p.id = t.property_id "
        "LEFT JOIN (SELECT id AS tag_id, parent_id FROM tags UNION "
        "           SELECT tag_id, parent_id FROM tag_parents) l ON l.tag_id = t.id "
        "LEFT JOIN tags pt ON pt.id = l.parent_id GROUP BY p.name, t.name",
    )
    parents = {(prop, name): list(ps or []) for prop, name, ps in tags}
    tag_props = [f"{t}_{m}" for t in ("tag", "multi_tags") for m in ("sha1", "id", "file")]
    tag_props = [p for p in tag_props if layout == "1.0" or not p.endswith("_file")]
    for prop in tag_props:
        names = {n for p, n in parents if p == prop}
        gone = {"multi_tags_id": "dog", "tag_sha1": "animal"}.get(prop)
        assert names == {"animal", "pet", "cat", "dog", "kitten"} - {gone}
        if prop != "tag_sha1":
            assert parents[(prop, "cat")] == ["animal", "pet"]
        else:
            assert parents[(prop, "cat")] == ["pet"]  # its other parent was deleted
        assert parents[(prop, "kitten")] == ["cat"]
    assert summary["tags"] == len(tags) == 5 * len(tag_props) - 2

    # Vector sets: Panoptic's model and greyscale, its vectors (normalised), usable at once.
    sets = summary["vector_sets"]
    assert [
        (s["model"], s["preset"], s["greyscale"], s["vectors"], s["complete"]) for s in sets
    ] == [
        ("openai/clip-vit-base-patch32", "clip", False, 12, True),
        ("openai/clip-vit-base-patch32", "clip", True, 6, False),
    ]
    rows = query(project, "SELECT id, model, family, greyscale, dim, embeds_text FROM vector_sets")
    assert rows == [
        (1, "clip", "open_clip", False, 512, True),
        (2, "clip", "open_clip", True, 512, True),
    ]
    media = source.project / ("media.db" if layout == "1.0" else "panoptic.db")
    con = sqlite3.connect(f"file:{media}?immutable=1", uri=True)
    theirs = {
        s: np.frombuffer(d, np.float32)
        for s, d in con.execute("SELECT sha1, data FROM vectors WHERE type_id = 1").fetchall()
    }
    con.close()
    sha1_of = dict(panoptic_instances(source.project))
    ours = query(
        project, "SELECT f.path, v.vec FROM vectors_1 v JOIN files f ON f.image_id = v.image_id"
    )
    assert len(ours) == 13
    for path, vec in ours:
        want = theirs[sha1_of[path]]
        assert np.allclose(np.array(vec, np.float32), want / np.linalg.norm(want), atol=1e-6)
    done = run_cli("similar", str(project), "--vectors", "1", "--id", "1", "--json")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 11
    done = run_cli("duplicates", str(project), "--vectors", "1", "--json")
    assert done.returncode == 0, done.stderr

    # panoptui's own hashes: of the files' bytes (0.7's sha1 was of a re-encoded JPEG).
    for path, content_hash in query(
        project, "SELECT f.path, i.content_hash FROM files f JOIN images i ON i.id = f.image_id"
    ):
        assert content_hash == hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_a_second_run_brings_changes_and_duplicates_nothing(panoptic_v1, tmp_path):
    source = tmp_path / "panoptic"
    shutil.copytree(panoptic_v1.project, source)
    project = tmp_path / "project"
    import_json(source, project)
    counts = "SELECT (SELECT count(*) FROM properties), (SELECT count(*) FROM tags), " \
             "(SELECT count(*) FROM property_values), (SELECT count(*) FROM image_tags), " \
             "(SELECT count(*) FROM file_tags), (SELECT count(*) FROM vectors_1), " \
             "(SELECT count(*) FROM vectors_2), (SELECT count(*) FROM images), " \
             "(SELECT count(*) FROM files)"  # fmt: skip
    first = query(project, counts)[0]
    again = import_json(source, project)
    assert query(project, counts)[0] == first
    assert again["properties"] == 30 and again["properties_renamed"] == {}

    first_path, second_path = run_panoptic("1.0.0", "edit_project_v1.py", str(source)).split()
    import_json(source, project)
    props, tags, values, image_tags, file_tags, *rest = query(project, counts)[0]
    assert (props, tags) == (first[0] + 1, first[1] + 1)  # added_later, bird
    assert values == first[2] + 1  # added_later on the first image (one row for its two files)
    assert (image_tags, file_tags, *rest) == (first[3], first[4], *first[5:])
    got = values_by_path(project)
    assert got[("added_later", first_path)] == "later"
    assert got[("number_id", first_path)] == 42.0
    assert got[("tag_id", second_path)] == ["bird"]  # replaced the one it had
    parent = query(
        project,
        "SELECT p.name FROM tags t JOIN tags p ON p.id = t.parent_id WHERE t.name = 'bird'",
    )
    assert parent == [("pet",)]


def test_missing_files_are_kept_and_move_finds_them(panoptic_v1, tmp_path):
    images = tmp_path / "moved"
    shutil.copytree(panoptic_v1.images, images)
    project = tmp_path / "project"
    # The files are gone from where Panoptic saw them (put back at the end: shared fixture).
    hidden = panoptic_v1.images.with_name("hidden-for-test")
    panoptic_v1.images.rename(hidden)
    try:
        summary = import_json(panoptic_v1.project, project)
        text = run_cli("import-panoptic", str(panoptic_v1.project), str(project))
    finally:
        hidden.rename(panoptic_v1.images)
    assert (summary["found"], summary["missing"], summary["images"]) == (0, 13, 12)
    assert summary["missing_thumbnails"] == summary["missing_images"] == 12
    assert "--move OLD_ROOT NEW_ROOT" in text.stdout + text.stderr
    states = query(project, "SELECT state, count(*) FROM images GROUP BY state")
    assert states == [("missing", 12)]
    assert query(project, "SELECT count(*) FROM thumbnails")[0][0] == 12
    # Nothing annotated is lost: the values sit on the missing images and files.
    check_values(project, panoptic_v1.project, "1.0")
    assert query(project, "SELECT count(*) FROM vectors_1")[0][0] == 12

    summary = import_json(
        panoptic_v1.project, project, "--move", str(panoptic_v1.images), str(images)
    )
    assert (summary["found"], summary["missing"], summary["images"]) == (13, 0, 12)
    assert query(project, "SELECT state, count(*) FROM images GROUP BY state") == [("ok", 12)]
    # The missing rows are replaced by the files found: nothing left missing, nothing doubled.
    check_values(project, panoptic_v1.project, "1.0", (str(panoptic_v1.images), str(images)))
    assert query(project, "SELECT state, count(*) FROM files GROUP BY state") == [("ok", 13)]
    assert query(project, "SELECT path FROM folders") == [(str(images),)]
    assert query(project, "SELECT count(*) FROM vectors_1")[0][0] == 12
    moved_files = query(
        project,
        "SELECT count(*) FROM files WHERE state = 'ok' AND starts_with(path, ?)",
        [str(images)],
    )
    assert moved_files == [(13,)]


def test_read_while_panoptic_has_the_project_open(panoptic_v1, tmp_path):
    source = tmp_path / "panoptic"
    shutil.copytree(panoptic_v1.project, source)
    holder = subprocess.Popen(
        [str(panoptic_python("1.0.0")), str(HOLD_OPEN), str(source)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        wal = {p.name for p in source.iterdir()}
        before = {n: b for n, b in fingerprint(source).items() if not n.endswith("-shm")}
        summary = import_json(source, tmp_path / "project")
        after = {n: b for n, b in fingerprint(source).items() if not n.endswith("-shm")}
        assert after == before and {p.name for p in source.iterdir()} == wal
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)
    assert summary["found"] == 13
    first_path = panoptic_instances(panoptic_v1.project)[0][0]
    assert values_by_path(tmp_path / "project")[("text_sha1", first_path)] == "while open"


def test_a_half_computed_set_is_finished_by_vectors_resume(panoptic_v1, tmp_path):
    from model_fixtures import tiny_hf_vit_dir

    model = tiny_hf_vit_dir(tmp_path / "models")
    source = tmp_path / "panoptic"
    shutil.copytree(panoptic_v1.project, source)
    dim = json.loads((model / "config.json").read_text())["hidden_size"]
    run_panoptic("1.0.0", "add_vectors_v1.py", str(source), str(model), str(dim))
    project = tmp_path / "project"
    summary = import_json(source, project)
    third = summary["vector_sets"][2]
    assert (third["model"], third["preset"], third["vectors"], third["complete"]) == (
        str(model),
        None,
        6,
        False,
    )
    assert query(
        project, "SELECT model, family, embeds_text, dim FROM vector_sets WHERE id = 3"
    ) == [(f"hf:{model}", "hf", False, dim)]
    kept = dict(query(project, "SELECT image_id, vec FROM vectors_3"))
    done = run_cli("vectors", "resume", str(project), "3", "--json")
    assert done.returncode == 0, done.stderr
    rows = dict(query(project, "SELECT image_id, vec FROM vectors_3"))
    assert len(rows) == 12 and all(rows[i] == v for i, v in kept.items())
    listed = json.loads(run_cli("vectors", "list", str(project), "--json").stdout)
    assert [s["status"] for s in listed] == ["complete", "incomplete", "complete"]


def corrupt(folder: Path) -> None:
    data = folder / "data.db"
    data.write_bytes(b"SQLite format 3\x00" + b"\xff" * 600)


def newer(folder: Path) -> None:
    con = sqlite3.connect(folder / "data.db")
    con.execute("UPDATE _version SET value = 3 WHERE key = 'db_version'")
    con.commit()
    con.close()


def newer_07(folder: Path) -> None:
    con = sqlite3.connect(folder / "panoptic.db")
    con.execute("UPDATE panoptic SET value = '8' WHERE key = 'db_version'")
    con.commit()
    con.close()


@pytest.mark.parametrize(
    "spoil, words",
    [
        (None, "is not a Panoptic project"),
        (corrupt, "data.db is not a readable SQLite database"),
        (newer, "newer Panoptic (database version 3"),
        (newer_07, "newer Panoptic 0.x (database version 8"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    spoil, words, panoptic_v1, panoptic_v07, tmp_path
):
    folder = tmp_path / "panoptic"
    if spoil is None:
        folder.mkdir()
        (folder / "notes.txt").write_text("not a project")
    else:
        shutil.copytree(panoptic_v07.project if spoil is newer_07 else panoptic_v1.project, folder)
        spoil(folder)
    project = tmp_path / "project"
    done = run_cli("import-panoptic", str(folder), str(project))
    assert done.returncode == 1, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not project.exists()


def test_a_panoptui_project_or_a_file_is_refused(tmp_path, panoptic_v1):
    project = tmp_path / "project"
    import_json(panoptic_v1.project, project)
    for wrong, words in (
        (project, "is a panoptui project"),
        (project / "project.duckdb", "is not a folder"),
    ):
        done = run_cli("import-panoptic", str(wrong), str(tmp_path / "other"))
        assert done.returncode == 1 and words in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "other").exists()


def test_names_as_users_type_them(panoptic_v1, tmp_path):
    source = tmp_path / "panoptic"
    shutil.copytree(panoptic_v1.project, source)
    first_path = run_panoptic("1.0.0", "odd_names_v1.py", str(source)).strip()
    odd = "[b]bold[/b] \x1b[31mred"
    project = tmp_path / "project"
    summary = import_json(source, project)
    # A built-in field's name is taken: renamed, and said. 'Tags' is panoptui's own tags.
    assert summary["properties_renamed"] == {"width": "width (Panoptic)"}
    values = values_by_path(project)
    assert values[("width (Panoptic)", first_path)] == "wide"
    assert values[("tags", first_path)] == ['a "quoted", name', "été/hiver"]
    assert values[(odd, first_path)] == odd
    assert query(
        project,
        "SELECT p.name FROM tags t JOIN tags p ON p.id = t.parent_id WHERE t.name = 'été/hiver'",
    ) == [('a "quoted", name',)]
    # Shown literally: the escape as text, never sent to the terminal.
    done = run_cli("import-panoptic", str(source), str(project))
    assert done.returncode == 0 and "\x1b" not in done.stdout
    done = run_cli("properties", str(project))
    assert "\x1b" not in done.stdout and "[b]bold[/b]" in done.stdout


def test_missing_files_of_a_07_project_show_its_thumbnails(panoptic_v07, tmp_path):
    source = tmp_path / "panoptic"
    shutil.copytree(panoptic_v07.project, source)
    con = sqlite3.connect(source / "panoptic.db")
    con.execute(
        "UPDATE instances SET url = replace(url, ?, '/nowhere')", [str(panoptic_v07.images)]
    )
    con.execute(
        "UPDATE folders SET path = replace(path, ?, '/nowhere')", [str(panoptic_v07.images)]
    )
    con.commit()
    with_small = con.execute(
        "SELECT count(*) FROM images WHERE length(small) > 0 OR length(medium) > 0"
    ).fetchone()[0]
    con.close()
    project = tmp_path / "project"
    summary = import_json(source, project)
    assert (summary["found"], summary["missing"], summary["images"]) == (0, 13, 12)
    assert 0 < with_small < 12  # the small images have none: 0.7 keeps no copy of those
    assert summary["missing_thumbnails"] == with_small
    check_values(project, source, "0.7")


def test_a_loop_of_parents_is_cut_and_said(panoptic_v07, tmp_path):
    source = tmp_path / "panoptic"
    shutil.copytree(panoptic_v07.project, source)
    con = sqlite3.connect(source / "panoptic.db")
    prop = con.execute("SELECT id FROM properties WHERE name = 'tag_id'").fetchone()[0]
    kitten = con.execute(
        "SELECT id FROM tags WHERE property_id = ? AND value = 'kitten'", [prop]
    ).fetchone()[0]
    # animal under kitten, which is under cat, which is under animal: Panoptic's data may hold it.
    con.execute(
        "UPDATE tags SET parents = ? WHERE property_id = ? AND value = 'animal'",
        [f"[{kitten}]", prop],
    )
    con.commit()
    con.close()
    project = tmp_path / "project"
    summary = import_json(source, project)
    assert summary["not_imported"] == {"tag_loops": 1}
    # The rest of the family stands: cat and kitten images are under animal (kitten through cat).
    listed = run_cli("images", str(project), "--where", "tag_id = animal", "--json")
    assert listed.returncode == 0, listed.stderr
    values = values_by_path(project)
    under = {path for (prop, path), v in values.items() if prop == "tag_id" and v != ["dog"]}
    assert {row["path"] for row in json.loads(listed.stdout)} <= under and len(under) == 9


def test_files_of_a_iiif_source_are_counted_not_imported(panoptic_v1, tmp_path):
    source = tmp_path / "panoptic"
    shutil.copytree(panoptic_v1.project, source)
    con = sqlite3.connect(source / "data.db")
    con.execute(
        "UPDATE folders SET path = 'https://iiif.example.org/c' WHERE path = ?",
        [str(panoptic_v1.images / "c")],
    )
    remote = con.execute(
        "SELECT count(*) FROM files f JOIN folders fo ON fo.id = f.folder_id "
        "WHERE fo.path LIKE 'https:%'"
    ).fetchone()[0]
    con.commit()
    con.close()
    summary = import_json(source, tmp_path / "project")
    assert remote > 0
    assert summary["not_imported"]["not_local"] == remote
    assert summary["found"] == 13 - remote and summary["missing"] == 0


def test_a_rerun_keeps_what_was_changed_here_and_brings_panoptics_changes(panoptic_v1, tmp_path):
    source = tmp_path / "panoptic"
    shutil.copytree(panoptic_v1.project, source)
    project = tmp_path / "project"
    import_json(source, project)
    first_path, second_path = (p for p, _ in panoptic_instances(source)[:2])
    image = query(project, "SELECT image_id FROM files WHERE path = ?", [first_path])[0][0]
    for args in (
        ("set", str(project), "text_id", "my edit", "--ids", str(image)),
        ("set", str(project), "tag_sha1", "kitten", "--ids", str(image)),
        ("properties", str(project), "--delete", "url_sha1", "--yes"),
    ):
        done = run_cli(*args)
        assert done.returncode == 0, done.stderr
    mine = values_by_path(project)
    assert mine[("text_id", first_path)] == "my edit"

    again = import_json(source, project)
    assert again["values_written"] == 0 and again["properties_new"] == 0
    assert again["not_imported"]["deleted_here"] == 1  # url_sha1, not made again
    assert values_by_path(project) == mine

    run_panoptic("1.0.0", "edit_project_v1.py", str(source))  # number_id of the first: 42
    run_panoptic("1.0.0", "rename_v1.py", str(source))
    third = import_json(source, project)
    # added_later (new), number_id and tag_id of two files (changed in Panoptic).
    assert third["values_written"] == 3
    assert third["renames_followed"] == {"number_sha1": "weight"}
    assert third["tag_renames_followed"] == [{"property": "tag_id", "old": "cat", "new": "chat"}]
    got = values_by_path(project)
    assert got[("text_id", first_path)] == "my edit"  # left as changed here
    assert got[("tag_sha1", first_path)] == ["kitten"]
    assert got[("number_id", first_path)] == 42.0
    assert got[("tag_id", second_path)] == ["bird"]
    assert ("weight", first_path) in got and not any(k[0] == "number_sha1" for k in got)
    names = {
        n
        for (n,) in query(
            project,
            "SELECT t.name FROM tags t JOIN properties p "
            "ON p.id = t.property_id WHERE p.name = 'tag_id'",
        )
    }
    assert "chat" in names and "cat" not in names  # fmt: skip


def test_move_is_checked_and_may_be_relative(panoptic_v1, tmp_path, monkeypatch):
    images = tmp_path / "elsewhere" / "my images"
    shutil.copytree(panoptic_v1.images, images)
    project = tmp_path / "project"
    for move, words in (
        (("/nowhere", str(images)), "holds none of Panoptic's files"),
        ((str(panoptic_v1.images), str(tmp_path / "absent")), "is not a folder"),
    ):
        done = run_cli("import-panoptic", str(panoptic_v1.project), str(project), "--move", *move)
        assert done.returncode == 1 and words in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and not project.exists()
    monkeypatch.chdir(tmp_path)
    summary = import_json(
        panoptic_v1.project, project, "--move", str(panoptic_v1.images), "elsewhere/my images/"
    )
    assert (summary["found"], summary["missing"]) == (13, 0)


def test_a_project_inside_the_panoptic_folder_is_refused(panoptic_v1, tmp_path):
    source = tmp_path / "panoptic"
    shutil.copytree(panoptic_v1.project, source)
    before = fingerprint(source)
    for inside in (source, source / "panoptui"):
        done = run_cli("import-panoptic", str(source), str(inside))
        assert done.returncode == 1 and "inside the Panoptic project" in done.stderr
        assert fingerprint(source) == before and not (source / "panoptui").exists()


def test_an_unreadable_panoptic_folder_is_one_line(panoptic_v1, tmp_path):
    source = tmp_path / "panoptic"
    shutil.copytree(panoptic_v1.project, source)
    os.chmod(source / "data.db", 0)
    command = [*PANOPTUI, "import-panoptic", str(source), str(tmp_path / "project")]
    if os.geteuid() == 0:  # root reads any file: drop the capabilities that let it
        caps = "-dac_override,-dac_read_search"
        command = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "data.db: permission denied" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "project").exists()


def test_renamed_folder_found_by_content_deleted_file_and_unreadable_file(panoptic_v1, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(panoptic_v1.images, images)
    (images / "a").rename(images / "a renamed")
    in_a = [p for p, _ in panoptic_instances(panoptic_v1.project) if "/a/" in p]
    project = tmp_path / "project"
    move = ("--move", str(panoptic_v1.images), str(images))
    summary = import_json(panoptic_v1.project, project, *move)
    # Panoptic 1.x's sha1 is of the bytes: the renamed folder's files are found by it.
    assert summary["found_by_content"] == len(in_a) > 0
    assert (summary["found"] + summary["found_by_content"], summary["missing"]) == (13, 0)
    assert summary["other_files"] == 0 and summary["images"] == 12
    renamed = {p.replace(str(panoptic_v1.images), str(images)).replace("/a/", "/a renamed/"): p
               for p in in_a}  # fmt: skip
    values = values_by_path(project)
    expected_index = [p for p, _ in panoptic_instances(panoptic_v1.project)].index(in_a[0])
    new_path = next(k for k, v in renamed.items() if v == in_a[0])
    assert values[("text_file", new_path)] == f"text {expected_index}"

    # A file deleted after the import: missing, on its own image; no second copy of it.
    gone = next(images.rglob("*.jpg"))
    gone.unlink()
    again = import_json(panoptic_v1.project, project, *move)
    assert again["missing"] == 1 and again["images"] == 12
    assert query(
        project, "SELECT count(*) FROM images WHERE starts_with(content_hash, 'panoptic')"
    ) == [(0,)]
    # A file that cannot be read now: said as such, not as missing, and no --move advice.
    broken = next(images.rglob("*.png"))
    broken.write_bytes(broken.read_bytes()[:40])
    text = run_cli("import-panoptic", str(panoptic_v1.project), str(project), *move)
    assert text.returncode == 0, text.stderr
    assert "1 unreadable now (see: panoptui errors)" in text.stdout
    assert "1 missing" in text.stdout  # the deleted one
    last = import_json(panoptic_v1.project, project, *move)
    assert (last["unreadable"], last["missing"]) == (1, 1)


def test_a_wal_left_without_its_shm_is_read_from_a_copy(panoptic_v1, tmp_path):
    source = tmp_path / "panoptic"
    shutil.copytree(panoptic_v1.project, source)
    writer = sqlite3.connect(source / "data.db")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute(
        "UPDATE sha1_values SET value = '\"from the wal\"' WHERE property_id = "
        "(SELECT id FROM properties WHERE name = 'text_sha1') AND value IS NOT NULL"
    )
    writer.commit()
    crashed = tmp_path / "crashed"  # as Panoptic killed: the WAL, no -shm
    crashed.mkdir()
    for name in ("project.db", "data.db", "data.db-wal", "media.db"):
        shutil.copyfile(source / name, crashed / name)
    writer.close()
    before = fingerprint(crashed)
    summary = import_json(crashed, tmp_path / "project")
    assert fingerprint(crashed) == before and not (crashed / "data.db-shm").exists()
    assert summary["found"] == 13
    texts = {v for (p, _), v in values_by_path(tmp_path / "project").items() if p == "text_sha1"}
    assert texts == {"from the wal"}


def test_a_07_project_that_moved_is_the_same_project(panoptic_v07, tmp_path):
    first, second = tmp_path / "here", tmp_path / "there"
    shutil.copytree(panoptic_v07.project, first)
    project = tmp_path / "project"
    import_json(first, project)
    first.rename(second)
    again = import_json(second, project)
    assert [s["set_id"] for s in again["vector_sets"]] == [1, 2]
    assert again["properties_new"] == 0 and again["tags_new"] == 0
    assert query(project, "SELECT count(*) FROM vector_sets") == [(2,)]


def test_removing_a_folder_takes_its_per_file_values(tmp_path, panoptic_v1):
    project = tmp_path / "project"
    import_json(panoptic_v1.project, project)
    done = run_cli("folders", str(project), "--remove", str(panoptic_v1.images))
    assert done.returncode == 0, done.stderr
    assert query(project, "SELECT count(*) FROM property_values") == [(0,)]
    assert query(project, "SELECT count(*) FROM file_tags") == [(0,)]
    other = tmp_path / "other"
    shutil.copytree(panoptic_v1.images / "a", other)
    done = run_cli("import", str(project), str(other))
    assert done.returncode == 0, done.stderr
    assert values_by_path(project) == {}  # the new files inherit nothing


def test_removals_in_panoptic_follow_unless_changed_here(panoptic_v1, tmp_path):
    source = tmp_path / "panoptic"
    shutil.copytree(panoptic_v1.project, source)
    project = tmp_path / "project"
    import_json(source, project)
    first_path = panoptic_instances(source)[0][0]
    image = query(project, "SELECT image_id FROM files WHERE path = ?", [first_path])[0][0]
    done = run_cli("set", str(project), "text_sha1", "kept here", "--ids", str(image))
    assert done.returncode == 0, done.stderr
    before = values_by_path(project)
    assert ("url_sha1", first_path) in before and ("multi_tags_sha1", first_path) in before

    run_panoptic("1.0.0", "clear_v1.py", str(source))
    summary = import_json(source, project)
    assert (summary["values_written"], summary["values_removed"]) == (0, 2)
    after = values_by_path(project)
    assert ("url_sha1", first_path) not in after  # cleared in Panoptic: cleared here
    assert ("multi_tags_sha1", first_path) not in after  # its tags taken off there: here too
    assert after[("text_sha1", first_path)] == "kept here"  # changed here: stays
    first_sha1 = panoptic_instances(source)[0][1]
    same = {p for p, s in panoptic_instances(source) if s == first_sha1}  # its copy too
    assert all(("url_sha1", p) not in after for p in same)
    others = {k: v for k, v in before.items() if k[1] not in same}
    assert {k: v for k, v in after.items() if k[1] not in same} == others
    again = import_json(source, project)
    assert (again["values_written"], again["values_removed"]) == (0, 0)


def test_a_folder_moved_after_the_import(panoptic_v1, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(panoptic_v1.images, images)
    project = tmp_path / "project"
    move = (str(panoptic_v1.images), str(images))
    import_json(panoptic_v1.project, project, "--move", *move)
    moved = tmp_path / "moved here"
    images.rename(moved)
    summary = import_json(panoptic_v1.project, project, "--move", move[0], str(moved))
    assert (summary["found"], summary["missing"], summary["values_written"]) == (13, 0, 0)
    assert query(project, "SELECT state, count(*) FROM files GROUP BY state") == [("ok", 13)]
    assert query(project, "SELECT path FROM folders") == [(str(moved),)]
    check_values(project, panoptic_v1.project, "1.0", (move[0], str(moved)))

    # A subfolder renamed since: its files are found by their content, their values follow.
    (moved / "c").rename(moved / "c renamed")
    summary = import_json(panoptic_v1.project, project, "--move", move[0], str(moved))
    in_c = [p for p, _ in panoptic_instances(panoptic_v1.project) if "/c/" in p]
    assert summary["found_by_content"] == len(in_c) > 0 and summary["missing"] == 0
    assert summary["values_written"] == 0
    assert query(project, "SELECT state, count(*) FROM files GROUP BY state") == [("ok", 13)]
    renamed = values_by_path(project)
    index = [p for p, _ in panoptic_instances(panoptic_v1.project)].index(in_c[0])
    new_path = in_c[0].replace(move[0], str(moved)).replace("/c/", "/c renamed/")
    assert renamed[("text_file", new_path)] == f"text {index}"
