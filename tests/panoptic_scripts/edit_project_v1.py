"""Change a Panoptic 1.0.0 project as a user would between two imports, with Panoptic's code.

usage: VENV/bin/python edit_project_v1.py PROJECT_DIR
- a new property 'added_later' (text, per image) with the value 'later' on the first instance's
  image;
- a new tag 'bird' (parent 'pet') in 'tag_id', set on the second instance (a tag property holds
  one tag: it replaces the one there);
- number_id of the first instance changed to 42.
Prints the instance paths it changed, one per line: first, second.
"""

import sys

from panoptic.core.project.project import Project
from panoptic.routes.project_routes import UpsertRequest, upsert_commit_route


def main(project_dir):
    project = Project(project_dir)
    project.start()
    try:
        instances = sorted(project.get_instances(), key=lambda i: i.id)
        props = {p.name: p for p in project.get_properties()}
        res = upsert_commit_route(
            UpsertRequest(
                properties=[{"id": -1, "name": "added_later", "type": "text", "mode": "sha1"}]
            ),
            project=project,
        )
        added = res["properties"][0]["id"]
        tag_prop = props["tag_id"].id
        pet = next(t.id for t in project.get_tags() if t.list_id == tag_prop and t.value == "pet")
        res = upsert_commit_route(
            UpsertRequest(
                tags=[
                    {
                        "id": -1,
                        "property_id": tag_prop,
                        "value": "bird",
                        "parents": [pet],
                        "color": 6,
                    }
                ]
            ),
            project=project,
        )
        bird = res["tags"][0]["id"]
        upsert_commit_route(
            UpsertRequest(
                image_values=[{"property_id": added, "sha1": instances[0].sha1, "value": "later"}],
                instance_values=[
                    {"property_id": tag_prop, "instance_id": instances[1].id, "value": [bird]},
                    {
                        "property_id": props["number_id"].id,
                        "instance_id": instances[0].id,
                        "value": 42,
                    },
                ],
            ),
            project=project,
        )
        files = {f.id: f for f in project.get_files()}
        folders = {f.id: f for f in project.get_folders()}
        for inst in instances[:2]:
            f = files[inst.file_id]
            print(folders[f.folder_id].path + "/" + f.name)
    finally:
        project.close()


if __name__ == "__main__":
    main(sys.argv[1])
