"""Metadata read from an image file at import: EXIF, IPTC and XMP, as store.METADATA_COLUMNS.

Read from the image Pillow already opened (its header, ``info`` and EXIF): the file is not read
a second time. Metadata is written by cameras, editors and anyone at all, so what holds here:
- reading never raises: each field is read on its own, and one that cannot be read (a truncated
  EXIF block, a wrong type, a zero denominator, a date such as "0000:00:00 00:00:00") is None
  while the others still come;
- text is decoded sensibly (bytes as UTF-8, else Latin-1), stripped of NULs and cut to
  MAX_TEXT characters; at most MAX_KEYWORDS keywords; numbers are finite and in range;
- an XMP packet is parsed only when it has no document type declaration, so no entity is ever
  defined, let alone expanded (an "XML bomb" is refused, not parsed).
Text is stored as written (markup, escapes and all): whoever shows it shows it literally.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import xml.etree.ElementTree as ET
import xml.parsers.expat as expat
import zlib
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, BinaryIO, NoReturn

from PIL import ExifTags, Image, IptcImagePlugin

MAX_TEXT = 2000  # characters kept of a text field
MAX_KEYWORDS = 200  # keywords kept of one image
MAX_KEYWORD = 200  # characters kept of one keyword
MAX_XMP = 4 << 20  # bytes: a larger packet is not parsed (real ones are a few KB to 1 MB)
INT32_MAX = 2**31 - 1

# The names of store.METADATA_COLUMNS, in order (a test checks they agree). Not imported from
# the store: the import's worker processes read metadata, and would load DuckDB for one dict.
FIELDS = (
    "date_taken",
    "date_offset",
    "camera_make",
    "camera_model",
    "lens",
    "focal_length",
    "exposure",
    "iso",
    "latitude",
    "longitude",
    "title",
    "description",
    "creator",
    "keywords",
)

# Fields of the EXIF IFD (0x8769) and of the first IFD, by tag number.
_DATE_ORIGINAL = ExifTags.Base.DateTimeOriginal
_OFFSET_ORIGINAL = ExifTags.Base.OffsetTimeOriginal
_MAKE = ExifTags.Base.Make
_MODEL = ExifTags.Base.Model
_LENS = ExifTags.Base.LensModel
_FOCAL = ExifTags.Base.FocalLength
_EXPOSURE = ExifTags.Base.ExposureTime
_ISO = ExifTags.Base.ISOSpeedRatings  # PhotographicSensitivity since EXIF 2.3: the same tag
_GPS = ExifTags.GPS

# IPTC IIM datasets (record 2), as Pillow's getiptcinfo keys them.
_IPTC_TITLE = (2, 5)  # Object Name
_IPTC_KEYWORDS = (2, 25)
_IPTC_CREATOR = (2, 80)  # By-line
_IPTC_CAPTION = (2, 120)  # Caption/Abstract

_NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
}
_RDF = "{" + _NS["rdf"] + "}"
_DC = "{" + _NS["dc"] + "}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# A document type declaration is where entities are defined; without one, none can be expanded.
# This finds one in an ASCII-compatible packet at once; expat finds it in any encoding.
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_OFFSET = re.compile(r"[+-](\d{2}):(\d{2})")
_DATE = re.compile(r"(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


def empty() -> dict[str, Any]:
    """Every metadata column, unset."""
    return dict.fromkeys(FIELDS)


def read_metadata(img: Image.Image) -> dict[str, Any]:
    """The metadata of an opened image, one key per FIELDS name (None where absent or
    unreadable). Never raises. For a PNG, call it once the image is loaded: its text chunks
    and EXIF may follow the pixels, and reading EXIF before would decode them (see
    decode.exif_orientation); ``png_header_metadata`` reads them without decoding."""
    found = empty()
    _guarded(found, lambda: _from_exif(img.getexif()))
    # XMP before IPTC: XMP is Unicode by definition (IPTC often Latin-1) and usually newer.
    _guarded(found, lambda: _from_xmp(img.info.get("xmp")))
    _guarded(found, lambda: _from_iptc(img))
    return found


def png_header_metadata(handle: BinaryIO) -> dict[str, Any]:
    """The metadata of a PNG file without decoding it: its chunks are walked, the image data
    skipped, and only the eXIf chunk and the XMP packet (iTXt "XML:com.adobe.xmp") read. For
    the images imported before metadata was read (one pass, kept cheap). Never raises."""
    found = empty()
    exif_data: bytes | None = None
    xmp: bytes | None = None
    try:
        handle.seek(8)  # the signature
        for _ in range(100_000):  # a bound on hostile files made of empty chunks
            head = handle.read(8)
            if len(head) < 8:
                break
            length, kind = int.from_bytes(head[:4], "big"), head[4:]
            if kind == b"IEND":
                break
            if kind == b"eXIf" and length <= MAX_XMP and exif_data is None:
                exif_data = handle.read(length)
                handle.seek(4, io.SEEK_CUR)
            elif kind == b"iTXt" and length <= MAX_XMP and xmp is None:
                xmp = _itxt_xmp(handle.read(length))
                handle.seek(4, io.SEEK_CUR)
            else:
                handle.seek(length + 4, io.SEEK_CUR)  # the data and its CRC
    except Exception:  # a truncated or damaged file: what was read counts
        pass
    if exif_data is not None:
        exif = Image.Exif()
        _guarded(found, lambda: _from_exif(_loaded(exif, exif_data)))
    _guarded(found, lambda: _from_xmp(xmp))
    return found


def _loaded(exif: Image.Exif, data: bytes) -> Image.Exif:
    # PNG's eXIf holds the TIFF structure without the "Exif\0\0" header Pillow also accepts.
    exif.load(data)
    return exif


def _itxt_xmp(chunk: bytes) -> bytes | None:
    """The XMP packet of an iTXt chunk (keyword, flags, language, translated keyword, text),
    None for another keyword. A compressed one is inflated to at most MAX_XMP bytes."""
    keyword, _, rest = chunk.partition(b"\x00")
    if keyword != b"XML:com.adobe.xmp" or len(rest) < 2:
        return None
    compressed, text = rest[0], rest[2:]
    text = text.split(b"\x00", 2)[-1]  # after the language tag and the translated keyword
    if compressed:
        inflater = zlib.decompressobj()
        text = inflater.decompress(text, MAX_XMP)
        if inflater.unconsumed_tail:
            return None  # larger than any real packet: not parsed
    return text


def _guarded(found: dict[str, Any], read: Callable[[], dict[str, Any]]) -> None:
    """Add what ``read`` finds to ``found`` (fields already set stay); a failure adds nothing."""
    try:
        fields = read()
    except Exception:  # hostile metadata raises anything; the fields read elsewhere still count
        return
    for name, value in fields.items():
        if found.get(name) is None and value is not None:
            found[name] = value


def _each(fields: dict[str, Any], name: str, read: Callable[[], Any]) -> None:
    """One field: a failure to read it leaves it unset, and the others still come."""
    try:
        fields[name] = read()
    except Exception:  # a wrong type, a zero denominator, a truncated block
        fields[name] = None


# --- EXIF ---------------------------------------------------------------------------------


def _from_exif(exif: Image.Exif) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    try:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:  # a truncated or looping EXIF IFD: the first IFD may still be read
        sub = {}

    def tag(number: int) -> Any:
        # Tags of the EXIF IFD are sometimes written in the first one.
        return sub.get(number, exif.get(number))

    _each(fields, "camera_make", lambda: clean_text(exif.get(_MAKE)))
    _each(fields, "camera_model", lambda: clean_text(exif.get(_MODEL)))
    _each(fields, "lens", lambda: clean_text(tag(_LENS)))
    _each(fields, "date_taken", lambda: exif_date(tag(_DATE_ORIGINAL)))
    _each(fields, "date_offset", lambda: exif_offset(tag(_OFFSET_ORIGINAL)))
    _each(fields, "focal_length", lambda: _positive(tag(_FOCAL), 100_000.0))
    _each(fields, "exposure", lambda: _positive(tag(_EXPOSURE), 1e6))
    _each(fields, "iso", lambda: _iso(tag(_ISO)))
    try:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except Exception:
        gps = {}
    _each(
        fields,
        "latitude",
        lambda: gps_degrees(gps.get(_GPS.GPSLatitude), gps.get(_GPS.GPSLatitudeRef), 90.0),
    )
    _each(
        fields,
        "longitude",
        lambda: gps_degrees(gps.get(_GPS.GPSLongitude), gps.get(_GPS.GPSLongitudeRef), 180.0),
    )
    return fields


def _number(value: Any) -> float | None:
    """A finite float from an EXIF number (an int, a rational, a one-element tuple), or None.
    A rational with a zero denominator is NaN in Pillow, so not finite."""
    if isinstance(value, tuple) and len(value) == 1:
        value = value[0]
    if isinstance(value, (str, bytes, bytearray, tuple, list)) or value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _positive(value: Any, limit: float) -> float | None:
    number = _number(value)
    return number if number is not None and 0 < number <= limit else None


def _iso(value: Any) -> int | None:
    # ISOSpeedRatings is a list of SHORTs: the first is the sensitivity.
    if isinstance(value, (tuple, list)) and value:
        value = value[0]
    number = _number(value)
    if number is None or not 0 < number <= INT32_MAX:
        return None
    return int(number)


def exif_date(value: Any) -> datetime | None:
    """DateTimeOriginal ("2024:05:17 14:03:22") as a datetime; None for the "0000:00:00"
    placeholder, blanks and anything that is not a valid date."""
    text = clean_text(value)
    if text is None:
        return None
    match = _DATE.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:  # month 13, day 0, year 0
        return None


def exif_offset(value: Any) -> str | None:
    """OffsetTimeOriginal ("+02:00"): kept when it is a valid UTC offset, else None."""
    text = clean_text(value)
    if text is None:
        return None
    match = _OFFSET.fullmatch(text)
    if match is None or int(match.group(1)) > 14 or int(match.group(2)) >= 60:
        return None
    return text


def gps_degrees(value: Any, ref: Any, limit: float) -> float | None:
    """(degrees, minutes, seconds) and a N/S or E/W reference as signed degrees (north and east
    positive); None when a part is missing, not finite (a zero denominator) or out of range."""
    if not isinstance(value, (tuple, list)) or not 1 <= len(value) <= 3:
        return None
    parts = [_number(part) for part in value]
    if any(part is None or part < 0 for part in parts):
        return None
    degrees = sum(float(part or 0) / 60**n for n, part in enumerate(parts))
    reference = clean_text(ref)
    if reference is not None and reference[:1].upper() in ("S", "W"):
        degrees = -degrees
    return degrees if math.isfinite(degrees) and abs(degrees) <= limit else None


# --- text ---------------------------------------------------------------------------------


def decode(value: bytes) -> str:
    """Bytes as UTF-8, else as Latin-1 (which reads any byte: old IPTC and EXIF)."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def clean_text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """Text as stored: decoded, without NULs, stripped, cut to ``limit`` characters; None when
    empty or not text at all (a number where a name was expected)."""
    if isinstance(value, (bytes, bytearray)):
        text = decode(bytes(value[: limit * 4]))
    elif isinstance(value, str):
        text = value[: limit * 4]
        # Pillow reads EXIF text as Latin-1: UTF-8 written by a phone comes out as mojibake.
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
            text = text.encode("latin-1").decode("utf-8")
    else:
        return None
    text = text.replace("\x00", "").strip()[:limit].strip()
    return text or None


def _keywords(values: Iterable[Any]) -> list[str] | None:
    """Keywords cleaned, without repeats, at most MAX_KEYWORDS; None when there are none."""
    kept: list[str] = []
    for value in values:
        text = clean_text(value, MAX_KEYWORD)
        if text is not None and text not in kept:
            kept.append(text)
            if len(kept) == MAX_KEYWORDS:
                break
    return kept or None


def _joined(names: Iterable[Any]) -> str | None:
    """Several creators as one text: "Ada; Grace"."""
    return clean_text("; ".join(_keywords(names) or []))


# --- IPTC ---------------------------------------------------------------------------------


def _from_iptc(img: Image.Image) -> dict[str, Any]:
    if not isinstance(img, Image.Image) or img.format not in ("JPEG", "MPO", "TIFF"):
        return {}
    info = IptcImagePlugin.getiptcinfo(img)  # type: ignore[arg-type]
    if not info:
        return {}

    def first(key: tuple[int, int]) -> str | None:
        value = info.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        return clean_text(value)

    def every(key: tuple[int, int]) -> list[str] | None:
        value = info.get(key)
        return _keywords(value if isinstance(value, list) else [value])

    fields: dict[str, Any] = {}
    _each(fields, "title", lambda: first(_IPTC_TITLE))
    _each(fields, "description", lambda: first(_IPTC_CAPTION))
    _each(fields, "creator", lambda: _joined(every(_IPTC_CREATOR) or []))
    _each(fields, "keywords", lambda: every(_IPTC_KEYWORDS))
    return fields


# --- XMP ----------------------------------------------------------------------------------


class _Refused(Exception):
    """A document type declaration in an XMP packet."""


def _refuse(*_: object) -> NoReturn:
    raise _Refused


def _without_doctype(data: bytes) -> bool:
    """Whether an XML document declares no document type (and so no entity), in whatever
    encoding it is written (UTF-16 too): checked by expat itself, which stops at the start of
    a declaration, before anything in it is read, let alone expanded."""
    checker = expat.ParserCreate()
    checker.StartDoctypeDeclHandler = _refuse
    checker.EntityDeclHandler = _refuse
    checker.ExternalEntityRefHandler = _refuse
    try:
        checker.Parse(data, True)
    except (_Refused, expat.ExpatError, ValueError):
        return False
    return True


def parse_xmp(packet: Any) -> ET.Element | None:
    """The root of an XMP packet, or None when it is absent, too large, declares a document
    type (entities: refused, never expanded) or is not well-formed XML."""
    if isinstance(packet, str):
        packet = packet.encode("utf-8", "surrogatepass")
    if not isinstance(packet, (bytes, bytearray)) or not packet or len(packet) > MAX_XMP:
        return None
    data = bytes(packet)
    if b"\x00" not in data[:4] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        data = data.strip(b"\x00 \t\r\n")  # padding after a UTF-8 packet (UTF-16 has NULs)
    if _DOCTYPE.search(data) or not _without_doctype(data):
        return None
    try:
        return ET.fromstring(data)
    except (ET.ParseError, ValueError):
        return None


def _from_xmp(packet: Any) -> dict[str, Any]:
    root = parse_xmp(packet)
    if root is None:
        return {}
    fields: dict[str, Any] = {}
    _each(fields, "title", lambda: clean_text(_xmp_alt(root, "title")))
    _each(fields, "description", lambda: clean_text(_xmp_alt(root, "description")))
    _each(fields, "creator", lambda: _joined(_xmp_items(root, "creator")))
    _each(fields, "keywords", lambda: _keywords(_xmp_items(root, "subject")))
    return fields


def _dc(root: ET.Element, name: str) -> tuple[list[ET.Element], list[str]]:
    """The dc:NAME elements of every rdf:Description, and the values written as attributes."""
    elements = list(root.iter(_DC + name))
    attributes = [
        value
        for description in root.iter(_RDF + "Description")
        if (value := description.get(_DC + name)) is not None
    ]
    return elements, attributes


def _xmp_alt(root: ET.Element, name: str) -> str | None:
    """A language alternative (dc:title, dc:description): the x-default entry, else the first;
    a plain text value where a writer put one."""
    elements, attributes = _dc(root, name)
    for element in elements:
        items = list(element.iter(_RDF + "li"))
        default = [li for li in items if li.get(_XML_LANG, "").lower() == "x-default"]
        for li in default + items:
            if li.text and li.text.strip():
                return li.text
        if element.text and element.text.strip():
            return element.text
    return attributes[0] if attributes else None


def _xmp_items(root: ET.Element, name: str) -> list[str]:
    """The entries of a bag or sequence (dc:subject, dc:creator), or a plain value."""
    elements, attributes = _dc(root, name)
    found: list[str] = []
    for element in elements:
        items = [li.text for li in element.iter(_RDF + "li") if li.text]
        if not items and element.text and element.text.strip():
            items = [element.text]
        found.extend(items)
        if len(found) >= MAX_KEYWORDS:
            break
    return found + attributes


# --- showing --------------------------------------------------------------------------------


def exposure_text(seconds: float) -> str:
    """An exposure time as photographers write it: "1/250 s" under a second, else "2.5 s"."""
    if 0 < seconds < 1:
        return f"1/{round(1 / seconds):d} s"
    return f"{seconds:g} s"


def describe(fields: dict[str, Any]) -> list[tuple[str, str]]:
    """The fields that are set, as (label, text) lines for a person: the detail pane shows them
    (literally: the text is as the file wrote it, markup and escapes included)."""
    lines: list[tuple[str, str]] = []
    taken = fields.get("date_taken")
    if isinstance(taken, datetime):
        offset = fields.get("date_offset")
        lines.append(("taken", taken.isoformat(" ") + (f" {offset}" if offset else "")))
    make, model = fields.get("camera_make"), fields.get("camera_model")
    if make or model:
        # Many cameras repeat the make in the model ("Canon" / "Canon EOS 5D").
        same = make and model and str(model).lower().startswith(str(make).lower())
        lines.append(
            ("camera", str(model) if same else " ".join(str(v) for v in (make, model) if v))
        )
    if fields.get("lens"):
        lines.append(("lens", str(fields["lens"])))
    exposure = []
    if fields.get("focal_length") is not None:
        exposure.append(f"{fields['focal_length']:g} mm")
    if fields.get("exposure") is not None:
        exposure.append(exposure_text(float(fields["exposure"])))
    if fields.get("iso") is not None:
        exposure.append(f"ISO {fields['iso']}")
    if exposure:
        lines.append(("exposure", "  ".join(exposure)))
    latitude, longitude = fields.get("latitude"), fields.get("longitude")
    if latitude is not None and longitude is not None:
        lines.append(("GPS", f"{latitude:.6f}, {longitude:.6f}"))
    for name in ("title", "description", "creator"):
        if fields.get(name):
            lines.append((name, str(fields[name])))
    if fields.get("keywords"):
        lines.append(("keywords", ", ".join(str(k) for k in fields["keywords"])))
    return lines
