"""The import: metadata, thumbnails, hashes, hostile files, incremental rescans."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from fixtures import family_image, jpeg_bytes, photo
from PIL import Image

from panoptui.core import store
from panoptui.core.decode import perceptual_hash
from panoptui.core.scan import import_folders


def open_new(tmp_path: Path, name: str = "project"):
    return store.open_project(tmp_path / name, create=True)


def rows(con, sql: str, params: list | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def test_every_format_is_imported_with_its_metadata(tmp_path, good_corpus):
    folder, expected = good_corpus
    con = open_new(tmp_path)
    summary = import_folders(con, [str(folder)], workers=2)
    assert summary.new == len(expected)
    assert summary.failed == 0
    got = {
        rel: {"format": fmt, "mode": mode, "width": w, "height": h}
        for rel, fmt, mode, w, h in rows(
            con,
            "SELECT f.rel_path, i.format, i.mode, i.width, i.height "
            "FROM files f JOIN images i ON i.id = f.image_id",
        )
    }
    assert got == expected  # .txt side-car and the hidden folder are not imported


def test_exif_orientation_applies_to_size_and_thumbnail(tmp_path, good_corpus):
    folder, _ = good_corpus
    con = open_new(tmp_path)
    import_folders(con, [str(folder)], workers=1)
    thumbs = {}
    for rel, orientation, jpeg in rows(
        con,
        "SELECT f.rel_path, i.orientation, t.jpeg FROM files f JOIN images i ON i.id = f.image_id "
        "JOIN thumbnails t ON t.image_id = i.id WHERE f.rel_path LIKE 'exif/%'",
    ):
        thumb = Image.open(io.BytesIO(jpeg))
        assert int(rel.split("_")[1][0]) == orientation
        assert thumb.size == (256, 171)
        thumbs[orientation] = thumb.convert("L")
    # Every orientation displays the same picture: thumbnails agree up to JPEG noise.
    reference = thumbs[1]
    assert sorted(thumbs) == list(range(1, 9))
    for orientation, thumb in thumbs.items():
        diff = np.abs(np.asarray(reference, np.int16) - np.asarray(thumb, np.int16)).mean()
        assert diff < 6, orientation


def test_thumbnails_are_small_jpegs_and_large_photos_are_cheap(tmp_path, good_corpus):
    folder, _ = good_corpus
    con = open_new(tmp_path)
    import_folders(con, [str(folder)], workers=1)
    for width, height, jpeg in rows(con, "SELECT width, height, jpeg FROM thumbnails"):
        img = Image.open(io.BytesIO(jpeg))
        assert img.format == "JPEG" and img.mode == "RGB"
        assert img.size == (width, height) and max(width, height) <= 256
    big = rows(
        con,
        "SELECT t.width, t.height FROM thumbnails t JOIN files f ON f.image_id = t.image_id "
        "WHERE f.rel_path = 'big/large.jpg'",
    )
    assert big == [(256, 171)]
    # TIFF and WebP orientation tags are honoured too.
    for rel in ("exif/orient_6.tif", "exif/orient_8.webp"):
        ((w, h),) = rows(
            con,
            "SELECT t.width, t.height FROM thumbnails t JOIN files f ON f.image_id = t.image_id "
            "WHERE f.rel_path = ?",
            [rel],
        )
        assert (w, h) == (256, 171), rel


def test_perceptual_hash_survives_resize_and_reencode():
    original = photo(800, 600, 21)
    copy = Image.open(io.BytesIO(jpeg_bytes(original.resize((400, 300)), quality=60)))
    other = photo(800, 600, 22)
    near = bin(perceptual_hash(original) ^ perceptual_hash(copy)).count("1")
    far = bin(perceptual_hash(original) ^ perceptual_hash(other)).count("1")
    assert near <= 6
    assert far >= 16


def test_content_hash_and_duplicates(tmp_path):
    folder = tmp_path / "dups"
    folder.mkdir()
    family_image("circles", 1).save(folder / "a.png")
    shutil.copy(folder / "a.png", folder / "a_copy.png")
    (folder / "sub").mkdir()
    shutil.copy(folder / "a.png", folder / "sub" / "a_again.png")
    family_image("circles", 2).save(folder / "b.png")
    con = open_new(tmp_path)
    import_folders(con, [str(folder)], workers=1)
    assert rows(con, "SELECT count(*) FROM images") == [(2,)]
    groups = rows(
        con, "SELECT image_id, count(*) FROM files GROUP BY image_id ORDER BY count(*) DESC"
    )
    assert [n for _, n in groups] == [3, 1]
    import hashlib

    digest = hashlib.sha256((folder / "a.png").read_bytes()).hexdigest()
    assert rows(con, "SELECT id FROM images WHERE content_hash = ?", [digest]) == [(groups[0][0],)]


@pytest.mark.parametrize(
    "name",
    [
        "empty.jpg",
        "truncated.jpg",
        "text.jpg",
        "bomb.png",
        "broken_link.jpg",
        "pipe.png",
        "damaged_header.jpg",
        "garbage_pixels.jpg",
        "corrupt_mid.png",
    ],
)
def test_each_hostile_file_is_one_error_with_a_reason(tmp_path, hostile_corpus, name):
    folder, cases = hostile_corpus
    good = folder / "good.png"
    family_image("gradient", 1).save(good)
    con = open_new(tmp_path)
    summary = import_folders(con, [str(folder)], workers=1)
    errors = dict(rows(con, "SELECT path, reason FROM import_errors"))
    path = str(folder / name)
    assert path in errors, sorted(errors)
    assert cases[name] in errors[path]
    assert summary.failed == len(cases)
    # ...and the import went on: the good file is there.
    assert rows(con, "SELECT state FROM files WHERE path = ?", [str(good)]) == [("ok",)]
    assert rows(con, "SELECT count(*) FROM import_errors WHERE path = ?", [path]) == [(1,)]


def test_decompression_bomb_limit_is_configurable(tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    photo(1200, 1000, 1).save(folder / "big.png")
    con = open_new(tmp_path)
    import_folders(con, [str(folder)], max_pixels=1_000_000, workers=1)
    (reason,) = rows(con, "SELECT reason FROM import_errors")[0]
    assert "1200x1000" in reason and "--max-pixels" in reason
    # Raising the limit and re-importing fixes it (the file itself did not change).
    summary = import_folders(con, None, max_pixels=2_000_000, workers=1)
    assert (summary.new, summary.failed) == (1, 0)
    assert rows(con, "SELECT count(*) FROM import_errors") == [(0,)]
    assert rows(con, "SELECT width, height FROM images") == [(1200, 1000)]


def test_unreadable_file_is_an_error(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    family_image("noise", 1).save(folder / "secret.png")
    family_image("noise", 2).save(folder / "open.png")
    os.chmod(folder / "secret.png", 0)
    project = tmp_path / "project"
    command = [sys.executable, "-m", "panoptui", "import", str(project), str(folder)]
    if os.geteuid() == 0:
        # root reads any file; drop the capabilities that let it, as for any other user.
        caps = "-dac_override,-dac_read_search"
        command = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    con = store.open_project(project, read_only=True)
    errors = dict(rows(con, "SELECT path, reason FROM import_errors"))
    assert errors == {
        str(folder / "secret.png"): "permission denied: the file cannot be read by this user"
    }
    assert rows(con, "SELECT count(*) FROM files WHERE state = 'ok'") == [(1,)]


def test_file_deleted_between_scan_and_read(tmp_path):
    folder = tmp_path / "vanishing"
    folder.mkdir()
    for i in range(4):
        family_image("stripes", i).save(folder / f"s{i}.png")
    victim = folder / "s2.png"

    def delete_once_reading_starts(event):
        if event.stage == "importing" and victim.exists():
            victim.unlink()

    con = open_new(tmp_path)
    summary = import_folders(con, [str(folder)], workers=1, progress=delete_once_reading_starts)
    assert summary.new == 3 and summary.failed == 1
    (reason,) = rows(con, "SELECT reason FROM import_errors WHERE path = ?", [str(victim)])[0]
    assert "disappeared" in reason
    # Next rescan: the file is simply gone, and so is its error.
    summary = import_folders(con, None, workers=1)
    assert summary.failed == 0
    assert rows(con, "SELECT count(*) FROM import_errors") == [(0,)]


def test_symlink_loops_end_and_only_links_inside_are_followed(tmp_path):
    folder = tmp_path / "loops"
    (folder / "a").mkdir(parents=True)
    family_image("checker", 1).save(folder / "a" / "x.png")
    os.symlink(folder, folder / "a" / "back_to_root")
    os.symlink(folder / "a", folder / "a" / "self")
    outside = tmp_path / "outside"
    outside.mkdir()
    family_image("checker", 2).save(outside / "y.png")
    os.symlink(outside, folder / "linked")
    con = open_new(tmp_path)
    result: list = []
    thread = threading.Thread(
        target=lambda: result.append(import_folders(con, [str(folder)], workers=1))
    )
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the walk did not end"
    # The link to a folder outside the imported one is not followed, and counted.
    assert (result[0].new, result[0].links_not_followed) == (1, 1)
    assert rows(con, "SELECT rel_path FROM files") == [("a/x.png",)]
    # Asked to, the import follows it.
    summary = import_folders(con, None, workers=1, follow_links=True)
    assert (summary.new, summary.unchanged, summary.links_not_followed) == (1, 1, 0)
    assert rows(con, "SELECT rel_path FROM files ORDER BY id") == [("a/x.png",), ("linked/y.png",)]


def test_rescan_detects_unchanged_changed_missing_restored_and_new(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(5):
        family_image("triangles", i).save(folder / f"t{i}.png")
    con = open_new(tmp_path)
    first = import_folders(con, [str(folder)], workers=1)
    assert (first.new, first.unchanged) == (5, 0)
    ids_before = dict(rows(con, "SELECT path, id FROM files"))

    again = import_folders(con, None, workers=1)
    assert (again.new, again.changed, again.unchanged, again.missing) == (0, 0, 5, 0)

    changed = folder / "t1.png"
    old_image = rows(con, "SELECT image_id FROM files WHERE path = ?", [str(changed)])[0][0]
    family_image("circles", 99).save(changed)
    os.utime(changed, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    moved = folder / "t2.png"
    backup = tmp_path / "t2.png.bak"
    moved.rename(backup)
    family_image("gradient", 7).save(folder / "new.png")
    summary = import_folders(con, None, workers=1)
    assert (summary.new, summary.changed, summary.missing, summary.unchanged) == (1, 1, 1, 3)
    new_image = rows(con, "SELECT image_id FROM files WHERE path = ?", [str(changed)])[0][0]
    assert new_image != old_image
    assert rows(con, "SELECT state FROM images WHERE id = ?", [old_image]) == [("stale",)]
    assert rows(con, "SELECT state FROM images WHERE id = ?", [new_image]) == [("ok",)]
    assert rows(con, "SELECT state FROM files WHERE path = ?", [str(moved)]) == [("missing",)]
    missing_image = rows(con, "SELECT image_id FROM files WHERE path = ?", [str(moved)])[0][0]
    assert rows(con, "SELECT state FROM images WHERE id = ?", [missing_image]) == [("missing",)]
    # File ids are stable across rescans.
    assert all(
        ids_before[p] == i for p, i in rows(con, "SELECT path, id FROM files") if p in ids_before
    )

    backup.rename(moved)  # the file is back, unchanged
    summary = import_folders(con, None, workers=1)
    assert (summary.restored, summary.new, summary.changed) == (1, 0, 0)
    assert rows(con, "SELECT state FROM images WHERE id = ?", [missing_image]) == [("ok",)]


def test_nested_folders_share_their_files(tmp_path):
    folder = tmp_path / "archive"
    (folder / "2020").mkdir(parents=True)
    family_image("noise", 1).save(folder / "2020" / "a.png")
    family_image("noise", 2).save(folder / "b.png")
    con = open_new(tmp_path)
    import_folders(con, [str(folder / "2020")], workers=1)
    file_id = rows(con, "SELECT id FROM files")[0][0]
    summary = import_folders(con, [str(folder)], workers=1)
    assert (summary.new, summary.unchanged) == (1, 1)
    assert rows(con, "SELECT path FROM folders") == [(str(folder),)]
    assert rows(con, "SELECT id, rel_path FROM files WHERE rel_path LIKE '2020/%'") == [
        (file_id, "2020/a.png")
    ]
    summary = import_folders(con, [str(folder / "2020")], workers=1)  # already covered
    assert rows(con, "SELECT count(*) FROM folders") == [(1,)]
    assert summary.unchanged == 2


def test_a_deleted_folder_marks_its_files_missing(tmp_path):
    folder = tmp_path / "usb"
    folder.mkdir()
    family_image("circles", 3).save(folder / "c.png")
    con = open_new(tmp_path)
    import_folders(con, [str(folder)], workers=1)
    shutil.rmtree(folder)
    summary = import_folders(con, None, workers=1)
    assert summary.folders_not_found == [str(folder)]
    assert rows(con, "SELECT state FROM files") == [("missing",)]


def test_parallel_import_matches_serial_import(tmp_path, good_corpus, hostile_corpus):
    folder, _ = good_corpus
    hostile, _ = hostile_corpus
    results = []
    for workers in (1, 2):
        con = open_new(tmp_path, f"p{workers}")
        import_folders(con, [str(folder), str(hostile)], workers=workers)
        results.append(
            (
                rows(con, "SELECT * EXCLUDE (imported_at) FROM images ORDER BY id"),
                rows(con, "SELECT * EXCLUDE (seen_at) FROM files ORDER BY id"),
                rows(con, "SELECT * FROM thumbnails ORDER BY image_id"),
                rows(con, "SELECT * EXCLUDE (failed_at) FROM import_errors ORDER BY path"),
            )
        )
        con.close()
    assert results[0] == results[1]


def test_cancel_commits_what_was_read_and_a_rerun_finishes(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(40):
        family_image("checker", i, (64, 48)).save(folder / f"c{i:02d}.png")
    cancel = threading.Event()

    def cancel_after_some(event):
        if event.stage == "importing" and event.done >= 16:
            cancel.set()

    con = open_new(tmp_path)
    summary = import_folders(
        con, [str(folder)], workers=1, progress=cancel_after_some, cancel=cancel
    )
    assert summary.cancelled
    kept = rows(con, "SELECT count(*) FROM files")[0][0]
    assert 16 <= kept < 40
    summary = import_folders(con, None, workers=1)
    assert (summary.new, summary.unchanged) == (40 - kept, kept)


def test_a_decoder_crash_costs_only_its_file(tmp_path):
    from fixtures import read_chunk_crashing_on_marked_files

    from panoptui.core.scan import read_files

    folder = tmp_path / "crashy"
    folder.mkdir()
    paths = []
    for i in range(40):
        name = f"img{i:02d}_CRASH.png" if i in (5, 29) else f"img{i:02d}.png"
        family_image("gradient", i, (48, 32)).save(folder / name)
        paths.append(str(folder / name))
    results = [
        r
        for chunk in read_files(paths, 2, 10**8, 64, read_chunk_crashing_on_marked_files)
        for r in chunk
    ]
    assert [r.path for r in results] == paths  # every file, in order
    crashed = {r.path for r in results if r.error is not None}
    assert crashed == {paths[5], paths[29]}
    assert all("crashed" in r.error for r in results if r.error is not None)


def test_non_utf8_link_target(tmp_path):
    folder = tmp_path / "links"
    folder.mkdir()
    os.symlink(os.fsdecode(b"gone/\xff.jpg"), folder / "broken.jpg")  # inside: followed
    family_image("noise", 3).save(folder / "fine.png")
    con = open_new(tmp_path)
    summary = import_folders(con, [str(folder)], workers=1)
    assert (summary.new, summary.failed) == (1, 1)
    (reason,) = rows(con, "SELECT reason FROM import_errors")[0]
    assert "\\xff" in reason
    assert import_folders(con, None, workers=1).failed == 1  # and the rescan works too


def test_a_link_never_claims_files_from_their_real_folder(tmp_path):
    root = tmp_path / "d"
    (root / "real").mkdir(parents=True)
    family_image("circles", 4).save(root / "real" / "a.png")
    os.symlink("real", root / "alias")  # sorts before "real"
    con = open_new(tmp_path)
    import_folders(con, [str(root / "real")], workers=1)
    summary = import_folders(con, [str(root)], workers=1)
    assert (summary.new, summary.missing, summary.unchanged) == (0, 0, 1)
    assert rows(con, "SELECT rel_path, state FROM files") == [("real/a.png", "ok")]


def test_hidden_folders_can_be_imported_on_their_own(tmp_path):
    photos = tmp_path / "photos"
    (photos / ".hidden").mkdir(parents=True)
    family_image("stripes", 5).save(photos / "shown.png")
    family_image("stripes", 6).save(photos / ".hidden" / "secret.png")
    con = open_new(tmp_path)
    import_folders(con, [str(photos / ".hidden")], workers=1)
    summary = import_folders(con, [str(photos)], workers=1)
    assert (summary.new, summary.missing) == (1, 0)
    summary = import_folders(con, [str(photos / ".hidden")], workers=1)
    assert (summary.unchanged, summary.missing) == (1, 0)
    assert rows(con, "SELECT count(*) FROM folders") == [(2,)]
    assert rows(con, "SELECT count(*) FROM files WHERE state = 'ok'") == [(2,)]


def test_a_known_file_deleted_during_the_import_is_missing_not_forgotten(tmp_path):
    folder = tmp_path / "race"
    folder.mkdir()
    victim = folder / "b.png"
    family_image("checker", 7).save(folder / "a.png")
    family_image("checker", 8).save(victim)
    con = open_new(tmp_path)
    import_folders(con, [str(folder)], workers=1)
    os.utime(victim, ns=(10**18, 10**18))  # changed: it will be read again...

    def delete_victim(event):
        if event.stage == "importing" and victim.exists():
            victim.unlink()  # ...but it is gone by then

    summary = import_folders(con, None, workers=1, progress=delete_victim)
    assert (summary.missing, summary.failed) == (1, 0)
    ((state, image_id),) = rows(
        con, "SELECT state, image_id FROM files WHERE path = ?", [str(victim)]
    )
    assert state == "missing" and image_id is not None
    assert rows(con, "SELECT state FROM images WHERE id = ?", [image_id]) == [("missing",)]
    assert rows(con, "SELECT count(*) FROM import_errors") == [(0,)]
    import_folders(con, None, workers=1)
    assert rows(con, "SELECT state FROM files WHERE path = ?", [str(victim)]) == [("missing",)]


def test_a_fifo_swapped_in_after_the_scan_does_not_hang(tmp_path):
    from panoptui.core.read_worker import read_image_file

    fifo = tmp_path / "late.jpg"
    os.mkfifo(fifo)
    result = read_image_file(str(fifo), 10**8, 64)
    assert result.error == "not a regular file"


def test_a_huge_non_image_fails_on_its_header(tmp_path):
    from panoptui.core.read_worker import read_image_file

    fake = tmp_path / "video.jpg"
    with open(fake, "wb") as handle:
        handle.write(b"\x00\x00\x00\x18ftypmp42")
        handle.truncate(8 * 1024**3)  # sparse: 8 GB that would not fit a worker's memory
    result = read_image_file(str(fake), 10**8, 64)
    assert result.error is not None and "not an image" in result.error
    assert result.content_hash is None  # never read past the header


def test_an_unreadable_folder_is_reported_and_marks_nothing_missing(tmp_path):
    import json

    folder = tmp_path / "shut"
    folder.mkdir()
    family_image("triangles", 9).save(folder / "t.png")
    project = tmp_path / "project"
    command = [sys.executable, "-m", "panoptui", "import", str(project)]
    done = subprocess.run([*command, str(folder)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    os.chmod(folder, 0)
    try:
        if os.geteuid() == 0:
            caps = "-dac_override,-dac_read_search"
            command = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", *command]
        done = subprocess.run([*command, "--json"], capture_output=True, text=True)
    finally:
        os.chmod(folder, 0o755)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["missing"] == 0 and summary["folders_unreadable"]
    con = store.open_project(project, read_only=True)
    assert rows(con, "SELECT state FROM files") == [("ok",)]
