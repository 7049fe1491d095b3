"""Metadata from the files (issue 13): EXIF, IPTC and XMP read at import, in generated JPEG, PNG,
TIFF and WebP files, good and hostile; the images imported before version 8 get theirs on the
next import; the detail pane shows the fields literally."""

from __future__ import annotations

import io
import math
import struct
import zlib
from datetime import datetime
from pathlib import Path

import pytest
import tui_helpers
from PIL import ExifTags, Image, TiffImagePlugin, TiffTags
from PIL.PngImagePlugin import PngInfo
from tui_helpers import screen_text, settle, wait_for

from panoptui.core import browse, import_commit, metadata, read_worker, store
from panoptui.core.scan import import_folders
from panoptui.tui.widgets.grid import DetailPane

demo_base, project, drive = tui_helpers.demo_base, tui_helpers.project, tui_helpers.drive
# Pillow warns as it reads a damaged EXIF block (the workers, where it runs, ignore warnings).
pytestmark = pytest.mark.filterwarnings(
    "ignore:(Corrupt EXIF data|Possibly corrupt EXIF|Truncated File Read):UserWarning"
)

R = TiffImagePlugin.IFDRational
BASE = ExifTags.Base
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"


# --- building files -----------------------------------------------------------------------


def picture(seed: int = 0) -> Image.Image:
    """A small picture, distinct per seed (a distinct image to the import)."""
    img = Image.new("RGB", (64, 48), (seed * 37 % 256, seed * 91 % 256, 120))
    img.putpixel((seed % 64, 0), (255, 255, 255))
    return img


def camera_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[BASE.Make] = "Canon"
    exif[BASE.Model] = "Canon EOS 5D Mark IV"
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[BASE.DateTimeOriginal] = "2024:05:17 14:03:22"
    sub[BASE.OffsetTimeOriginal] = "+02:00"
    sub[BASE.LensModel] = "EF50mm f/1.8 STM"
    sub[BASE.FocalLength] = R(50, 1)
    sub[BASE.ExposureTime] = R(1, 250)
    sub[BASE.ISOSpeedRatings] = 400
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (R(48, 1), R(51, 1), R(2952, 100))
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (R(2, 1), R(17, 1), R(40, 1))
    return exif


CAMERA = {
    "date_taken": datetime(2024, 5, 17, 14, 3, 22),
    "date_offset": "+02:00",
    "camera_make": "Canon",
    "camera_model": "Canon EOS 5D Mark IV",
    "lens": "EF50mm f/1.8 STM",
    "focal_length": 50.0,
    "exposure": 1 / 250,
    "iso": 400,
    "latitude": pytest.approx(48 + 51 / 60 + 29.52 / 3600),
    "longitude": pytest.approx(-(2 + 17 / 60 + 40 / 3600)),
}


def xmp_packet(
    title: str = "Le titre",
    description: str = "Une description",
    creators: tuple[str, ...] = ("Ada Lovelace", "Grace Hopper"),
    subjects: tuple[str, ...] = ("protest", "été"),
) -> bytes:
    def items(values: tuple[str, ...]) -> str:
        return "".join(f"<rdf:li>{v}</rdf:li>" for v in values)

    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:title><rdf:Alt><rdf:li xml:lang="fr">Autre</rdf:li>
     <rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{description}</rdf:li></rdf:Alt>
   </dc:description>
   <dc:creator><rdf:Seq>{items(creators)}</rdf:Seq></dc:creator>
   <dc:subject><rdf:Bag>{items(subjects)}</rdf:Bag></dc:subject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


XMP_FIELDS = {
    "title": "Le titre",
    "description": "Une description",
    "creator": "Ada Lovelace; Grace Hopper",
    "keywords": ["protest", "été"],
}


def iptc_block(datasets: list[tuple[int, bytes]]) -> bytes:
    """IPTC IIM record 2 datasets: 0x1C, record, dataset, 16-bit length, data."""
    return b"".join(b"\x1c\x02" + bytes([n]) + struct.pack(">H", len(v)) + v for n, v in datasets)


def app13(iptc: bytes) -> bytes:
    """A JPEG APP13 segment: Photoshop 3.0 image resources with one 8BIM 0x0404 (IPTC-NAA)."""
    data = iptc + (b"\x00" if len(iptc) % 2 else b"")
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iptc))
    payload = b"Photoshop 3.0\x00" + resource + data
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload


def app1(payload: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def jpeg(seed: int = 0, segments: tuple[bytes, ...] = (), **save: object) -> bytes:
    """A JPEG with ``segments`` (whole APPn segments, hand-built) right after SOI."""
    buffer = io.BytesIO()
    picture(seed).save(buffer, "JPEG", **save)
    data = buffer.getvalue()
    return data[:2] + b"".join(segments) + data[2:]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def itxt_xmp(packet: bytes, compressed: bool = False) -> bytes:
    text = zlib.compress(packet) if compressed else packet
    flag = b"\x01\x00" if compressed else b"\x00\x00"
    return png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00" + flag + b"\x00\x00" + text)


def png_with_chunks_after_pixels(seed: int, chunks: list[bytes]) -> bytes:
    """A PNG whose extra chunks follow the image data (before IEND), where Pillow reads them
    only once the pixels are decoded."""
    buffer = io.BytesIO()
    picture(seed).save(buffer, "PNG")
    data = buffer.getvalue()
    end = data.rindex(b"IEND") - 4
    return data[:end] + b"".join(chunks) + data[end:]


def tiff(seed: int = 0, xmp: bytes | None = None) -> bytes:
    """A TIFF with the EXIF and GPS IFDs (Pillow's ``exif=`` keeps only the first IFD of a
    TIFF: the sub-IFDs go in as dictionaries) and, when given, an XMP packet (tag 700)."""
    exif = camera_exif()
    info = TiffImagePlugin.ImageFileDirectory_v2()
    for tag, value in exif.items():
        info[tag] = value
    info[ExifTags.IFD.Exif] = dict(exif.get_ifd(ExifTags.IFD.Exif))
    info[ExifTags.IFD.GPSInfo] = dict(exif.get_ifd(ExifTags.IFD.GPSInfo))
    if xmp is not None:
        info[700] = xmp
    buffer = io.BytesIO()
    picture(seed).save(buffer, "TIFF", tiffinfo=info)
    return buffer.getvalue()


def fields_of(data: bytes) -> dict[str, object]:
    """What the import's worker reads from these bytes (a full read, as a new file)."""
    img = Image.open(io.BytesIO(data))
    if img.format == "PNG":
        img.load()
    return metadata.read_metadata(img)


def only(expected: dict[str, object]) -> dict[str, object]:
    """Every field: those given, the others None."""
    return {**metadata.empty(), **expected}


# --- reading ------------------------------------------------------------------------------


def test_the_fields_are_the_store_columns():
    assert list(metadata.FIELDS) == list(store.METADATA_COLUMNS)
    assert [f.name for f in import_commit.METADATA_SCHEMA][1:] == list(store.METADATA_COLUMNS)


def test_exif_of_a_jpeg_every_field():
    assert fields_of(jpeg(exif=camera_exif())) == only(CAMERA)


def test_iptc_in_a_hand_built_app13_segment():
    block = iptc_block(
        [
            (5, "Manif à Paris".encode()),
            (120, b"Caption in Latin-1: caf\xe9"),
            (80, b"Jane Doe"),
            (25, b"protest"),
            (25, b"police"),
            (25, b"protest"),  # a repeat is kept once
        ]
    )
    assert fields_of(jpeg(segments=(app13(block),))) == only(
        {
            "title": "Manif à Paris",
            "description": "Caption in Latin-1: café",
            "creator": "Jane Doe",
            "keywords": ["protest", "police"],
        }
    )


def test_xmp_in_a_jpeg_app1_segment_comes_before_iptc():
    iptc = app13(iptc_block([(5, b"IPTC title"), (80, b"IPTC creator")]))
    data = jpeg(segments=(app1(XMP_HEADER + xmp_packet()), iptc))
    assert fields_of(data) == only(XMP_FIELDS)


def test_png_with_exif_and_xmp_before_and_after_the_pixels():
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp_packet().decode())
    buffer = io.BytesIO()
    picture().save(buffer, "PNG", pnginfo=info, exif=camera_exif())
    before = buffer.getvalue()
    assert fields_of(before) == only({**CAMERA, **XMP_FIELDS})
    exif_bytes = camera_exif().tobytes()
    after = png_with_chunks_after_pixels(
        1, [png_chunk(b"eXIf", exif_bytes), itxt_xmp(xmp_packet(), compressed=True)]
    )
    assert fields_of(after) == only({**CAMERA, **XMP_FIELDS})
    # The cheap pass over images imported before version 8 finds both without decoding.
    for data in (before, after):
        assert metadata.png_header_metadata(io.BytesIO(data)) == only({**CAMERA, **XMP_FIELDS})


def test_tiff_and_webp():
    assert fields_of(tiff()) == only(CAMERA)
    assert fields_of(tiff(xmp=xmp_packet())) == only({**CAMERA, **XMP_FIELDS})
    buffer = io.BytesIO()
    picture().save(buffer, "WEBP", exif=camera_exif(), xmp=xmp_packet())
    assert fields_of(buffer.getvalue()) == only({**CAMERA, **XMP_FIELDS})


def test_a_file_without_metadata_has_none():
    assert fields_of(jpeg()) == metadata.empty()


# --- hostile metadata ---------------------------------------------------------------------


def test_wrong_types_and_impossible_values_leave_only_those_fields_unset():
    exif = Image.Exif()
    exif[BASE.Model] = "Good model"
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[BASE.DateTimeOriginal] = "0000:00:00 00:00:00"
    sub[BASE.OffsetTimeOriginal] = "+99:00"
    sub[BASE.LensModel] = "x" * 30_000  # huge (for one JPEG segment): cut
    sub[BASE.FocalLength] = R(0, 0)  # zero denominator
    sub[BASE.ExposureTime] = "fast"
    sub[BASE.ISOSpeedRatings] = 0
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (R(48, 0), R(1, 0), R(0, 0))  # zero denominators
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (R(200, 1), R(0, 1), R(0, 1))  # out of range
    fields = fields_of(jpeg(exif=exif))
    assert fields == only({"camera_model": "Good model", "lens": "x" * metadata.MAX_TEXT})


def test_values_of_the_wrong_tiff_type_are_unset():
    """Make as a number, Model as a fraction, the GPS IFD pointer pointing nowhere."""
    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
    for tag, value, kind in [
        (BASE.Make, 42, TiffTags.SHORT),
        (BASE.Model, R(1, 3), TiffTags.RATIONAL),
        (ExifTags.IFD.GPSInfo, 7, TiffTags.LONG),
        (BASE.DateTime, "2024:05:17 14:03:22", TiffTags.ASCII),
    ]:
        ifd[tag], ifd.tagtype[tag] = value, kind
    block = b"II*\x00\x08\x00\x00\x00" + ifd.tobytes(8)
    assert fields_of(jpeg(segments=(app1(b"Exif\x00\x00" + block),))) == metadata.empty()


@pytest.mark.parametrize(
    "value",
    ["2024:13:01 10:00:00", "2024:02:30 10:00:00", "garbage", "    ", "9999:99:99 99:99:99", ""],
)
def test_dates_that_are_not_dates_are_unset(value):
    assert metadata.exif_date(value) is None


def test_nuls_markup_and_escapes_in_a_title_are_kept_as_text_without_nuls():
    title = "[b]markup[/b] \x1b[31mred\x1b[0m\x00 end"
    iptc = app13(iptc_block([(5, title.encode()), (25, b"a\x00b")]))
    fields = fields_of(jpeg(segments=(iptc,)))
    assert fields["title"] == "[b]markup[/b] \x1b[31mred\x1b[0m end"
    assert fields["keywords"] == ["ab"]


def test_huge_iptc_keywords_are_capped():
    block = iptc_block([(25, f"k{n}".encode()) for n in range(1000)] + [(5, b"t" * 30_000)])
    fields = fields_of(jpeg(segments=(app13(block),)))
    assert fields["keywords"] == [f"k{n}" for n in range(metadata.MAX_KEYWORDS)]
    assert fields["title"] == "t" * metadata.MAX_TEXT


def test_truncated_exif_still_gives_what_it_can_and_never_raises():
    whole = camera_exif().tobytes()
    for cut in (8, 20, 40, len(whole) // 2, len(whole) - 10):
        data = jpeg(segments=(app1(b"Exif\x00\x00" + whole[:cut]),))
        fields = fields_of(data)
        assert set(fields) == set(metadata.FIELDS)
    # Garbage where the EXIF block should be.
    assert fields_of(jpeg(segments=(app1(b"Exif\x00\x00MM\x00*" + b"\xff" * 50),))) == (
        metadata.empty()
    )


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description
 xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title><rdf:Alt><rdf:li>&lol9;</rdf:li>
</rdf:Alt></dc:title></rdf:Description></rdf:RDF></x:xmpmeta>"""

EXTERNAL = BOMB.replace(b'<!ENTITY lol "lol">', b'<!ENTITY lol SYSTEM "file:///etc/passwd">')


@pytest.mark.parametrize(
    "packet",
    [BOMB, EXTERNAL, b"<x:xmpmeta><unclosed>", b"\x00" * 100],
    ids=["entity-bomb", "external-entity", "unclosed", "nuls"],
)
def test_xml_bombs_entities_and_broken_xmp_are_not_parsed(packet):
    assert metadata.parse_xmp(packet) is None
    iptc = app13(iptc_block([(5, b"IPTC title")]))
    data = jpeg(segments=(app1(XMP_HEADER + packet), iptc))
    assert fields_of(data) == only({"title": "IPTC title"})  # the other source still counts


def test_a_bomb_in_utf_16_is_refused_too():
    packet = BOMB.replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="UTF-16"?>')
    utf16 = packet.decode().encode("utf-16")
    assert metadata.parse_xmp(utf16) is None
    # A good packet in UTF-16 is read.
    good = xmp_packet().decode().replace('<?xpacket begin="\ufeff"', '<?xpacket begin=""')
    root = metadata.parse_xmp(good.encode("utf-16"))
    assert root is not None and metadata._from_xmp(good.encode("utf-16")) == XMP_FIELDS


def test_an_undefined_entity_without_a_doctype_is_an_error_not_an_expansion():
    packet = xmp_packet(title="&lol9;")
    assert metadata.parse_xmp(packet) is None


def test_a_compressed_xmp_chunk_that_inflates_past_the_limit_is_not_parsed():
    bomb = zlib.compress(b" " * (metadata.MAX_XMP + 1024), 9)
    chunk = png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + bomb)
    data = png_with_chunks_after_pixels(2, [chunk])
    assert metadata.png_header_metadata(io.BytesIO(data)) == metadata.empty()


def test_numbers_are_finite():
    assert metadata.gps_degrees((R(1, 0), R(0, 1), R(0, 1)), "N", 90.0) is None
    assert metadata.gps_degrees((float("inf"),), "N", 90.0) is None
    assert metadata.gps_degrees((R(45, 1), R(30, 1), R(0, 1)), "S", 90.0) == -45.5
    assert metadata.gps_degrees("48,2", "N", 90.0) is None


def test_showing_the_fields():
    latitude, longitude = 48 + 51 / 60 + 29.52 / 3600, -(2 + 17 / 60 + 40 / 3600)
    fields = only(CAMERA | XMP_FIELDS | {"latitude": latitude, "longitude": longitude})
    shown = dict(metadata.describe(fields))
    assert shown == {
        "taken": "2024-05-17 14:03:22 +02:00",
        "camera": "Canon EOS 5D Mark IV",  # the make is not repeated
        "lens": "EF50mm f/1.8 STM",
        "exposure": "50 mm  1/250 s  ISO 400",
        "GPS": "48.858200, -2.294444",
        "title": "Le titre",
        "description": "Une description",
        "creator": "Ada Lovelace; Grace Hopper",
        "keywords": "protest, été",
    }
    assert metadata.exposure_text(2.5) == "2.5 s"
    assert metadata.describe(metadata.empty()) == []


# --- the import ---------------------------------------------------------------------------


def write_corpus(folder: Path) -> dict[str, dict[str, object]]:
    """Files of each kind, good and hostile, and the fields each must import with."""
    folder.mkdir(parents=True, exist_ok=True)
    hostile_exif = Image.Exif()
    hostile_exif[BASE.Make] = "Make\x00\x00"
    hostile_exif.get_ifd(ExifTags.IFD.Exif)[BASE.DateTimeOriginal] = "0000:00:00 00:00:00"
    files: dict[str, tuple[bytes, dict[str, object]]] = {
        "camera.jpg": (jpeg(1, exif=camera_exif()), CAMERA),
        "xmp_iptc.jpg": (
            jpeg(2, segments=(app1(XMP_HEADER + xmp_packet()), app13(iptc_block([(5, b"I")])))),
            XMP_FIELDS,
        ),
        "after_pixels.png": (
            png_with_chunks_after_pixels(
                3, [png_chunk(b"eXIf", camera_exif().tobytes()), itxt_xmp(xmp_packet())]
            ),
            {**CAMERA, **XMP_FIELDS},
        ),
        "bomb.jpg": (jpeg(4, segments=(app1(XMP_HEADER + BOMB),)), {}),
        "truncated.jpg": (
            jpeg(5, segments=(app1(b"Exif\x00\x00" + camera_exif().tobytes()[:30]),)),
            {},
        ),
        "hostile.jpg": (jpeg(6, exif=hostile_exif), {"camera_make": "Make"}),
        "plain.jpg": (jpeg(7), {}),
    }
    files["camera.tif"] = (tiff(8, xmp_packet()), {**CAMERA, **XMP_FIELDS})
    buffer = io.BytesIO()
    picture(9).save(buffer, "WEBP", exif=camera_exif(), xmp=xmp_packet(), lossless=True)
    files["camera.webp"] = (buffer.getvalue(), {**CAMERA, **XMP_FIELDS})
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    return {name: only(expected) for name, (_, expected) in files.items()}


def stored_metadata(con) -> dict[str, dict[str, object]]:
    columns = ", ".join(f"i.{c}" for c in store.METADATA_COLUMNS)
    rows = con.execute(
        f"SELECT f.path, i.metadata_read, {columns} FROM files f JOIN images i "
        "ON i.id = f.image_id ORDER BY f.path"
    ).fetchall()
    found = {}
    for path, read, *values in rows:
        assert read is True, path
        found[Path(path).name] = dict(zip(store.METADATA_COLUMNS, values, strict=True))
    return found


def test_the_import_stores_the_readable_fields_of_every_file(tmp_path):
    expected = write_corpus(tmp_path / "images")
    con = store.open_project(tmp_path / "project", create=True)
    summary = import_folders(con, [str(tmp_path / "images")], workers=1)
    assert summary.new == len(expected) and summary.failed == 0
    assert stored_metadata(con) == expected
    con.close()


def test_images_imported_before_version_8_get_their_metadata_on_the_next_import(tmp_path):
    expected = write_corpus(tmp_path / "images")
    con = store.open_project(tmp_path / "project", create=True)
    import_folders(con, [str(tmp_path / "images")], workers=1)
    # As a project upgraded from version 7: nothing read, and metadata_read NULL or false.
    cleared = ", ".join(f"{c} = NULL" for c in store.METADATA_COLUMNS)
    con.execute(f"UPDATE images SET {cleared}, metadata_read = false")
    con.execute("UPDATE images SET metadata_read = NULL WHERE id % 2 = 0")
    again = import_folders(con, None, workers=1)
    assert again.unchanged == len(expected) and again.metadata_updated == len(expected)
    assert stored_metadata(con) == expected
    # Once: the next import reads nothing more.
    assert import_folders(con, None, workers=1).metadata_updated == 0
    con.close()


def test_the_metadata_pass_reads_no_pixels(tmp_path, monkeypatch):
    """The pass over unchanged images reads headers only: a PNG whose pixel data is damaged
    (it would fail a decode) still gives its metadata."""
    data = bytearray(png_with_chunks_after_pixels(1, [png_chunk(b"eXIf", camera_exif().tobytes())]))
    path = tmp_path / "damaged.png"
    start = data.index(b"IDAT") + 4
    data[start : start + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    result = read_worker.read_metadata_only(str(path), 10**8)
    assert result.error is None and result.metadata == only(CAMERA)
    assert read_worker.read_image_file(str(path), 10**8, 64).error is not None


def test_the_benchmark_switch_skips_reading(tmp_path, monkeypatch):
    path = tmp_path / "camera.jpg"
    path.write_bytes(jpeg(exif=camera_exif()))
    assert read_worker.read_image_file(str(path), 10**8, 64).metadata == only(CAMERA)
    monkeypatch.setenv(read_worker.SKIP_METADATA_ENV, "1")
    assert read_worker.read_image_file(str(path), 10**8, 64).metadata is None


def test_a_metadata_error_never_fails_a_file(tmp_path, monkeypatch):
    def broken(img):
        raise RuntimeError("a reader bug")

    monkeypatch.setattr(metadata, "_from_exif", broken)
    monkeypatch.setattr(metadata, "_from_iptc", broken)
    fields = fields_of(jpeg(segments=(app1(XMP_HEADER + xmp_packet()),)))
    assert fields == only(XMP_FIELDS)


# --- the detail pane ----------------------------------------------------------------------


def test_the_detail_pane_shows_the_fields_literally(drive, project):
    con = store.open_project(project)
    first = int(con.execute("SELECT min(id) FROM images").fetchone()[0])
    con.execute(
        "UPDATE images SET title = ?, camera_make = 'Canon', camera_model = 'EOS R5', "
        "exposure = 0.004, iso = 400, focal_length = 35, keywords = ['a', '[i]b[/i]'], "
        "date_taken = TIMESTAMP '2024-05-17 14:03:22', date_offset = '+02:00', "
        "latitude = 48.8584, longitude = -2.2945 WHERE id = ?",
        ["[b]markup[/b] \x1b[31mred", first],
    )
    con.close()

    async def scenario(app, pilot):
        await settle(pilot)
        pane = app.screen.query_one(DetailPane)
        await wait_for(pilot, lambda: "markup" in screen_text(app), what="the title")
        text = screen_text(app)
        assert "title [b]markup[/b] \\x1b[31mred" in text
        assert "taken 2024-05-17 14:03:22 +02:00" in text
        assert "camera Canon EOS R5" in text
        assert "exposure 35 mm  1/250 s  ISO 400" in text
        assert "GPS 48.858400, -2.294500" in text
        assert "keywords a, [i]b[/i]" in text
        assert pane.display

    drive(scenario, size=(160, 60))


def test_details_of_an_image_carry_its_metadata(tmp_path):
    write_corpus(tmp_path / "images")
    con = store.open_project(tmp_path / "project", create=True)
    import_folders(con, [str(tmp_path / "images")], workers=1)
    image_id = con.execute("SELECT image_id FROM files WHERE path LIKE '%camera.jpg'").fetchone()[0]
    details = browse.image_details(con, image_id)
    assert details is not None
    assert details.metadata["iso"] == 400
    assert math.isclose(details.metadata["exposure"], 1 / 250)
    con.close()
