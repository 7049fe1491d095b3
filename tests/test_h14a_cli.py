"""`panoptui classify` end to end (issue 14): a tiny random-weight text model (built through
open_clip, as the search tests build theirs) labels a generated corpus; the labelling equals
the argmax of the stored vectors against the model's own text vectors; the refusals and bad
input are one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli
from model_fixtures import tiny_open_clip_dir

from panoptui.core import store, tags
from panoptui.core.samples import write_samples

# Words the tiny random model happens to split the corpus by (15 and 3 images, the others
# none): the argmax is checked on more than one label.
LABELS = ["red", "b", "gradient", "noise"]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[str, Path, Path]:
    """A project of generated samples with two sets: 1 pixels (no text), 2 the tiny CLIP; and
    a tag family "shapes" (round, striped)."""
    root = tmp_path_factory.mktemp("h14a")
    photos = root / "photos"
    write_samples(photos, per_family=3)
    project = str(root / "project")
    assert run_cli("import", project, str(photos)).returncode == 0
    assert run_cli("vectors", "create", project, "--model", "pixels").returncode == 0
    weights = tiny_open_clip_dir(root)
    done = run_cli(
        "vectors", "create", project, "--model", "open_clip:tiny", "--weights", str(weights)
    )
    assert done.returncode == 0, done.stderr
    con = store.open_project(project)
    try:
        tags.create_tag(con, "round", parent="shapes")
        tags.create_tag(con, "shapes/striped", parent="shapes")
    finally:
        con.close()
    return project, photos, weights


def reference(project: str, weights: Path, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The images' ids and their cosines to each text, computed here from the stored vectors
    and the model loaded in this process."""
    from panoptui.core.models import load_embedder
    from panoptui.core.query import VectorMatrix

    con = store.open_project(project, read_only=True)
    try:
        matrix = VectorMatrix.load(con, 2)
    finally:
        con.close()
    text = np.asarray(load_embedder("open_clip:tiny", str(weights)).embed_texts(texts))
    text = text / np.linalg.norm(text, axis=1, keepdims=True)
    return matrix.ids, matrix.vectors.astype(np.float64) @ text.T


def classify(project: str, *args: str):
    return run_cli("classify", project, *args)


def test_tiny_text_model_labels_the_corpus_as_the_argmax(project):
    project, _photos, weights = project
    done = classify(project, "--labels", ",".join(LABELS), "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["vector_set"] == 2 and found["unlabelled"] == [] and found["tags"] == []
    assert [g["label"] for g in found["groups"]] == LABELS
    assert [g["text"] for g in found["groups"]] == [f"a photo of {n}" for n in LABELS]

    ids, scores = reference(project, weights, [f"a photo of {n}" for n in LABELS])
    assert sum(g["size"] for g in found["groups"]) == len(ids) > 0
    assert len({int(best) for best in scores.argmax(axis=1)}) >= 2
    assert sum(1 for g in found["groups"] if g["size"]) >= 2
    row = {int(i): r for r, i in enumerate(ids)}
    for n, group in enumerate(found["groups"]):
        assert group["size"] == len(group["ids"]) == len(group["scores"])
        for image_id, score in zip(group["ids"], group["scores"], strict=True):
            r = row[image_id]
            # Its label is the closest text (to float noise between two processes).
            assert score == pytest.approx(scores[r, n], abs=1e-4)
            assert scores[r, n] >= scores[r].max() - 1e-4
        assert group["scores"] == sorted(group["scores"], reverse=True)

    # The same as text: one line per label, its size and mean score.
    lines = classify(project, "--labels", ",".join(LABELS)).stdout.splitlines()
    assert [line.split()[0] for line in lines] == LABELS
    for line, group in zip(lines, found["groups"], strict=True):
        assert f"{group['size']} image" in line
        assert (f"mean {group['score']:6.3f}" in line) == (group["size"] > 0)


def test_threshold_and_multiple(project):
    project, _photos, weights = project
    ids, scores = reference(project, weights, [f"a photo of {n}" for n in LABELS])
    threshold = float(np.median(scores.max(axis=1)))
    cut = json.loads(
        classify(
            project, "--labels", ",".join(LABELS), "--threshold", str(threshold), "--json"
        ).stdout
    )
    below = {int(i) for i, s in zip(ids, scores, strict=True) if s.max() < threshold - 1e-4}
    assert below <= set(cut["unlabelled"])
    assert all(s >= threshold for g in cut["groups"] for s in g["scores"])
    assert len(cut["unlabelled"]) + sum(g["size"] for g in cut["groups"]) == len(ids)

    every = json.loads(
        classify(
            project, "--labels", ",".join(LABELS), "--multiple", "--threshold", "-1", "--json"
        ).stdout
    )
    assert all(sorted(g["ids"]) == sorted(ids.tolist()) for g in every["groups"])
    done = classify(project, "--labels", "a,b", "--multiple")
    assert done.returncode == 1 and "--multiple needs --threshold" in done.stderr


def test_tag_family_where_and_save_as(project):
    project, _photos, _weights = project
    found = json.loads(
        classify(
            project, "--tags", "shapes", "--parent-names", "combine", "--where", "name ~ circles",
            "--json",
        ).stdout
    )  # fmt: skip
    assert [(g["label"], g["text"]) for g in found["groups"]] == [
        ("round", "a photo of shapes round"),
        ("striped", "a photo of shapes striped"),
    ]
    labelled = [i for g in found["groups"] for i in g["ids"]]
    assert len(labelled) == 3  # the three circles only

    done = classify(project, "--labels", "x,y", "--save-as", "zs", "--prompt", "{} things")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("saved ") and "under zs" in done.stdout
    listed = json.loads(run_cli("tags", project, "--json").stdout)
    under = {t["name"]: t["images"] for t in listed if t["parent"] == "zs"}
    assert set(under) <= {"zs/x", "zs/y"} and sum(under.values()) == len(
        json.loads(run_cli("images", project, "--json").stdout)
    )
    assert run_cli("undo", project).returncode == 0
    assert not [
        t for t in json.loads(run_cli("tags", project, "--json").stdout) if "zs" in t["name"]
    ]


def test_refusals_and_bad_input_are_one_line(project):
    project, _photos, _weights = project
    refused = classify(project, "--labels", "a,b", "--vectors", "1")
    assert refused.returncode == 1
    assert "sets that embed text: 2 (open_clip:tiny)" in refused.stderr
    for args, words in (
        (["--labels", ""], "no labels"),
        (["--labels", " , "], "no labels"),
        (["--labels", "a", "--prompt", "a photo"], "has no {} where the label goes"),
        (["--tags", "nothing"], "no tag 'nothing'"),
        (["--tags", "round"], "has no tags under it"),
        (["--labels", "a", "--save-as", " "], "not blank"),
        (["--labels", "a", "--where", "name ~ nothing-like-this"], "no images match"),
    ):
        done = classify(project, *args)
        assert done.returncode == 1, (args, done.stderr)
        assert words in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr
    both = classify(project, "--labels", "a", "--tags", "shapes")
    assert both.returncode == 2 and "not allowed with" in both.stderr
    for value in ("nan", "1.5", "high"):
        wrong = classify(project, "--labels", "a", "--threshold", value)
        assert wrong.returncode == 2 and "--threshold" in wrong.stderr.splitlines()[-1]
