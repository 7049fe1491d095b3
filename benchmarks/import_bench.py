"""Import speed: panoptui's import against a naive baseline, measured in the same run.

    python benchmarks/import_bench.py [--jpegs 1000] [--pngs 1000] [--dir /tmp/panoptui-bench]

Generates a corpus (large camera-size JPEGs plus small PNGs), then prints files/s for:
- baseline: one thread, as Panoptic does it: read, hash, full Pillow decode, thumbnail, one INSERT
  per file into DuckDB;
- panoptui: `import_folders` with all cores;
- re-import: the same import again over the unchanged corpus.
Targets (issue 2): panoptui >= 5x baseline; re-import >= 20x faster than the first import.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import sys
import time
from pathlib import Path

import duckdb
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import write_photos  # noqa: E402

from panoptui.core import store  # noqa: E402
from panoptui.core.samples import FAMILIES, family_image  # noqa: E402
from panoptui.core.scan import import_folders  # noqa: E402


def make_corpus(root: Path, jpegs: int, pngs: int, size: tuple[int, int]) -> None:
    marker = root / f".complete-{jpegs}-{pngs}-{size[0]}x{size[1]}"
    if marker.exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    (root / "photos").mkdir(parents=True)
    (root / "small").mkdir(parents=True)
    print(f"generating {jpegs} JPEGs at {size[0]}x{size[1]} and {pngs} PNGs in {root} ...")
    write_photos(root / "photos", jpegs, size)
    for i in range(pngs):
        family = FAMILIES[i % len(FAMILIES)]
        family_image(family, i, (320, 240)).save(root / "small" / f"{family}_{i:05d}.png")
    marker.touch()


def baseline_import(files: list[Path], db_file: Path) -> float:
    """One thread, one full decode and one INSERT (autocommitted) per file."""
    db_file.unlink(missing_ok=True)
    con = duckdb.connect(str(db_file))
    con.execute(
        "CREATE TABLE images (path VARCHAR PRIMARY KEY, sha256 VARCHAR, format VARCHAR, "
        "width INTEGER, height INTEGER, thumb BLOB)"
    )
    started = time.perf_counter()
    for path in files:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        img = Image.open(io.BytesIO(data))
        img.load()
        img = ImageOps.exif_transpose(img) or img
        thumb = img.convert("RGB")
        thumb.thumbnail((256, 256))
        buffer = io.BytesIO()
        thumb.save(buffer, "JPEG", quality=82)
        con.execute(
            "INSERT INTO images VALUES (?, ?, ?, ?, ?, ?)",
            [str(path), digest, img.format, img.width, img.height, buffer.getvalue()],
        )
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jpegs", type=int, default=1000)
    parser.add_argument("--pngs", type=int, default=1000)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/panoptui-bench/import"))
    args = parser.parse_args()

    corpus = args.dir / "corpus"
    make_corpus(corpus, args.jpegs, args.pngs, (args.width, args.height))
    files = sorted(p for p in corpus.rglob("*") if p.suffix in (".jpg", ".png"))
    total_mb = sum(p.stat().st_size for p in files) / 1e6
    print(f"corpus: {len(files)} files, {total_mb:.0f} MB, {os.cpu_count()} cores")

    base_seconds = baseline_import(files, args.dir / "baseline.duckdb")
    print(f"baseline   {base_seconds:8.2f} s  {len(files) / base_seconds:8.1f} files/s")

    project = args.dir / "project"
    shutil.rmtree(project, ignore_errors=True)
    con = store.open_project(project, create=True)
    started = time.perf_counter()
    summary = import_folders(con, [str(corpus)])
    first = time.perf_counter() - started
    assert summary.new == len(files), summary
    print(f"panoptui   {first:8.2f} s  {len(files) / first:8.1f} files/s")

    started = time.perf_counter()
    again = import_folders(con, None)
    second = time.perf_counter() - started
    assert again.unchanged == len(files), again
    con.close()
    print(f"re-import  {second:8.2f} s  {len(files) / second:8.1f} files/s")
    print(f"speed-up vs baseline:        {base_seconds / first:6.1f}x  (target >= 5x)")
    print(f"re-import vs first import:   {first / second:6.1f}x  (target >= 20x)")


if __name__ == "__main__":
    main()
