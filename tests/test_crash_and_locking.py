"""Real processes: SIGKILL at several points of an import, then resume; two writers at once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fixtures import photo, write_hostile_files
from helpers import TerminalRun, run_cli, table_contents

from panoptui.core.samples import family_image

N_PHOTOS = 360


@pytest.fixture(scope="module")
def slow_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough real-size photos that one worker needs several seconds (a few commits)."""
    root = tmp_path_factory.mktemp("slow")
    for i in range(N_PHOTOS):
        sub = root / f"roll{i % 3}"
        sub.mkdir(exist_ok=True)
        if i % 4 == 0:
            family_image("circles", i, (640, 480)).save(sub / f"p{i:03d}.png")
        else:
            photo(1200, 900, i).save(sub / f"p{i:03d}.jpg", quality=88)
    write_hostile_files(root / "broken")
    return root


@pytest.fixture(scope="module")
def reference(slow_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    project = tmp_path_factory.mktemp("ref") / "project"
    done = run_cli("import", str(project), str(slow_corpus), "--workers", "1")
    assert done.returncode == 0, done.stderr
    contents = table_contents(project)
    assert len(contents["files"]) == N_PHOTOS + len(contents["import_errors"])
    return contents


def children(pid: int) -> set[int]:
    found = set()
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat_file.parent.name))
    return found


def kill_when(run: TerminalRun, files_done: int) -> int:
    """Kill once the progress bar shows at least ``files_done`` files read (-1: during the walk,
    as soon as the process says anything). Checks that no worker process outlives the kill."""
    if files_done < 0:
        run.read_until(lambda out: len(out) > 0 or run.proc.poll() is not None)
    else:
        run.read_until(lambda _: run.files_done() >= files_done)
    workers = children(run.proc.pid)
    code = run.kill()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
        time.sleep(0.1)
    left = [w for w in workers if Path(f"/proc/{w}").exists()]
    assert not left, f"worker processes {left} outlived the killed import"
    return code


# 280 and 330: past the first batch of 256 files, so something was committed however fast the
# machine reads (one worker reads this corpus in under 3 s here, under the 2 s commit interval
# by 200 files).
@pytest.mark.parametrize("kill_at", [-1, 40, 280, 330])
def test_sigkill_then_rerun_ends_as_an_uninterrupted_import(
    tmp_path, slow_corpus, reference, kill_at
):
    project = tmp_path / "project"
    run = TerminalRun("import", str(project), str(slow_corpus), "--workers", "1")
    code = kill_when(run, kill_at)
    assert code == -9, "the import finished before it could be killed"
    if (project / "project.duckdb").exists():
        partial = table_contents(project)  # opens cleanly after the kill
        assert len(partial["files"]) <= len(reference["files"])
        if kill_at >= 256:  # batches were committed before the kill, but not all of them
            assert 0 < len(partial["images"]) < len(reference["images"])
        # Whatever was committed is already exactly what the full run has.
        ids = {row[0] for row in partial["images"]}
        assert partial["images"] == [row for row in reference["images"] if row[0] in ids]
    done = run_cli("import", str(project), str(slow_corpus), "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert table_contents(project) == reference


def test_killed_twice_then_finished(tmp_path, slow_corpus, reference):
    project = tmp_path / "project"
    for kill_at in (60, 150):
        run = TerminalRun("import", str(project), str(slow_corpus), "--workers", "1")
        assert kill_when(run, kill_at) == -9
    done = run_cli("import", str(project), "--workers", "1")  # rescan: no folder needed
    assert done.returncode == 0, done.stderr
    assert table_contents(project) == reference


def test_a_second_writer_gets_one_line_and_exit_2(tmp_path, slow_corpus, reference):
    project = tmp_path / "project"
    run = TerminalRun("import", str(project), str(slow_corpus), "--workers", "1")
    run.read_until(lambda _: run.files_done() >= 20)
    other = tmp_path / "other"
    other.mkdir()
    family_image("noise", 1).save(other / "n.png")
    for args in (["import", str(project), str(other)], ["status", str(project)]):
        second = run_cli(*args)
        assert second.returncode == 2
        assert second.stdout == ""
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert str(project) in lines[0] and f"process {run.proc.pid}" in lines[0]
        assert "Traceback" not in second.stderr
    assert run.finish() == 0
    assert table_contents(project) == reference  # the second writer changed nothing
