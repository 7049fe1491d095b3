"""Add a vector set to a Panoptic 1.0.0 project as PanopticML's ComputeVectorsTask writes one
(project.upsert_vector_type, project.upsert_vectors), left half-computed.

usage: VENV/bin/python add_vectors_v1.py PROJECT_DIR MODEL DIM
Random unit float32 vectors of DIM numbers (seeded) on the first half of the sorted sha1s.
"""

import sys

import numpy as np
from panoptic.core.databases.media.models import Vector, VectorType
from panoptic.core.project.project import Project


def main(project_dir, model, dim):
    project = Project(project_dir)
    project.start()
    try:
        sha1s = sorted({i.sha1 for i in project.get_instances()})
        vid = project.allocate_vector_types(1)
        vid = vid if isinstance(vid, int) else list(vid)[0]
        project.upsert_vector_type(
            VectorType(id=vid, source="PanopticML", params={"model": model, "greyscale": False})
        )
        rng = np.random.default_rng(1)
        vectors = []
        for sha1 in sha1s[: len(sha1s) // 2]:
            v = rng.standard_normal(dim).astype(np.float32)
            vectors.append(Vector(type_id=vid, sha1=sha1, data=v / np.linalg.norm(v)))
        project.upsert_vectors(vectors)
        print(vid)
    finally:
        project.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
