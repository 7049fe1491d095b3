"""Labelling images by names (zero-shot, issue 14): Panoptic's "cluster by tags".

Each label (a name typed, or a tag under a parent tag) is put in a prompt ("a photo of {}") and
embedded as text by the vector set's own model; each image then gets the label whose text
vector is closest by cosine, or, with ``multiple``, every label at or above the threshold. An
image whose best score is below the threshold gets none.

The result is shaped like a clustering (``LabelGroup``: label, size, mean score, images best
first; ``as_clusters`` gives core/cluster.py's ``Cluster`` objects for the screens that show
clusters) and can be saved as tags under a parent, in one journal change.

Parent tags, as Panoptic offers (``PARENT_NAMES``), for the tags under ``--tags PARENT`` at any
depth: ``use`` makes every one of them a label by its own name; ``ignore`` keeps only the tags
with no tag under them (a parent tag is a family, not a label); ``combine`` keeps those same
tags and embeds each one's name after its parent's ("animals cat").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np

from panoptui.core import journal, store, tags
from panoptui.core.text import shown

if TYPE_CHECKING:
    from panoptui.core.cluster import Cluster
    from panoptui.core.models.base import Embedder
    from panoptui.core.query import VectorMatrix
    from panoptui.core.vector_sets import VectorSet

DEFAULT_PROMPT = "a photo of {}"
PARENT_NAMES = ("use", "combine", "ignore")
# Rows per block of the (images x labels) score product: 65,536 x 512 labels of float32 is
# 128 MB at most, whatever the corpus.
SCORE_BLOCK = 65_536


@dataclass(frozen=True)
class Label:
    """A label: the name its group and tag take, and the words put into the prompt."""

    name: str
    words: str


@dataclass
class LabelGroup:
    """The images given one label, best score first (ties by image id)."""

    label: str
    text: str  # the prompt as embedded
    ids: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.ids)

    @property
    def score(self) -> float:
        """The mean score of the members (0 for an empty group)."""
        return float(np.mean(self.scores)) if self.scores else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "text": self.text,
            "size": self.size,
            "score": round(self.score, 6),
            "ids": self.ids,
            "scores": [round(s, 6) for s in self.scores],
        }


@dataclass
class Labelling:
    groups: list[LabelGroup]
    unlabelled: list[int]  # images under the threshold, by id

    def as_dict(self) -> dict[str, Any]:
        return {
            "groups": [g.as_dict() for g in self.groups],
            "unlabelled": self.unlabelled,
        }

    def as_clusters(self) -> list[Cluster]:
        """The groups as clusters (numbered in label order, named by label), to be shown
        where clusters are."""
        from panoptui.core.cluster import Cluster

        return [
            Cluster(n, g.size, g.score, list(g.ids), g.label) for n, g in enumerate(self.groups)
        ]


# --- the labels ------------------------------------------------------------------------------


def parse_labels(text: str) -> list[Label]:
    """Labels from ``"cat, dog,bird"``: blanks around each dropped, empty ones and repeats
    skipped; none at all is an error."""
    names: list[str] = []
    for part in text.split(","):
        name = part.strip()
        if name and name not in names:
            names.append(name)
    if not names:
        raise store.ProjectError(f"no labels in {shown(repr(text))}: give names, comma-separated")
    return [Label(n, n) for n in names]


def _own_name(name: str, parent: str | None) -> str:
    """A tag's name without its parent's as a prefix ("animals/cat" under "animals": "cat"),
    the way panoptui names the tags it makes under a parent."""
    if parent and name.startswith(parent + "/") and len(name) > len(parent) + 1:
        return name[len(parent) + 1 :]
    return name


def tag_labels(
    con: duckdb.DuckDBPyConnection,
    parent: str,
    parent_names: str = "use",
    property_id: int = store.TAGS_PROPERTY_ID,
) -> list[Label]:
    """The labels of the tags under ``parent``, a tag of a tag property (``tags`` unless said),
    at any depth, parent tags treated as ``parent_names`` says (see the module's docstring)."""
    if parent_names not in PARENT_NAMES:
        raise store.ProjectError(
            f"parent names: {shown(repr(parent_names))} is not one of {', '.join(PARENT_NAMES)}"
        )
    parent = tags.clean_name(parent)
    if not tags.tag_exists(con, parent, property_id):
        # A tag of that name in another tag property (an imported Panoptic project's): say
        # which, since the search was in the wrong one.
        elsewhere = [
            name
            for name in tags.properties_with_tag(con, parent)
            if name != tags.property_name(con, property_id)
        ]
        if elsewhere:
            raise store.ProjectError(
                f"{parent!r} is a tag of {', '.join(elsewhere)}: give --tag-property NAME"
            )
        tags.get_tag(con, parent, property_id)  # an unknown tag: its one-line error
    labels: list[Label] = []

    def add(under: str, under_name: str, path: frozenset[str]) -> None:
        for child in tags.child_tags(con, under, property_id):
            if child in path:  # a loop of parents (tags.py): it was labelled on the way down
                continue
            has_children = bool(tags.child_tags(con, child, property_id))
            name = _own_name(child, under)
            if parent_names == "use" or not has_children:
                words = f"{under_name} {name}" if parent_names == "combine" else name
                if name not in [label.name for label in labels]:
                    labels.append(Label(name, words))
            add(child, name, path | {child})

    add(parent, parent, frozenset([parent]))
    if not labels:
        raise store.ProjectError(f"tag {parent!r} has no tags under it to label with")
    return labels


def prompt_texts(labels: list[Label], prompt: str = DEFAULT_PROMPT) -> list[str]:
    """Each label's words put in the prompt, at its ``{}``."""
    if "{}" not in prompt:
        raise store.ProjectError(
            f"the prompt {shown(repr(prompt))} has no {{}} where the label goes "
            f"(e.g. {DEFAULT_PROMPT!r})"
        )
    return [prompt.replace("{}", label.words) for label in labels]


# --- the labelling ---------------------------------------------------------------------------


def classify(
    matrix: VectorMatrix,
    label_vectors: np.ndarray,
    labels: list[str],
    threshold: float | None = None,
    multiple: bool = False,
    within: np.ndarray | None = None,
    texts: list[str] | None = None,
) -> Labelling:
    """Label the images of ``matrix`` (those ``within`` only, when given) by the closest of
    ``label_vectors`` (one row per label, normalised here), in blocks of rows. Without
    ``multiple``: the best label, if its score reaches ``threshold``; with it, every label
    whose score reaches ``threshold`` (which it needs)."""
    vectors = np.asarray(label_vectors, np.float32)
    if vectors.ndim != 2 or len(vectors) != len(labels) or not labels:
        raise store.ProjectError("give one text vector per label, and at least one label")
    if multiple and threshold is None:
        raise store.ProjectError("--multiple needs --threshold: every label at or above it")
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    if within is not None:
        matrix = matrix.among(within)
    # Each (image, label) pair kept, as arrays per block, grouped and sorted once at the end
    # (measured, 200,000 x 512 and 20 labels: 0.68 s with a Python loop per image, 0.24 s so).
    pair_ids: list[np.ndarray] = []
    pair_labels: list[np.ndarray] = []
    pair_scores: list[np.ndarray] = []
    left: list[np.ndarray] = []
    for start in range(0, len(matrix), SCORE_BLOCK):
        ids = matrix.ids[start : start + SCORE_BLOCK]
        scores = matrix.vectors[start : start + SCORE_BLOCK] @ vectors.T  # (rows, labels)
        if multiple:
            assert threshold is not None
            rows, cols = np.nonzero(scores >= threshold)
            kept = scores[rows, cols]
            taken = np.zeros(len(ids), bool)
            taken[rows] = True
        else:
            best = scores.argmax(axis=1)  # ties: the first label given
            top = scores[np.arange(len(ids)), best]
            taken = top >= threshold if threshold is not None else np.ones(len(ids), bool)
            rows = np.flatnonzero(taken)
            cols, kept = best[rows], top[rows]
        pair_ids.append(ids[rows])
        pair_labels.append(cols)
        pair_scores.append(kept)
        left.append(ids[~taken])
    every_id = np.concatenate(pair_ids) if pair_ids else np.empty(0, np.int64)
    every_label = np.concatenate(pair_labels) if pair_labels else np.empty(0, np.int64)
    every_score = np.concatenate(pair_scores) if pair_scores else np.empty(0, np.float32)
    # By label, then best score first, ties by image id.
    order = np.lexsort((every_id, -every_score, every_label))
    every_id, every_label, every_score = every_id[order], every_label[order], every_score[order]
    bounds = np.searchsorted(every_label, np.arange(len(labels) + 1))
    groups = [
        LabelGroup(
            label,
            texts[n] if texts else label,
            every_id[bounds[n] : bounds[n + 1]].tolist(),
            every_score[bounds[n] : bounds[n + 1]].astype(float).tolist(),
        )
        for n, label in enumerate(labels)
    ]
    unlabelled = np.sort(np.concatenate(left)) if left else np.empty(0, np.int64)
    return Labelling(groups, unlabelled.tolist())


def classify_set(
    con: duckdb.DuckDBPyConnection,
    matrix: VectorMatrix,
    embedder: Callable[[VectorSet], Embedder],
    vector_set: VectorSet,
    labels: list[Label],
    prompt: str = DEFAULT_PROMPT,
    threshold: float | None = None,
    multiple: bool = False,
    within: np.ndarray | None = None,
) -> Labelling:
    """Label a set's images by ``labels``, their texts embedded by the set's own model
    (``embedder`` loads it, asked only once the set is known to embed text, as for a text
    search)."""
    from panoptui.core import query

    texts = prompt_texts(labels, prompt)
    query.require_text(con, vector_set)
    label_vectors = embedder(vector_set).embed_texts(texts)
    return classify(
        matrix, label_vectors, [label.name for label in labels], threshold, multiple, within, texts
    )


def save_as_tags(con: duckdb.DuckDBPyConnection, labelling: Labelling, parent: str) -> list[str]:
    """One tag per group that has images, ``PARENT/LABEL`` under ``parent``, all in one
    journal change (one undo); the tags made or added to."""
    parent = tags.clean_name(parent)
    made = []
    filled = [g for g in labelling.groups if g.ids]
    with journal.change(con, f"save {len(filled)} labels as tags under {parent!r}"):
        for group in filled:
            tag = f"{parent}/{group.label}"
            tags.create_tag(con, tag, parent=parent)
            tags.tag_images(con, tag, group.ids)
            made.append(tag)
    return made
