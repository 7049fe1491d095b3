"""Give a Panoptic 1.0.0 project properties and tags with names as real users type them.

usage: VENV/bin/python odd_names_v1.py PROJECT_DIR
- 'width' (text, per image): the name of one of panoptui's built-in fields;
- 'Tags' (multi_tags, per image): the name of panoptui's own tag property, in another case;
- '[b]bold[/b] \x1b[31mred' (text, per instance): markup and a terminal escape;
- in 'Tags', the tags 'a "quoted", name' and 'été/hiver' (child of the first).
The first instance gets a value of each. Prints its path.
"""

import sys

from panoptic.core.project.project import Project
from panoptic.routes.project_routes import UpsertRequest, upsert_commit_route

ODD = "[b]bold[/b] \x1b[31mred"


def main(project_dir):
    project = Project(project_dir)
    project.start()
    try:
        first = sorted(project.get_instances(), key=lambda i: i.id)[0]
        res = upsert_commit_route(
            UpsertRequest(
                properties=[
                    {"id": -1, "name": "width", "type": "text", "mode": "sha1"},
                    {"id": -2, "name": "Tags", "type": "multi_tags", "mode": "sha1"},
                    {"id": -3, "name": ODD, "type": "text", "mode": "id"},
                ]
            ),
            project=project,
        )
        width, tags, odd = (p["id"] for p in res["properties"])
        res = upsert_commit_route(
            UpsertRequest(
                tags=[
                    {"id": -1, "property_id": tags, "value": 'a "quoted", name'},
                    {"id": -2, "property_id": tags, "value": "été/hiver", "parents": [-1]},
                ]
            ),
            project=project,
        )
        quoted, season = (t["id"] for t in res["tags"])
        upsert_commit_route(
            UpsertRequest(
                image_values=[
                    {"property_id": width, "sha1": first.sha1, "value": "wide"},
                    {"property_id": tags, "sha1": first.sha1, "value": [quoted, season]},
                ],
                instance_values=[{"property_id": odd, "instance_id": first.id, "value": ODD}],
            ),
            project=project,
        )
        files = {f.id: f for f in project.get_files()}
        folders = {f.id: f for f in project.get_folders()}
        f = files[first.file_id]
        print(folders[f.folder_id].path + "/" + f.name)
    finally:
        project.close()


if __name__ == "__main__":
    main(sys.argv[1])
