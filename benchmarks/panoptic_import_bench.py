"""import-panoptic speed: a Panoptic project of N images against panoptui's own import of the
same folder, measured in the same run (issue 14).

    python benchmarks/panoptic_import_bench.py [--images 20000] [--dir /tmp/panoptui-panoptic-bench]

Generates N small JPEGs and builds a Panoptic 1.0.0 project of them with Panoptic's own code
(tests/panoptic_scripts/make_bench_v1.py: three properties with a value on every image, ten
tags, one 512-number vector set), in the virtual environment tests/panoptic_env.py makes (kept
between runs, as is the project). Then prints images/s of:
- import: `import_folders` of the folder into a new project (the baseline);
- import-panoptic: `read_project` + `import_panoptic` of the Panoptic project into a new project
  (the same files imported, plus every value, tag and vector);
  (each twice, alternating; the best of each);
- again: import-panoptic a second time over the same project (nothing new).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from panoptic_env import generate_images, run_panoptic  # noqa: E402

from panoptui.core import store  # noqa: E402
from panoptui.core.panoptic_import import import_panoptic  # noqa: E402
from panoptui.core.panoptic_read import read_project  # noqa: E402
from panoptui.core.scan import import_folders  # noqa: E402


def prepare(root: Path, images: int) -> tuple[Path, Path]:
    folder, panoptic = root / "images", root / "panoptic"
    marker = root / f".complete-{images}"
    if not marker.exists():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        print(f"generating {images} images and their Panoptic 1.0.0 project in {root} ...")
        started = time.monotonic()
        generate_images(folder, images)
        print("  " + run_panoptic("1.0.0", "make_bench_v1.py", str(folder), str(panoptic)).strip())
        print(f"  ready in {time.monotonic() - started:.1f}s")
        marker.touch()
    return folder, panoptic


def timed_import(folder: Path, project: Path) -> float:
    shutil.rmtree(project, ignore_errors=True)
    con = store.open_project(project, create=True)
    started = time.monotonic()
    summary = import_folders(con, [str(folder)])
    seconds = time.monotonic() - started
    con.close()
    assert summary.new > 0
    return seconds


def timed_panoptic(panoptic: Path, project: Path, fresh: bool) -> tuple[float, int]:
    if fresh:
        shutil.rmtree(project, ignore_errors=True)
    con = store.open_project(project, create=True)
    started = time.monotonic()
    source = read_project(panoptic)
    try:
        summary = import_panoptic(con, source)
    finally:
        source.close()
    seconds = time.monotonic() - started
    con.close()
    assert summary.missing == 0 and summary.vector_sets[0].complete
    return seconds, summary.values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/panoptui-panoptic-bench"))
    args = parser.parse_args()
    folder, panoptic = prepare(args.dir, args.images)
    n = args.images
    # Each twice, alternating, the best of each kept: the first read of the files warms the
    # page cache for whichever runs second.
    baselines, firsts = [], []
    for _ in range(2):
        baselines.append(timed_import(folder, args.dir / "imported"))
        seconds, values = timed_panoptic(panoptic, args.dir / "from-panoptic", fresh=True)
        firsts.append(seconds)
    baseline, first = min(baselines), min(firsts)
    again, _ = timed_panoptic(panoptic, args.dir / "from-panoptic", fresh=False)
    print(f"{n} images, {values} values, 1 vector set of 512 numbers")
    print(f"import           {baseline:6.1f}s  {n / baseline:8.0f} images/s  (baseline)")
    print(
        f"import-panoptic  {first:6.1f}s  {n / first:8.0f} images/s  "
        f"ratio {baseline / first:.2f} of import's speed"
    )
    print(f"  again          {again:6.1f}s  {n / again:8.0f} images/s  (nothing new)")


if __name__ == "__main__":
    main()
