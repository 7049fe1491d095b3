"""Import speed: panoptui's import against a naive baseline, measured in the same run.

    python benchmarks/import_bench.py [--jpegs 1000] [--pngs 1000] [--dir /tmp/panoptui-bench]

Generates a corpus (large camera-size JPEGs plus small PNGs), then prints files/s for:
- baseline: one thread, as Panoptic does it: read, hash, full Pillow decode, thumbnail, one INSERT
  per file into DuckDB;
- panoptui: `import_folders` with all cores;
- re-import: the same import again over the unchanged corpus.
Targets (issue 2): panoptui >= 5x baseline; re-import >= 20x faster than the first import.
- metadata: the import of the first --metadata-files files, each given EXIF, IPTC and XMP,
  with the metadata read against the same import without reading it (issue 13: within 10%).
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

from panoptui.core import read_worker, store  # noqa: E402
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


def metadata_overhead(files: list[Path], count: int, workdir: Path, rounds: int = 3) -> None:
    """Issue 13: the import reading EXIF, IPTC and XMP against the same import without reading
    them (read_worker.SKIP_METADATA_ENV), on the same files (JPEGs given metadata), in turns;
    the best of ``rounds`` runs of each, so that a busy machine counts against neither.
    ``count`` files are taken evenly from ``files``: JPEGs and PNGs in the corpus's proportion.
    Then the same in one process (a worker's time per file), where other work on the machine
    blurs the difference less."""

    def with_metadata(data: bytes, i: int) -> bytes:
        """A JPEG with a camera's EXIF (date, make, model, lens, exposure, GPS), an IPTC block and
        an XMP packet, as segments after SOI: what a photo agency's file holds."""
        from PIL import ExifTags, TiffImagePlugin

        rational = TiffImagePlugin.IFDRational
        exif = Image.Exif()
        exif[ExifTags.Base.Make], exif[ExifTags.Base.Model] = "Canon", "Canon EOS 5D Mark IV"
        sub = exif.get_ifd(ExifTags.IFD.Exif)
        sub[ExifTags.Base.DateTimeOriginal] = f"2024:05:{1 + i % 28:02d} 14:03:22"
        sub[ExifTags.Base.OffsetTimeOriginal] = "+02:00"
        sub[ExifTags.Base.LensModel] = "EF50mm f/1.8 STM"
        sub[ExifTags.Base.FocalLength] = rational(50, 1)
        sub[ExifTags.Base.ExposureTime] = rational(1, 250)
        sub[ExifTags.Base.ISOSpeedRatings] = 400
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps[1], gps[2] = "N", (rational(48, 1), rational(51, 1), rational(i % 60, 1))
        gps[3], gps[4] = "E", (rational(2, 1), rational(17, 1), rational(40, 1))
        xmp = (
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
            'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title><rdf:Alt><rdf:li '
            f'xml:lang="x-default">Photo {i}</rdf:li></rdf:Alt></dc:title><dc:subject><rdf:Bag>'
            + "".join(f"<rdf:li>keyword {k}</rdf:li>" for k in range(20))
            + "</rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>"
        ).encode()
        iptc = b"".join(
            b"\x1c\x02" + bytes([n]) + len(v).to_bytes(2, "big") + v
            for n, v in [(5, f"Photo {i}".encode()), (80, b"Jane Doe"), (25, b"protest")]
        )
        resources = (
            b"8BIM\x04\x04\x00\x00"
            + len(iptc).to_bytes(4, "big")
            + iptc
            + b"\x00" * (len(iptc) % 2)
        )

        def segment(marker: bytes, payload: bytes) -> bytes:
            return marker + (len(payload) + 2).to_bytes(2, "big") + payload

        segments = (
            segment(b"\xff\xe1", b"Exif\x00\x00" + exif.tobytes())
            + segment(b"\xff\xe1", b"http://ns.adobe.com/xap/1.0/\x00" + xmp)
            + segment(b"\xff\xed", b"Photoshop 3.0\x00" + resources)
        )
        return data[:2] + segments + data[2:]

    corpus = workdir / "metadata-corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    corpus.mkdir(parents=True)
    files = files[:: max(1, len(files) // count)][:count]
    for i, path in enumerate(files):
        data = path.read_bytes()
        (corpus / path.name).write_bytes(with_metadata(data, i) if path.suffix == ".jpg" else data)
    seconds: dict[bool, list[float]] = {True: [], False: []}
    try:
        for _ in range(rounds):
            for read in (False, True):
                if read:
                    os.environ.pop(read_worker.SKIP_METADATA_ENV, None)
                else:
                    os.environ[read_worker.SKIP_METADATA_ENV] = "1"
                project = workdir / "metadata-project"
                shutil.rmtree(project, ignore_errors=True)
                con = store.open_project(project, create=True)
                started = time.perf_counter()
                summary = import_folders(con, [str(corpus)])
                seconds[read].append(time.perf_counter() - started)
                read_count = store.scalar(con, "SELECT count(*) FROM images WHERE metadata_read")
                con.close()
                assert summary.new == len(files), summary
                assert read_count == (len(files) if read else 0), read_count
    finally:
        os.environ.pop(read_worker.SKIP_METADATA_ENV, None)
    per_file: dict[bool, list[float]] = {True: [], False: []}
    try:
        for _ in range(rounds):
            for read in (False, True):
                if read:
                    os.environ.pop(read_worker.SKIP_METADATA_ENV, None)
                else:
                    os.environ[read_worker.SKIP_METADATA_ENV] = "1"
                started = time.perf_counter()
                for path in sorted(corpus.iterdir()):
                    read_worker.read_image_file(str(path), 10**9, 256)
                per_file[read].append((time.perf_counter() - started) / len(files))
    finally:
        os.environ.pop(read_worker.SKIP_METADATA_ENV, None)
    one_without, one_with = min(per_file[False]), min(per_file[True])
    without, with_ = min(seconds[False]), min(seconds[True])
    print(f"metadata: {len(files)} files (the JPEGs with EXIF, IPTC, XMP), best of {rounds} runs")
    print(f"  without  {without:8.2f} s  {len(files) / without:8.1f} files/s")
    print(f"  with     {with_:8.2f} s  {len(files) / with_:8.1f} files/s")
    print(f"metadata cost:               {100 * (with_ / without - 1):+6.1f}%  (target <= +10%)")
    print(
        f"  in one process: {1000 * one_without:.1f} ms a file without, "
        f"{1000 * one_with:.1f} ms with ({100 * (one_with / one_without - 1):+.1f}%)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jpegs", type=int, default=1000)
    parser.add_argument("--pngs", type=int, default=1000)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/panoptui-bench/import"))
    parser.add_argument("--metadata-files", type=int, default=400)
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
    metadata_overhead(files, args.metadata_files, args.dir)


if __name__ == "__main__":
    main()
