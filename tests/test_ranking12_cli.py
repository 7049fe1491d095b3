"""panoptui rank and panoptui diverse: the same orderings as the core, as JSON and as text, and
one-line errors for what a user gets wrong."""

from __future__ import annotations

import json

from helpers import run_cli

from panoptui.core.samples import write_samples


def test_rank_and_diverse_through_the_cli(tmp_path):
    photos = tmp_path / "photos"
    write_samples(photos, per_family=3)
    project = str(tmp_path / "project")
    assert run_cli("import", project, str(photos)).returncode == 0
    assert run_cli("vectors", "create", project, "--model", "pixels").returncode == 0

    # No clustering yet: representative says what to do.
    done = run_cli("rank", project, "--by", "representative")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "no clustering yet" in done.stderr
    bad = run_cli("rank", project, "--by", "unusual", "--clustering", "c")
    assert bad.returncode == 1 and "--clustering goes with --by representative" in bad.stderr

    done = run_cli("rank", project, "--by", "unusual", "-k", "3", "--json")
    assert done.returncode == 0, done.stderr
    unusual = json.loads(done.stdout)
    assert len(unusual) == 18 and set(unusual[0]) == {"image_id", "path", "score"}
    scores = [r["score"] for r in unusual]
    assert scores == sorted(scores, reverse=True)
    text = run_cli("rank", project, "--by", "unusual", "-k", "3", "--limit", "2").stdout
    assert "most unusual first (k=3)" in text
    # A line says what the score is, then the columns are named.
    assert text.splitlines()[1] == "score: mean cosine distance to its 3 nearest neighbours"
    assert text.splitlines()[2].split() == ["#", "score", "id", "path"]
    assert text.splitlines()[3].split()[2] == str(unusual[0]["image_id"])
    assert len(text.splitlines()) == 5

    assert run_cli("cluster", project, "--k", "3", "--name", "three").returncode == 0
    done = run_cli("rank", project, "--by", "representative", "--folder", str(photos / "noise"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "'three'" in lines[0] and len(lines) == 6
    assert lines[1] == "score: cosine to its cluster's centre"
    assert all("/noise/" in line for line in lines[3:])

    named = run_cli("rank", project, "--by", "representative", "--clustering", "three", "--json")
    assert named.returncode == 0, named.stderr
    scores = [r["score"] for r in json.loads(named.stdout)]
    assert len(scores) == 18 and scores == sorted(scores, reverse=True)
    missing = run_cli("rank", project, "--by", "representative", "--clustering", "nope")
    assert missing.returncode == 1 and "no clustering named 'nope'" in missing.stderr

    done = run_cli("diverse", project, "-n", "5", "--json")
    assert done.returncode == 0, done.stderr
    picked = json.loads(done.stdout)
    assert len(picked) == 5 and len({p["image_id"] for p in picked}) == 5
    text = run_cli("diverse", project, "-n", "2").stdout
    assert text.startswith("2 diverse images of vector set 1, in the order picked")
    assert "score: cosine distance to the nearest image picked before it" in text
    bad = run_cli("diverse", project, "-n", "0")
    assert bad.returncode == 2 and "-n" in bad.stderr
