"""Import a CSV into a new Panoptic 1.0.0 project with Panoptic's own CSV importer, headlessly.

usage: VENV/bin/python import_csv_v1.py IMAGES_DIR PROJECT_DIR CSV_FILE OUT_JSON
(VENV holds `pip install panoptic==1.0.0`. PROJECT_DIR must not exist or be empty.)

It makes the project, imports IMAGES_DIR (as make_project_v1.py does), then runs the three
steps the web UI runs (routes /import/upload, /import/parse, /import/confirm):
Importer.parse_headers(CSV_FILE), verify_mapping(relative=True, fusion='first') (the web UI's
defaults, ProjectView's import dialog), and the import
itself in this thread (what Importer.import_data_and_commit runs, with its progress read so
that the count of cells Panoptic failed to parse is known). Panoptic is closed before it ends,
so data.db can then be read with sqlite3. OUT_JSON gets: `headers` (parse_headers' answer:
the key, each column's property and the errors by column), `mapping` (verify_mapping's answer:
missing_rows, new_instances_count), `failed` (cells that failed to parse).
"""

import json
import os
import sys
import time

from panoptic.core.project.project import Project


def wait_idle(project, settle=0.5):
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


def main(images_dir, project_dir, csv_file, out_json):
    project = Project(project_dir)
    project.start()
    try:
        task = project.import_folder(os.path.abspath(images_dir))
        task.wait()
        wait_idle(project)
        importer = project.importer
        headers = importer.parse_headers(os.path.abspath(csv_file))
        result = {"headers": headers, "mapping": None, "failed": None}
        if headers["key"]:
            # relative=True: a path matches a file's whole path or its end. (relative=False
            # crashes in 1.0.0 on a path key: verify_mapping formats 'n/a' with ',' in a print.)
            result["mapping"] = importer.verify_mapping(relative=True, fusion="first")
            # (rows done, cells failed so far) after each commit
            progress = list(importer._take_import(None, None).run())
            result["failed"] = progress[-1][1] if progress else 0
        wait_idle(project)
    finally:
        project.close()
    with open(out_json, "w", encoding="utf-8") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main(*sys.argv[1:5])
