"""Zero-shot labelling (issue 14), in the core: planted text and image vectors give exactly the
expected argmax; the threshold, --multiple, the scope; labels from a tag family; saving as
tags in one undo."""

from __future__ import annotations

import numpy as np
import pytest

from panoptui.core import classify, journal, store, tags
from panoptui.core.query import VectorMatrix
from panoptui.core.vector_sets import VectorSet

DIM = 24
LABELS = ["cat", "dog", "bird", "fish"]


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class PlantedEmbedder:
    """Embeds exactly the texts it was given vectors for (any other text is a test failure),
    and records what it was asked."""

    def __init__(self, planted: dict[str, np.ndarray]) -> None:
        self.planted = planted
        self.asked: list[list[str]] = []

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        self.asked.append(list(texts))
        return np.stack([self.planted[t] for t in texts])


def text_set() -> VectorSet:
    return VectorSet(
        1, "stub", "stub", False, None, DIM, True, 32, 0, 0, 0, "complete", "2026-01-01"
    )


@pytest.fixture
def con(tmp_path):
    connection = store.open_project(tmp_path / "project", create=True)
    yield connection
    connection.close()


@pytest.fixture
def planted():
    """Label vectors scaled differently (classify normalises them), and 300 images each made
    near one label, the rest of them random: ids not in row order."""
    rng = np.random.default_rng(14)
    label_vectors = unit(rng.normal(size=(len(LABELS), DIM))) * np.array([[1], [3], [0.5], [7]])
    truth = rng.integers(0, len(LABELS), 300)
    images = unit(unit(label_vectors[truth]) * 2 + rng.normal(size=(300, DIM)))
    ids = rng.permutation(np.arange(1000, 1300, dtype=np.int64))
    return VectorMatrix(ids, images), label_vectors


def expected_scores(matrix: VectorMatrix, label_vectors: np.ndarray) -> np.ndarray:
    """Every cosine, one image at a time (no blocks, no matrix product)."""
    return np.array(
        [[float(v @ unit(lv)) for lv in label_vectors] for v in matrix.vectors], np.float64
    )


def test_planted_vectors_give_exactly_the_argmax(con, planted, monkeypatch):
    matrix, label_vectors = planted
    embedder = PlantedEmbedder(
        {f"a photo of {name}": vec for name, vec in zip(LABELS, label_vectors, strict=True)}
    )
    # Small blocks: the blocked product must agree with one image at a time.
    monkeypatch.setattr(classify, "SCORE_BLOCK", 7)
    labels = classify.parse_labels(" cat, dog,,bird ,fish,cat")
    assert [label.name for label in labels] == LABELS  # blanks, empties and repeats dropped
    result = classify.classify_set(con, matrix, lambda vs: embedder, text_set(), labels)
    assert embedder.asked == [[f"a photo of {name}" for name in LABELS]]

    scores = expected_scores(matrix, label_vectors)
    best = scores.argmax(axis=1)
    assert result.unlabelled == []
    assert sum(g.size for g in result.groups) == len(matrix)
    for n, group in enumerate(result.groups):
        assert group.label == LABELS[n] and group.text == f"a photo of {LABELS[n]}"
        rows = [r for r in range(len(matrix)) if best[r] == n]
        assert sorted(group.ids) == sorted(int(matrix.ids[r]) for r in rows)
        # Best first, each score the image's cosine to its label, the mean their mean.
        assert group.scores == sorted(group.scores, reverse=True)
        by_id = {int(matrix.ids[r]): scores[r, n] for r in rows}
        assert group.scores == pytest.approx([by_id[i] for i in group.ids], abs=1e-5)
        assert group.score == pytest.approx(np.mean(list(by_id.values())), abs=1e-5)
    # The planted structure is what the argmax finds (the test's vectors are not degenerate).
    assert all(g.size > 30 for g in result.groups)
    clusters = result.as_clusters()
    assert [(c.label, c.name, c.size) for c in clusters] == [
        (n, g.label, g.size) for n, g in enumerate(result.groups)
    ]


def test_threshold_leaves_the_images_below_it_unlabelled(planted):
    matrix, label_vectors = planted
    scores = expected_scores(matrix, label_vectors)
    threshold = float(np.median(scores.max(axis=1)))
    result = classify.classify(matrix, label_vectors, LABELS, threshold=threshold)
    below = sorted(int(matrix.ids[r]) for r in range(len(matrix)) if scores[r].max() < threshold)
    assert below and result.unlabelled == below
    labelled = [i for g in result.groups for i in g.ids]
    assert len(labelled) == len(set(labelled)) == len(matrix) - len(below)
    for n, group in enumerate(result.groups):
        for i in group.ids:
            row = int(np.flatnonzero(matrix.ids == i)[0])
            assert scores[row].argmax() == n and scores[row, n] >= threshold
    everything = classify.classify(matrix, label_vectors, LABELS, threshold=-1.0)
    assert everything.unlabelled == []
    nothing = classify.classify(matrix, label_vectors, LABELS, threshold=1.01)
    assert nothing.unlabelled == sorted(matrix.ids.tolist()) and not any(
        g.ids for g in nothing.groups
    )


def test_multiple_gives_every_label_at_or_above_the_threshold(planted):
    matrix, label_vectors = planted
    scores = expected_scores(matrix, label_vectors)
    threshold = 0.2
    result = classify.classify(matrix, label_vectors, LABELS, threshold=threshold, multiple=True)
    for n, group in enumerate(result.groups):
        want = sorted(int(matrix.ids[r]) for r in range(len(matrix)) if scores[r, n] >= threshold)
        assert sorted(group.ids) == want
    none = sorted(int(matrix.ids[r]) for r in range(len(matrix)) if scores[r].max() < threshold)
    assert result.unlabelled == none
    in_two = [i for i in matrix.ids.tolist() if sum(i in g.ids for g in result.groups) > 1]
    assert in_two  # some images carry more than one label: what --multiple is for
    with pytest.raises(store.ProjectError, match="--multiple needs --threshold"):
        classify.classify(matrix, label_vectors, LABELS, multiple=True)


def test_within_labels_only_those_images(planted):
    matrix, label_vectors = planted
    within = matrix.ids[::3].copy()
    result = classify.classify(matrix, label_vectors, LABELS, within=within)
    assert sorted(i for g in result.groups for i in g.ids) == sorted(within.tolist())
    whole = classify.classify(matrix, label_vectors, LABELS)
    for part, full in zip(result.groups, whole.groups, strict=True):
        assert set(part.ids) == set(full.ids) & set(within.tolist())


def test_bad_labels_and_prompts_are_one_line(con):
    for text in ("", " , ,"):
        with pytest.raises(store.ProjectError, match="no labels"):
            classify.parse_labels(text)
    labels = classify.parse_labels("cat")
    with pytest.raises(store.ProjectError, match="has no {} where the label goes"):
        classify.prompt_texts(labels, "a photo of a cat")
    assert classify.prompt_texts(labels, "{} or {}?") == ["cat or cat?"]
    assert classify.prompt_texts(labels, "a {x} {}") == ["a {x} cat"]  # no format() surprises
    with pytest.raises(store.ProjectError, match="no tag 'nothing'"):
        classify.tag_labels(con, "nothing")
    tags.create_tag(con, "alone")
    with pytest.raises(store.ProjectError, match="has no tags under it"):
        classify.tag_labels(con, "alone")
    with pytest.raises(store.ProjectError, match="not one of use, combine, ignore"):
        classify.tag_labels(con, "alone", "both")


def test_pixels_set_refuses_naming_the_sets_that_embed_text(con):
    from datetime import datetime

    now = datetime.now()
    for set_id, model, text in ((1, "pixels", False), (2, "open_clip:tiny", True)):
        con.execute(
            "INSERT INTO vector_sets (id, model, family, greyscale, weights, dim, embeds_text, "
            "batch_size, state, created_at, updated_at) "
            "VALUES (?, ?, 'x', false, NULL, 4, ?, 32, 'complete', ?, ?)",
            [set_id, model, text, now, now],
        )
        store.create_vector_table(con, set_id, 4)
    pixels = VectorSet(1, "pixels", "x", False, None, 4, False, 32, 0, 0, 0, "complete", str(now))

    def never(vs: VectorSet) -> PlantedEmbedder:
        raise AssertionError("a set without text must not load a model")

    matrix = VectorMatrix(np.array([1], np.int64), unit(np.ones((1, 4))))
    with pytest.raises(store.ProjectError) as refused:
        classify.classify_set(con, matrix, never, pixels, classify.parse_labels("a,b"))
    said = str(refused.value)
    assert "embeds images only" in said and "sets that embed text: 2 (open_clip:tiny)" in said
    assert "\n" not in said


def family(con) -> None:
    """animals: dog (named as panoptui names children), bird (with owl under it), cat."""
    tags.create_tag(con, "animals")
    tags.create_tag(con, "cat", parent="animals")
    tags.create_tag(con, "animals/dog", parent="animals")
    tags.create_tag(con, "bird", parent="animals")
    tags.create_tag(con, "owl", parent="bird")


@pytest.mark.parametrize(
    ("parent_names", "expected"),
    [
        ("use", [("dog", "dog"), ("bird", "bird"), ("owl", "owl"), ("cat", "cat")]),
        ("ignore", [("dog", "dog"), ("owl", "owl"), ("cat", "cat")]),
        ("combine", [("dog", "animals dog"), ("owl", "bird owl"), ("cat", "animals cat")]),
    ],
)
def test_labels_from_a_tag_family(con, parent_names, expected):
    family(con)
    labels = classify.tag_labels(con, " animals ", parent_names)
    assert [(label.name, label.words) for label in labels] == expected
    assert classify.prompt_texts(labels)[-1] == f"a photo of {expected[-1][1]}"


def test_saved_as_tags_under_a_parent_in_one_undo(con, planted):
    matrix, label_vectors = planted
    now = "2026-01-01"
    con.execute(
        "INSERT INTO images (id, content_hash, size, format, width, height, mode, orientation, "
        "frames, phash, state, imported_at) "
        "SELECT i, 'h' || i, 1, 'PNG', 1, 1, 'RGB', 1, 1, 0, 'ok', ? FROM range(1000, 1300) t(i)",
        [now],
    )
    result = classify.classify(matrix, label_vectors, LABELS, threshold=0.5)
    made = classify.save_as_tags(con, result, " zero-shot ")
    filled = [g for g in result.groups if g.ids]
    assert made == [f"zero-shot/{g.label}" for g in filled]
    assert tags.child_tags(con, "zero-shot") == sorted(made, key=tags.natural_key)
    for group in filled:
        got = tags.tag_members(con, f"zero-shot/{group.label}")
        assert sorted(got.tolist()) == sorted(group.ids)
    assert len(journal.history(con)) == 1
    journal.undo(con)
    assert not tags.tag_exists(con, "zero-shot")
    assert not any(tags.tag_exists(con, t) for t in made)
