"""A large Panoptic 1.0.0 project for the import benchmark, built with Panoptic's own code.

usage: VENV/bin/python make_bench_v1.py IMAGES_DIR PROJECT_DIR
Imports IMAGES_DIR, then gives every image a value of three properties (text per image, tag per
instance, number per file) through the route the web UI posts to, and one 512-number vector set
(PanopticML's CLIP name) through project.upsert_vectors, as PanopticML writes it.
"""

import os
import sys
import time

import numpy as np
from panoptic.core.databases.media.models import Vector, VectorType
from panoptic.core.project.project import Project
from panoptic.routes.project_routes import UpsertRequest, upsert_commit_route


def wait_idle(project, settle=1.0):
    quiet = None
    while True:
        if any(not s.finished for s in project.get_task_states()):
            quiet = None
        elif quiet is None:
            quiet = time.time()
        elif time.time() - quiet > settle:
            return
        time.sleep(0.2)


def main(images_dir, project_dir):
    started = time.time()
    project = Project(project_dir)
    project.start()
    try:
        project.import_folder(os.path.abspath(images_dir)).wait()
        wait_idle(project)
        imported = time.time()
        instances = sorted(project.get_instances(), key=lambda i: i.id)
        res = upsert_commit_route(
            UpsertRequest(
                properties=[
                    {"id": -1, "name": "caption", "type": "text", "mode": "sha1"},
                    {"id": -2, "name": "kind", "type": "tag", "mode": "id"},
                    {"id": -3, "name": "score", "type": "number", "mode": "file"},
                ]
            ),
            project=project,
        )
        caption, kind, score = (p["id"] for p in res["properties"])
        res = upsert_commit_route(
            UpsertRequest(
                tags=[
                    {"id": -(k + 1), "property_id": kind, "value": f"kind {k}"} for k in range(10)
                ]
            ),
            project=project,
        )
        tags = [t["id"] for t in res["tags"]]
        upsert_commit_route(
            UpsertRequest(
                image_values=[
                    {"property_id": caption, "sha1": i.sha1, "value": f"image {n}"}
                    for n, i in enumerate(instances)
                ],
                instance_values=[
                    {"property_id": kind, "instance_id": i.id, "value": [tags[n % 10]]}
                    for n, i in enumerate(instances)
                ],
                file_values=[
                    {"property_id": score, "file_id": i.file_id, "value": n * 0.5}
                    for n, i in enumerate(instances)
                ],
            ),
            project=project,
        )
        vid = project.allocate_vector_types(1)
        vid = vid if isinstance(vid, int) else list(vid)[0]
        project.upsert_vector_type(
            VectorType(
                id=vid,
                source="PanopticML",
                params={"model": "openai/clip-vit-base-patch32", "greyscale": False},
            )
        )
        rng = np.random.default_rng(0)
        sha1s = sorted({i.sha1 for i in instances})
        for start in range(0, len(sha1s), 2000):
            vectors = []
            for sha1 in sha1s[start : start + 2000]:
                v = rng.standard_normal(512).astype(np.float32)
                vectors.append(Vector(type_id=vid, sha1=sha1, data=v / np.linalg.norm(v)))
            project.upsert_vectors(vectors)
    finally:
        wait_idle(project, 0.3)
        project.close()
    print(
        f"{len(instances)} instances; Panoptic import {imported - started:.1f}s, "
        f"total {time.time() - started:.1f}s"
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
