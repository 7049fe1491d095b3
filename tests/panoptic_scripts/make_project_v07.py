"""Build a real Panoptic 0.7.6 project headlessly, with Panoptic's own code.

usage: VENV/bin/python make_project_v07.py IMAGES_DIR PROJECT_DIR
(VENV holds `pip install panoptic==0.7.6`; no torch, no server, no browser. PROJECT_DIR must not
exist or be empty.) Writes go through ProjectDb.apply_commit, as the web UI's routes do.

What it builds (tests/test_h14env_projects.py and the import tests assert it; see
/work/briefs/panoptic/NOTES.md for the layout):
- the folder imported (13 instances, 12 sha1s with gen_images.py; 0.7's sha1 is that of the
  image re-encoded as a JPEG of quality 30, not of the file);
- 20 user properties, one per type (text number date checkbox url color tag multi_tags path
  image_link) and mode (sha1 = per image, id = per instance), named TYPE_MODE;
- in each tag property the tags animal, pet, cat (parents animal AND pet), dog (pet),
  kitten (cat);
- values of image index i (instances in path order): text 'text i', number i*1.5 if i%3 else i,
  date 2024-09-(i+1)T10:00:00Z, checkbox i%2==0 (false is not stored), url
  https://example.org/i, color i%12, path /some/path/i.txt, image_link
  https://example.org/img/i.png, tag [cat|dog|kitten][i%3], multi_tags [cat, dog] if i%2 else
  [kitten]; a sha1-mode property is written by the first instance of each sha1 only;
- deletions, all hard in 0.7 (rows gone): text_id of the first instance, text_sha1 of the
  second's sha1, tag 'dog' of multi_tags_id (taken out of the value lists), tag 'animal' of
  tag_sha1 (taken out of cat's parents), property 'to_delete' with its value;
- two vector sets as PanopticML writes them (source 'PanopticML', params model
  openai/clip-vit-base-patch32, greyscale false then true): the first on every sha1, the second
  on the first half of the sorted sha1s; random unit float32 vectors of 512 dims
  (np.random.default_rng(0), sorted-sha1 order).
"""

import asyncio
import os
import sys
import time

import numpy as np
from panoptic.core.project.project import Project
from panoptic.models import (
    DbCommit,
    ImageProperty,
    ImagePropertyKey,
    InstanceProperty,
    InstancePropertyKey,
    PropertyMode,
    PropertyType,
    Vector,
    VectorType,
)

MODEL = "openai/clip-vit-base-patch32"  # PanopticML ModelEnum.clip (its default vector type)
USER_TYPES = [
    PropertyType.string,
    PropertyType.number,
    PropertyType.date,
    PropertyType.checkbox,
    PropertyType.url,
    PropertyType.color,
    PropertyType.tag,
    PropertyType.multi_tags,
    PropertyType.path,
    PropertyType.image_link,
]


async def wait_idle(project, settle=1.5):
    """Task queue idle (no queued tasks, no worker busy) for `settle` seconds."""
    q = project.task_queue
    quiet_since = None
    while True:
        busy = (not q.empty()) or any(
            q._working.values() if isinstance(q._working, dict) else q._working
        )
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since > settle:
            return
        await asyncio.sleep(0.2)


async def main(images_dir, project_dir):
    t0 = time.time()
    os.makedirs(project_dir, exist_ok=True)
    project = Project(project_dir, [], name="made-by-script")
    await project.start()
    await project.wait_full_start()
    try:
        await build(project, images_dir)
    finally:
        await wait_idle(project, settle=0.5)
        await project.close()
    print(f"done in {time.time() - t0:.1f}s ->", project_dir)


async def build(project, images_dir):
    db = project.db

    # 1. import the folder through ImportFolderTask -> ImportInstanceTask (sha1 of re-encoded JPEG)
    await project.import_folder(os.path.abspath(images_dir))
    await wait_idle(project)
    instances = await db.get_instances()
    print("instances", len(instances), "folders", len(await db.get_folders()))
    instances.sort(key=lambda i: i.url)

    # 2. one property per user type, in both modes (sha1 = per image, id = per instance)
    props = [
        db.create_property(f"{t.value}_{m.value}", t, m)
        for t in USER_TYPES
        for m in (PropertyMode.sha1, PropertyMode.id)
    ]
    await db.apply_commit(DbCommit(properties=props))
    by_name = {p.name: p for p in await db.get_properties()}

    # 3. tag hierarchy: animal, pet -> cat (two parents), dog (parent pet), kitten (parent cat)
    tag_ids = {}
    for pname in ("tag_sha1", "tag_id", "multi_tags_sha1", "multi_tags_id"):
        pid = by_name[pname].id
        animal = db.create_tag(pid, "animal")
        pet = db.create_tag(pid, "pet")
        await db.apply_commit(DbCommit(tags=[animal, pet]))
        tags = {t.value: t for t in await db.get_tags(pid)}
        cat = db.create_tag(pid, "cat", [tags["animal"].id, tags["pet"].id])
        dog = db.create_tag(pid, "dog", [tags["pet"].id])
        await db.apply_commit(DbCommit(tags=[cat, dog]))
        tags = {t.value: t for t in await db.get_tags(pid)}
        kitten = db.create_tag(pid, "kitten", [tags["cat"].id])
        await db.apply_commit(DbCommit(tags=[kitten]))
        tag_ids[pname] = {t.value: t.id for t in await db.get_tags(pid)}

    # 4. values: sha1 mode -> ImageProperty(property_id, sha1, value); id mode -> InstanceProperty
    def value_for(ptype, i, tags):
        if ptype == PropertyType.tag:
            return [tags[["cat", "dog", "kitten"][i % 3]]]
        if ptype == PropertyType.multi_tags:
            return [tags["cat"], tags["dog"]] if i % 2 else [tags["kitten"]]
        return {
            PropertyType.string: f"text {i}",
            PropertyType.number: i * 1.5 if i % 3 else i,
            PropertyType.date: f"2024-09-{i + 1:02d}T10:00:00Z",
            PropertyType.checkbox: i % 2 == 0,
            PropertyType.url: f"https://example.org/{i}",
            PropertyType.color: i % 12,
            PropertyType.path: f"/some/path/{i}.txt",
            PropertyType.image_link: f"https://example.org/img/{i}.png",
        }[ptype]

    inst_vals, img_vals = [], []
    seen_sha1 = set()
    for i, inst in enumerate(instances):
        for t in USER_TYPES:
            p_id = by_name[f"{t.value}_id"]
            tags = tag_ids.get(f"{t.value}_id", {})
            inst_vals.append(InstanceProperty(p_id.id, inst.id, value_for(t, i, tags)))
            if inst.sha1 not in seen_sha1:
                p_s = by_name[f"{t.value}_sha1"]
                img_vals.append(
                    ImageProperty(
                        p_s.id, inst.sha1, value_for(t, i, tag_ids.get(f"{t.value}_sha1", {}))
                    )
                )
        seen_sha1.add(inst.sha1)
    await db.apply_commit(DbCommit(instance_values=inst_vals, image_values=img_vals))

    # 5. deletions (0.7: hard deletes, no tombstones): a value, a tag, a whole property
    await db.apply_commit(
        DbCommit(
            empty_instance_values=[InstancePropertyKey(by_name["text_id"].id, instances[0].id)],
            empty_image_values=[ImagePropertyKey(by_name["text_sha1"].id, instances[1].sha1)],
        )
    )
    await db.apply_commit(DbCommit(empty_tags=[tag_ids["multi_tags_id"]["dog"]]))
    # a deleted PARENT: 0.7 removes it from the children's parents (cat -> [pet])
    await db.apply_commit(DbCommit(empty_tags=[tag_ids["tag_sha1"]["animal"]]))
    extra = db.create_property("to_delete", PropertyType.string, PropertyMode.id)
    await db.apply_commit(DbCommit(properties=[extra]))
    extra_id = next(p.id for p in await db.get_properties() if p.name == "to_delete")
    await db.apply_commit(
        DbCommit(instance_values=[InstanceProperty(extra_id, instances[0].id, "gone")])
    )
    await db.apply_commit(DbCommit(empty_properties=[extra_id]))

    # 6. vectors: PanopticML's vector type (source = plugin name, params model + greyscale),
    #    written with Db.add_vector_type / ProjectDb.add_vector (what PanopticML's
    #    ComputeVectorTask calls). ProjectDb.add_vector_type needs the plugin loaded, so its
    #    Db-level call is used directly.
    rng = np.random.default_rng(0)
    sha1s = sorted({i.sha1 for i in instances})
    for greyscale in (False, True):
        vt = await db._db.add_vector_type(
            VectorType(-1, "PanopticML", {"model": MODEL, "greyscale": greyscale})
        )
        todo = sha1s if not greyscale else sha1s[: len(sha1s) // 2]  # second set half done
        for s in todo:
            v = rng.standard_normal(512).astype(np.float32)
            await db.add_vector(Vector(vt.id, s, (v / np.linalg.norm(v)).tobytes()))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
