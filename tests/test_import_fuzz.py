"""Fuzzing the import: a few hundred mutated images (bit flips, truncations, header fields set to
extremes), made by a seeded generator from small valid images of every common format. Every
file must end as an image row or an error row, and the run must never end early."""

from __future__ import annotations

import io
import random
import struct
import zlib
from pathlib import Path

from fixtures import apng_claiming_frames, photo, png_chunk
from PIL import Image

from panoptui.core import store
from panoptui.core.scan import import_folders

SEED = 20261130
PER_FORMAT = 50
EXTREMES = [0, 1, 255, 13000, 65535, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]


def seeds() -> dict[str, bytes]:
    """One small valid file per format (extension -> bytes)."""
    img = photo(48, 32, 7)
    out: dict[str, bytes] = {}
    for ext, fmt, extra in [
        ("jpg", "JPEG", {"quality": 80}),
        ("png", "PNG", {}),
        ("webp", "WEBP", {"quality": 80}),
        ("tif", "TIFF", {}),
        ("bmp", "BMP", {}),
    ]:
        buffer = io.BytesIO()
        img.save(buffer, fmt, **extra)
        out[ext] = buffer.getvalue()
    frames = [img.convert("P"), photo(48, 32, 8).convert("P")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=50)
    out["gif"] = buffer.getvalue()
    return out


def _put(data: bytearray, offset: int, fmt: str, value: int) -> None:
    size = struct.calcsize(fmt)
    if offset + size <= len(data):
        bits = size * 8
        struct.pack_into(fmt, data, offset, value & ((1 << bits) - 1))


def _extreme_header(ext: str, data: bytearray, rng: random.Random) -> None:
    """Set a size or count field of the format's header to an extreme value."""
    value = rng.choice(EXTREMES)
    if ext == "png":
        _put(data, rng.choice([16, 20]), ">I", value)  # IHDR width or height
        if rng.random() < 0.7:  # mostly with a valid CRC, so the reader gets past it
            _put(data, 29, ">I", zlib.crc32(bytes(data[12:29])))
    elif ext == "jpg":
        sof = data.find(b"\xff\xc0")
        _put(data, sof + rng.choice([5, 7]), ">H", value)
    elif ext == "gif":
        descriptor = data.find(b"\x2c", 13)
        _put(data, rng.choice([6, 8, descriptor + 5, descriptor + 7]), "<H", value)
    elif ext == "bmp":
        _put(data, rng.choice([18, 22, 28, 34]), "<i" if value < 2**31 else "<I", value)
    elif ext == "webp":
        _put(data, rng.choice([4, 16, 26, 28]), "<I" if rng.random() < 0.5 else "<H", value)
    elif ext == "tif":
        order = "<" if data[:2] == b"II" else ">"
        ifd = struct.unpack_from(f"{order}I", data, 4)[0]
        count = struct.unpack_from(f"{order}H", data, ifd)[0]
        entry = ifd + 2 + 12 * rng.randrange(count)
        _put(data, entry + rng.choice([4, 8]), f"{order}I", value)  # a tag's count or value


def mutate(ext: str, seed: bytes, rng: random.Random) -> bytes:
    data = bytearray(seed)
    kind = rng.randrange(4)
    if kind == 0:  # bit flips, half the time in the header
        span = 64 if rng.random() < 0.5 else len(data)
        for _ in range(rng.randint(1, 8)):
            position = rng.randrange(min(span, len(data)))
            data[position] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncation
        del data[rng.randrange(1, len(data)) :]
    elif kind == 2:
        _extreme_header(ext, data, rng)
    else:  # both: an extreme header and a few flips
        _extreme_header(ext, data, rng)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def write_fuzz_corpus(root: Path) -> int:
    rng = random.Random(SEED)
    root.mkdir(parents=True)
    count = 0
    for ext, seed in seeds().items():
        for i in range(PER_FORMAT):
            (root / f"{ext}_{i:03d}.{ext}").write_bytes(mutate(ext, seed, rng))
            count += 1
    # Animated PNGs claiming extreme frame counts, with and without valid pixel data.
    for i, frames in enumerate(EXTREMES):
        (root / f"apng_{i:03d}.png").write_bytes(apng_claiming_frames(frames))
        broken = apng_claiming_frames(frames).replace(
            png_chunk(b"IDAT", zlib.compress(b"\0\0")), png_chunk(b"IDAT", b"\x78\x9c\xff")
        )
        (root / f"apng_broken_{i:03d}.png").write_bytes(broken)
        count += 2
    return count


def test_every_mutated_file_ends_as_an_image_or_an_error(tmp_path):
    folder = tmp_path / "fuzz"
    total = write_fuzz_corpus(folder)
    assert total >= 300
    con = store.open_project(tmp_path / "project", create=True)
    summary = import_folders(con, [str(folder)], workers=2)
    assert not summary.cancelled
    assert summary.new + summary.failed == total, summary
    files = dict(con.execute("SELECT path, state FROM files").fetchall())
    assert sorted(files) == sorted(str(p) for p in folder.iterdir())
    assert set(files.values()) <= {"ok", "error"}
    errors = {p for (p,) in con.execute("SELECT path FROM import_errors").fetchall()}
    assert errors == {p for p, state in files.items() if state == "error"}
    images = con.execute(
        "SELECT count(*) FROM files f JOIN images i ON i.id = f.image_id "
        "JOIN thumbnails t ON t.image_id = i.id WHERE f.state = 'ok'"
    ).fetchone()[0]
    assert images == summary.new
    # Both outcomes occur: the generator neither breaks everything nor nothing.
    assert 0 < summary.failed < total and summary.new > 0
    # A rescan retries every failed file and ends the same way.
    again = import_folders(con, None, workers=2)
    assert (again.unchanged, again.failed) == (summary.new, summary.failed)


def test_the_fuzz_corpus_is_the_same_every_time(tmp_path):
    write_fuzz_corpus(tmp_path / "a")
    write_fuzz_corpus(tmp_path / "b")
    for path in (tmp_path / "a").iterdir():
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name
    # The seeds themselves are valid images.
    for data in seeds().values():
        Image.open(io.BytesIO(data)).load()
