"""Keep a Panoptic 1.0.0 project open, as the running app does, while another program reads it.

usage: VENV/bin/python hold_open_v1.py PROJECT_DIR
Opens the project, writes the text 'while open' to text_sha1 of the first instance's image
(through the route the web UI posts to), prints 'ready', then waits until stdin closes and
closes the project.
"""

import sys

from panoptic.core.project.project import Project
from panoptic.routes.project_routes import UpsertRequest, upsert_commit_route


def main(project_dir):
    project = Project(project_dir)
    project.start()
    try:
        instances = sorted(project.get_instances(), key=lambda i: i.id)
        prop = next(p for p in project.get_properties() if p.name == "text_sha1")
        upsert_commit_route(
            UpsertRequest(
                image_values=[
                    {"property_id": prop.id, "sha1": instances[0].sha1, "value": "while open"}
                ]
            ),
            project=project,
        )
        print("ready", flush=True)
        sys.stdin.read()
    finally:
        project.close()


if __name__ == "__main__":
    main(sys.argv[1])
