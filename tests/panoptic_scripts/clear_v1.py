"""Remove, in a Panoptic 1.0.0 project, values of the first instance's image, as a user does
in Panoptic's table: url_sha1 cleared (value None) and every tag of multi_tags_sha1 taken off
(value []), through the route the web UI posts to.

usage: VENV/bin/python clear_v1.py PROJECT_DIR
"""

import sys

from panoptic.core.project.project import Project
from panoptic.routes.project_routes import UpsertRequest, upsert_commit_route


def main(project_dir):
    project = Project(project_dir)
    project.start()
    try:
        first = sorted(project.get_instances(), key=lambda i: i.id)[0]
        props = {p.name: p for p in project.get_properties()}
        upsert_commit_route(
            UpsertRequest(
                image_values=[
                    {"property_id": props["url_sha1"].id, "sha1": first.sha1, "value": None},
                    {"property_id": props["multi_tags_sha1"].id, "sha1": first.sha1, "value": []},
                    {"property_id": props["text_sha1"].id, "sha1": first.sha1, "value": None},
                ]
            ),
            project=project,
        )
    finally:
        project.close()


if __name__ == "__main__":
    main(sys.argv[1])
