"""`panoptui duplicates` (issue 12): the JSON shape, the histogram, and groups the user said
are not duplicates never proposed again."""

from __future__ import annotations

import json

import tui_helpers
from helpers import run_cli

from panoptui.core import duplicates, store

demo_base, project = tui_helpers.demo_base, tui_helpers.project


def near_groups(path, threshold: str) -> list[list[dict]]:
    done = run_cli("duplicates", str(path), "--threshold", threshold, "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert set(found) == {"exact", "near"}
    for group in found["exact"] + found["near"]:
        assert all(set(m) >= {"id", "path", "score"} for m in group)
    return found["near"]


def test_json_groups_and_not_duplicates_left_out(project):
    near = near_groups(project, "0.9")
    assert near, "the demo's families hold near-duplicates at 0.9"
    seen: set[int] = set()
    for group in near:
        assert group[0]["score"] == 1.0  # the representative first
        assert all(m["score"] >= 0.9 for m in group[1:])
        assert [m["score"] for m in group] == sorted((m["score"] for m in group), reverse=True)
        ids = {m["id"] for m in group}
        assert not ids & seen
        seen |= ids
    first = [m["id"] for m in near[0]]
    con = store.open_project(project)
    duplicates.mark_not_duplicates(con, first)
    con.close()
    again = near_groups(project, "0.9")
    for group in again:  # no two of the first group together again
        assert len({m["id"] for m in group} & set(first)) <= 1


def test_histogram_text_and_json(project):
    text = run_cli("duplicates", str(project), "--histogram", "--threshold", "0.92")
    assert text.returncode == 0, text.stderr
    assert "nearest-neighbour cosine" in text.stdout and "0.92  " in text.stdout
    assert "<- --threshold" in text.stdout
    done = run_cli("duplicates", str(project), "--histogram", "--json")
    found = json.loads(done.stdout)
    assert sum(b["images"] for b in found["nearest"]) == 36
    rows = {r["threshold"]: r for r in found["thresholds"]}
    assert set(rows) == set(duplicates.HISTOGRAM_THRESHOLDS)
    assert rows[0.85]["images"] >= rows[0.99]["images"]
    bad = run_cli("duplicates", str(project), "--histogram", "--threshold", "3")
    assert bad.returncode == 1 and "from -1 to 1" in bad.stderr
