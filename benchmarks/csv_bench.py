"""CSV import speed (issue 13): `properties import` of a Panoptic CSV against DuckDB loading the
same file, measured in the same run.

    python benchmarks/csv_bench.py [--rows 10000] [--dir /tmp/panoptui-csv-bench]

A made-up project of --rows images (rows in the store, no image files: the import reads only
the store) and a CSV of one row per image with five typed columns (number, date, text,
checkbox, multi-tag). Prints the seconds of:
- baseline: DuckDB's read_csv of the file into a table (parsing only: no keys looked up, no
  types checked per cell, no tags made);
- panoptui: csv_io.plan_import + apply_import (decode, parse every cell, match every path,
  create the properties and set the values in one journaled transaction).
Target: 10,000 rows in a few seconds.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from panoptui.core import csv_io, store  # noqa: E402

FOLDER = "/corpus/photos"


def make_project(root: Path, rows: int) -> Path:
    project = root / "project"
    con = store.open_project(project, create=True)
    con.execute("INSERT INTO folders (id, path) VALUES (1, ?)", [FOLDER])
    con.execute(
        "INSERT INTO images BY NAME SELECT range + 1 AS id, 'h' || range AS content_hash, "
        "100 AS size, 'JPEG' AS format, 10 AS width, 10 AS height, 'RGB' AS mode, "
        "1 AS orientation, 1 AS frames, range::UBIGINT AS phash, 'ok' AS state, "
        "now() AS imported_at FROM range(?)",
        [rows],
    )
    con.execute(
        "INSERT INTO files BY NAME SELECT range + 1 AS id, ? || '/img_' || range || '.jpg' "
        "AS path, 1 AS folder_id, 'img_' || range || '.jpg' AS rel_path, 100 AS size, "
        "0 AS mtime_ns, range + 1 AS image_id, 'ok' AS state, now() AS seen_at FROM range(?)",
        [FOLDER, rows],
    )
    con.close()
    return project


def write_csv(target: Path, rows: int) -> None:
    lines = ["path;year[number];taken[date];source[text];seen[checkbox];topics[multi_tags]"]
    for i in range(rows):
        lines.append(
            f"{FOLDER}/img_{i}.jpg;{1900 + i % 120};{1900 + i % 120}-0{1 + i % 9}-1{i % 10};"
            f"source {i % 50};{'true' if i % 2 else 'false'};t{i % 7},t{i % 11}"
        )
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")


def bench_csv_import(root: Path, rows: int) -> None:
    """Seconds to import ``rows`` rows, against DuckDB's read_csv of the same file."""
    project = make_project(root, rows)
    source = root / "values.csv"
    write_csv(source, rows)

    start = time.perf_counter()
    scratch = duckdb.connect()
    scratch.execute("CREATE TABLE t AS SELECT * FROM read_csv(?, delim=';')", [str(source)])
    baseline = time.perf_counter() - start

    con = store.open_project(project)
    start = time.perf_counter()
    plan = csv_io.plan_import(con, source)
    planned = time.perf_counter() - start
    result = csv_io.apply_import(con, plan)
    took = time.perf_counter() - start
    con.close()
    assert result.rows == rows and not plan.problems
    print(
        f"csv import, {rows:,} rows x 5 columns: panoptui {took:.2f} s (read and plan "
        f"{planned:.2f} s, apply {took - planned:.2f} s); DuckDB read_csv {baseline:.3f} s; "
        f"ratio {took / baseline:.0f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/panoptui-csv-bench"))
    args = parser.parse_args()
    shutil.rmtree(args.dir, ignore_errors=True)
    args.dir.mkdir(parents=True)
    bench_csv_import(args.dir, args.rows)
    shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
