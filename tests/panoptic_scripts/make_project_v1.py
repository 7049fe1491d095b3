"""Build a real Panoptic 1.0.0 project headlessly, with Panoptic's own code.

usage: VENV/bin/python make_project_v1.py IMAGES_DIR PROJECT_DIR
(VENV holds `pip install panoptic==1.0.0`; no torch, no server, no browser. PROJECT_DIR must not
exist or be empty.) Writes go through the route functions the web UI posts to
(upsert_commit_route / delete_commit_route), called directly with the Project.

What it builds (tests/test_h14env_projects.py and the import tests assert it; see
/work/briefs/panoptic/NOTES.md for the layout):
- the folder imported: every file, one instance each (13 files, 12 sha1s with gen_images.py);
- 30 user properties, one per type (text number date checkbox url color tag multi_tags path
  image_link) and mode (sha1 = per image, id = per instance, file = per file), named TYPE_MODE;
- in each tag property the tags animal, pet, cat (parents animal AND pet), dog (pet),
  kitten (cat);
- values of image index i (instances in id order): text 'text i', number i*1.5 if i%3 else i,
  date 2024-09-(i+1)T10:00:00Z, checkbox i%2==0, url https://example.org/i, color i%12,
  path /some/path/i.txt, image_link https://example.org/img/i.png, tag [cat|dog|kitten][i%3],
  multi_tags [cat, dog] if i%2 else [kitten]; a sha1-mode property is written by the first
  instance of each sha1 only;
- deletions: text_id of the first instance and text_sha1 of the second's sha1 cleared (value
  NULL, operation 1); 'cat' removed from one multi_tags_sha1 cell (junction row -1); tag 'dog'
  of multi_tags_id deleted (-1, with its junction rows); tag 'animal' of tag_sha1 deleted
  (cat keeps it in its parents); property 'to_delete' made, given a value, deleted (-1);
- two vector sets as PanopticML writes them (source 'PanopticML', params model
  openai/clip-vit-base-patch32, greyscale false then true): the first on every sha1, the second
  on the first half of the sorted sha1s; random unit float32 vectors of 512 dims
  (np.random.default_rng(0), sorted-sha1 order).
"""

import os
import sys
import time

import numpy as np
from panoptic.core.databases.media.models import Vector, VectorType
from panoptic.core.project.project import Project
from panoptic.routes.project_routes import (
    DeleteRequest,
    UpsertRequest,
    delete_commit_route,
    upsert_commit_route,
)

MODEL = "openai/clip-vit-base-patch32"  # PanopticML ModelEnum.clip (its default vector type)
TYPES = [
    "text",
    "number",
    "date",
    "checkbox",
    "url",
    "color",
    "tag",
    "multi_tags",
    "path",
    "image_link",
]
MODES = ["sha1", "id", "file"]


def wait_idle(project, settle=1.0):
    quiet = None
    while True:
        busy = any(not s.finished for s in project.get_task_states())
        if busy:
            quiet = None
        elif quiet is None:
            quiet = time.time()
        elif time.time() - quiet > settle:
            return
        time.sleep(0.1)


def main(images_dir, project_dir):
    t0 = time.time()
    project = Project(project_dir)
    project.start()
    try:
        build(project, images_dir)
    finally:
        wait_idle(project, 0.3)
        project.close()
    print(f"done in {time.time() - t0:.1f}s ->", project_dir)


def build(project, images_dir):
    # 1. import (ImportSourceTask + LocalFileSourceReader: sha1 of the raw file bytes)
    task = project.import_folder(os.path.abspath(images_dir))
    task.wait()
    wait_idle(project)
    instances = sorted(project.get_instances(), key=lambda i: i.id)
    files = {f.id: f for f in project.get_files()}
    print("instances", len(instances), "files", len(files), "folders", len(project.get_folders()))

    # 2. one property per user type and mode (sha1 = per image, id = per instance, file = per file)
    req = UpsertRequest(
        properties=[
            {"id": -(k + 1), "name": f"{t}_{m}", "type": t, "mode": m}
            for k, (t, m) in enumerate((t, m) for t in TYPES for m in MODES)
        ]
    )
    upsert_commit_route(req, project=project)
    by_name = {p.name: p for p in project.get_properties()}

    # 3. tag hierarchy per tag property: animal, pet; cat (parents animal AND pet); dog (pet);
    #    kitten (cat). Parents given by temporary ids in the same commit.
    tag_ids = {}
    for m in MODES:
        for t in ("tag", "multi_tags"):
            pid = by_name[f"{t}_{m}"].id
            res = upsert_commit_route(
                UpsertRequest(
                    tags=[
                        {"id": -1, "property_id": pid, "value": "animal", "color": 1},
                        {"id": -2, "property_id": pid, "value": "pet", "color": 2},
                        {
                            "id": -3,
                            "property_id": pid,
                            "value": "cat",
                            "parents": [-1, -2],
                            "color": 3,
                        },
                        {"id": -4, "property_id": pid, "value": "dog", "parents": [-2], "color": 4},
                        {
                            "id": -5,
                            "property_id": pid,
                            "value": "kitten",
                            "parents": [-3],
                            "color": 5,
                        },
                    ]
                ),
                project=project,
            )
            tag_ids[f"{t}_{m}"] = {x["value"]: x["id"] for x in res["tags"]}

    def value_for(t, i, tags):
        if t == "tag":
            return [tags[["cat", "dog", "kitten"][i % 3]]]
        if t == "multi_tags":
            return [tags["cat"], tags["dog"]] if i % 2 else [tags["kitten"]]
        return {
            "text": f"text {i}",
            "number": i * 1.5 if i % 3 else i,
            "date": f"2024-09-{i + 1:02d}T10:00:00Z",
            "checkbox": i % 2 == 0,
            "url": f"https://example.org/{i}",
            "color": i % 12,
            "path": f"/some/path/{i}.txt",
            "image_link": f"https://example.org/img/{i}.png",
        }[t]

    # 4. values
    iv, sv, fv = [], [], []
    seen = set()
    for i, inst in enumerate(instances):
        for t in TYPES:
            iv.append(
                {
                    "property_id": by_name[f"{t}_id"].id,
                    "instance_id": inst.id,
                    "value": value_for(t, i, tag_ids.get(f"{t}_id")),
                }
            )
            if inst.sha1 not in seen:
                sv.append(
                    {
                        "property_id": by_name[f"{t}_sha1"].id,
                        "sha1": inst.sha1,
                        "value": value_for(t, i, tag_ids.get(f"{t}_sha1")),
                    }
                )
            fv.append(
                {
                    "property_id": by_name[f"{t}_file"].id,
                    "file_id": inst.file_id,
                    "value": value_for(t, i, tag_ids.get(f"{t}_file")),
                }
            )
        seen.add(inst.sha1)
    upsert_commit_route(
        UpsertRequest(instance_values=iv, image_values=sv, file_values=fv), project=project
    )

    # 5. deletions -> operation = -1 rows: clear values (value None), delete a tag, a property
    upsert_commit_route(
        UpsertRequest(
            instance_values=[
                {
                    "property_id": by_name["text_id"].id,
                    "instance_id": instances[0].id,
                    "value": None,
                }
            ],
            image_values=[
                {"property_id": by_name["text_sha1"].id, "sha1": instances[1].sha1, "value": None},
                # remove one tag from a multi_tags cell: junction row goes to -1
                {
                    "property_id": by_name["multi_tags_sha1"].id,
                    "sha1": instances[1].sha1,
                    "value": [tag_ids["multi_tags_sha1"]["cat"]],
                },
            ],
        ),
        project=project,
    )
    delete_commit_route(
        DeleteRequest(empty_tags=[tag_ids["multi_tags_id"]["dog"]]), project=project
    )
    # a deleted PARENT: 1.0 leaves it in the children's `parents` (cat keeps [animal, pet])
    delete_commit_route(DeleteRequest(empty_tags=[tag_ids["tag_sha1"]["animal"]]), project=project)
    res = upsert_commit_route(
        UpsertRequest(properties=[{"id": -1, "name": "to_delete", "type": "text", "mode": "id"}]),
        project=project,
    )
    extra = res["properties"][0]["id"]
    upsert_commit_route(
        UpsertRequest(
            instance_values=[
                {"property_id": extra, "instance_id": instances[0].id, "value": "gone"}
            ]
        ),
        project=project,
    )
    delete_commit_route(DeleteRequest(empty_properties=[extra]), project=project)

    # 6. vectors: what PanopticML's ComputeVectorsTask does (project.upsert_vectors with
    #    Vector(type_id, sha1, float32 ndarray)) on a VectorType(source plugin name, params).
    rng = np.random.default_rng(0)
    sha1s = sorted({i.sha1 for i in instances})
    for greyscale in (False, True):
        vid = project.allocate_vector_types(1)
        vid = vid if isinstance(vid, int) else list(vid)[0]
        project.upsert_vector_type(
            VectorType(id=vid, source="PanopticML", params={"model": MODEL, "greyscale": greyscale})
        )
        todo = sha1s if not greyscale else sha1s[: len(sha1s) // 2]  # second set half done
        vecs = []
        for s in todo:
            v = rng.standard_normal(512).astype(np.float32)
            vecs.append(Vector(type_id=vid, sha1=s, data=v / np.linalg.norm(v)))
        project.upsert_vectors(vecs)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
