"""Rename, in a Panoptic 1.0.0 project, the property 'number_sha1' to 'weight' and the tag
'cat' of 'tag_id' to 'chat', through the route the web UI posts to.

usage: VENV/bin/python rename_v1.py PROJECT_DIR
"""

import sys

from panoptic.core.project.project import Project
from panoptic.routes.project_routes import UpsertRequest, upsert_commit_route


def main(project_dir):
    project = Project(project_dir)
    project.start()
    try:
        props = {p.name: p for p in project.get_properties()}
        number = props["number_sha1"]
        tag_prop = props["tag_id"]
        cat = next(t for t in project.get_tags() if t.list_id == tag_prop.id and t.value == "cat")
        upsert_commit_route(
            UpsertRequest(
                properties=[
                    {"id": number.id, "name": "weight", "type": number.dtype, "mode": number.mode}
                ],
                tags=[
                    {
                        "id": cat.id,
                        "property_id": tag_prop.id,
                        "value": "chat",
                        "parents": cat.parents,
                        "color": cat.color,
                    }
                ],
            ),
            project=project,
        )
    finally:
        project.close()


if __name__ == "__main__":
    main(sys.argv[1])
