"""Property values in and out of CSV, in Panoptic's format (issue 13).

Panoptic's CSV: one row per file, ``;`` between cells, a first column ``path`` (absolute, or
relative: the end of a path, as Panoptic writes it from its folder's name on) or ``id`` (here an
image's id), then one column per property headed ``name[type]`` with Panoptic's type names
(text, number, date, checkbox, url, tag, multi_tags; path, color and image_link are read as
text); multi-tag values are comma-separated.

Reading (``plan_import``) changes nothing: it decodes the file (UTF-8 with or without a BOM,
UTF-16 with a BOM, else Latin-1: bytes that are not UTF-8 are never shown as mojibake), finds
the delimiter, reads the header and every row, and returns a plan: the columns (new or existing
properties, guessed types), the rows that will go in, and the problems, each with its line
number. ``apply_import`` writes the plan in ONE transaction (all its good rows, or nothing with
``strict``), journaled as one change (``panoptui undo`` takes the whole import back); the CLI's
--dry-run and the TUI's preview show the plan without applying it.

An empty cell sets nothing (an import never clears a value). A row with any bad cell is left out
whole, so that a row is in or out, never half.

Writing (``write_panoptic``) makes the same format from a project: ``path`` first, every
property as ``name[type]``. Text cells that a spreadsheet would run as a formula get a leading
single quote (as export.py does), and the reader takes exactly that quote off again, so a round
trip loses nothing.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from panoptui.core import journal, properties, store
from panoptui.core.properties import Property, Value
from panoptui.core.text import count_text, shown

# Panoptic's type names (models.PropertyType) -> ours. Ours are accepted too.
PANOPTIC_TYPES = {
    "text": "text", "number": "number", "date": "date", "checkbox": "checkbox", "url": "url",
    "tag": "tag", "multi_tags": "multi_tag", "multi_tag": "multi_tag",
}  # fmt: skip
# Panoptic types without an equivalent here: their values are kept, as text.
READ_AS_TEXT = ("path", "color", "image_link")
TO_PANOPTIC = {"text": "text", "url": "url", "number": "number", "date": "date",
               "checkbox": "checkbox", "tag": "tag", "multi_tag": "multi_tags"}  # fmt: skip
KEYS = ("path", "id")
LISTED = 20  # problems listed one by one; the rest are counted
PREVIEW_ROWS = 5
HEADER = re.compile(r"^(?P<name>.*?)\s*\[(?P<type>[^\[\]]*)\]\s*$")
# What export.py quotes in CSV (CSV injection): a cell starting, after spaces, with one of these.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTED_TYPES = ("text", "url", "tag", "multi_tag")


@dataclass(frozen=True)
class Problem:
    line: int  # in the file, from 1 (the header is line 1); a row's first line
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class Column:
    index: int  # the cell's index in a row
    name: str
    type: str  # ours
    existing: Property | None  # None: the import creates it
    guessed: bool = False  # the header had no type: guessed from the values


@dataclass
class Row:
    line: int
    targets: list[int]  # image ids (mode image) or file ids (mode file) of each column's prop
    file_targets: list[int]
    values: list[Value]  # one per column, None for an empty cell


@dataclass
class ImportPlan:
    file: str
    encoding: str  # in words: "UTF-8", "UTF-8 with a BOM", "Latin-1 (cp1252)", "UTF-16"
    delimiter: str
    key: str  # path | id
    mode: str  # of the properties it creates
    columns: list[Column]
    rows: list[Row]  # those that go in
    problems: list[Problem]
    notes: list[str]  # what the reader decided (an encoding, a guessed type)
    preview: list[tuple[int, list[str]]]  # the first rows as written: (line, cells)
    header: list[str]
    read: int = 0  # data rows in the file

    @property
    def created(self) -> list[Column]:
        return [c for c in self.columns if c.existing is None]


@dataclass
class ImportResult:
    rows: int  # rows applied
    values: int  # (target, property) values set
    created: list[str] = field(default_factory=list)
    left_out: int = 0


# --- reading ------------------------------------------------------------------------------------


def decode(data: bytes, name: str) -> tuple[str, str]:
    """The file's text and its encoding in words. UTF-8 first (with or without a BOM); a file
    whose bytes are not UTF-8 is read as Latin-1 (Windows' cp1252, the spreadsheets' default),
    so "café" in Latin-1 reads as "café", never as "cafÃ©"."""
    if not data.strip():
        raise store.ProjectError(f"{shown(name)} is empty")
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(codec), "UTF-16"
            except UnicodeDecodeError:
                raise store.ProjectError(f"{shown(name)} is not valid UTF-16 text") from None
    if b"\0" in data:
        raise store.ProjectError(f"{shown(name)} is not a text file (it holds NUL bytes)")
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "UTF-8 with a BOM"
        except UnicodeDecodeError:
            pass  # a BOM then Latin-1 bytes: read below without it
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "Latin-1 (cp1252)"
    except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined
        return data.decode("latin-1"), "Latin-1"


def detect_delimiter(text: str) -> str:
    """``;`` (Panoptic's), ``,`` or a tab: the one the header line holds most of, outside
    quotes; ``;`` on a tie."""
    first = next(iter(text.splitlines()), "")
    outside = re.sub(r'"[^"]*"', "", first)
    counts = {d: outside.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: (counts[d], d == ";"))
    return best if counts[best] else ";"


def _records(text: str, delimiter: str, name: str) -> Iterator[tuple[int, list[str]]]:
    """(first line, cells) of each non-blank record; quoted cells may hold the delimiter and
    line breaks (CRLF or LF)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise store.ProjectError(
                f"{shown(name)} line {reader.line_num}: cannot read it as CSV ({exc})"
            ) from None
        if any(c.strip() for c in cells):
            yield start, cells


def unquote(cell: str) -> str:
    """A text cell as it was before a writer quoted a formula (``'=x`` -> ``=x``)."""
    if cell.startswith("'") and _needs_quote(cell[1:]):
        return cell[1:]
    return cell


def quote(cell: str) -> str:
    """A text cell safe in a spreadsheet: a leading quote before what would run as a formula,
    and before a quote that ``unquote`` would take off, so that unquote(quote(x)) == x."""
    return "'" + cell if _needs_quote(cell) else cell


def _needs_quote(cell: str) -> bool:
    rest = cell.lstrip(" ")
    return rest.startswith(FORMULA_STARTS) or (rest.startswith("'") and _needs_quote(rest[1:]))


def _column(
    con: duckdb.DuckDBPyConnection, index: int, header: str, problems: list[Problem],
    notes: list[str],
) -> Column | None:  # fmt: skip
    """The column of a header ``name[type]`` or ``name``; None when it is left out (a problem
    on line 1 says why). A bad name (blank, built-in) stops the import (ProjectError)."""
    found = HEADER.match(header)
    raw_name, raw_type = (found["name"], found["type"].strip()) if found else (header, None)
    where = f"column {index + 1} ({shown(header.strip())!r})"
    try:
        name = properties.check_name(raw_name)
    except store.ProjectError as exc:
        raise store.ProjectError(f"{where}: {exc}") from None
    type_: str | None = None
    if raw_type is not None:
        lowered = raw_type.casefold()
        if lowered in PANOPTIC_TYPES:
            type_ = PANOPTIC_TYPES[lowered]
        elif lowered in READ_AS_TEXT:
            type_ = "text"
            notes.append(f"{where}: Panoptic's {lowered} type has no equivalent; read as text")
        else:
            known = ", ".join(t for t in PANOPTIC_TYPES if t != "multi_tag")
            problems.append(
                Problem(1, f"{where}: unknown type {shown(raw_type)!r} ({known}); left out")
            )
            return None
    existing = properties.find_property(con, name)
    if existing is not None and type_ is not None and existing.type != type_:
        problems.append(
            Problem(
                1,
                f"{where}: property {shown(name)!r} exists as {existing.type}, "
                f"not {type_}; left out",
            )
        )
        return None
    if existing is not None:
        return Column(index, existing.name, existing.type, existing)
    return Column(index, name, type_ or "", None, guessed=type_ is None)


def guess_type(cells: list[str]) -> str:
    """The type of a column without one, from its non-empty cells: all numbers -> number, all
    dates -> date, all true/false -> checkbox, else text."""
    values = [c.strip() for c in cells if c.strip()]
    if not values:
        return "text"
    for type_, parse in (("number", properties.parse_number), ("date", properties.parse_date)):
        try:
            for value in values:
                parse(value)
            return type_
        except ValueError:
            continue
    if all(v.casefold() in ("true", "false") for v in values):
        return "checkbox"
    return "text"


def plan_import(
    con: duckdb.DuckDBPyConnection, file: str | os.PathLike[str], mode: str = "image"
) -> ImportPlan:
    """Read a CSV and say what importing it would do; changes nothing. ProjectError (one line)
    for a file that cannot be imported at all: unreadable, empty, only a header, no key column,
    a duplicate header, a header named like a built-in field."""
    name = str(file)
    if mode not in properties.MODES:
        raise store.ProjectError(f"unknown property mode {shown(mode)!r}; image or file")
    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        raise store.ProjectError(f"cannot read {shown(name)}: {exc.strerror or exc}") from None
    text, encoding = decode(data, name)
    delimiter = detect_delimiter(text)
    records = list(_records(text, delimiter, name))
    if not records:
        raise store.ProjectError(f"{shown(name)} is empty")
    header = [h.strip() for h in records[0][1]]
    body = records[1:]
    if not body:
        raise store.ProjectError(f"{shown(name)} has a header but no rows")
    key = header[0].casefold()
    if key not in KEYS:
        raise store.ProjectError(
            f"{shown(name)}: the first column must be 'path' or 'id' "
            f"(Panoptic's format), not {shown(header[0])!r}"
        )
    if len(header) < 2:
        raise store.ProjectError(f"{shown(name)} has no property columns after {key!r}")
    problems: list[Problem] = []
    notes: list[str] = []
    if encoding != "UTF-8":
        notes.append(f"read as {encoding}")
    columns = _columns(con, header, problems, notes)
    for column in columns:
        if column.guessed:
            column.type = guess_type([cells[column.index] for _, cells in body
                                      if column.index < len(cells)])  # fmt: skip
            notes.append(
                f"column {shown(column.name)!r} has no type: guessed {column.type} from its values"
            )
    plan = ImportPlan(name, encoding, delimiter, key, mode, columns, [], problems, notes,
                      [(line, cells) for line, cells in body[:PREVIEW_ROWS]], header,
                      len(body))  # fmt: skip
    targets = _match_keys(con, key, [(line, cells[0].strip()) for line, cells in body])
    for line, cells in body:
        row = _row(plan, line, cells, targets.get(line))
        if row is not None:
            plan.rows.append(row)
    plan.problems.sort(key=lambda p: p.line)
    return plan


def _columns(
    con: duckdb.DuckDBPyConnection, header: list[str], problems: list[Problem], notes: list[str]
) -> list[Column]:
    columns: list[Column] = []
    seen: dict[str, int] = {}
    for index, cell in enumerate(header[1:], start=1):
        if not cell:
            problems.append(Problem(1, f"column {index + 1} has no name; left out"))
            continue
        column = _column(con, index, cell, problems, notes)
        if column is None:
            continue
        if column.name.casefold() in seen:
            raise store.ProjectError(
                f"columns {seen[column.name.casefold()] + 1} and {index + 1} are both named "
                f"{shown(column.name)!r}; rename one"
            )
        seen[column.name.casefold()] = index
        columns.append(column)
    return columns


def _row(
    plan: ImportPlan, line: int, cells: list[str], found: tuple[list[int], list[int]] | str | None
) -> Row | None:
    """The row to apply, or None when it is left out (its problem added to the plan)."""
    if len(cells) > len(plan.header):
        plan.problems.append(
            Problem(
                line,
                f"{len(cells)} cells, the header has {len(plan.header)} "
                f"(a {plan.delimiter!r} in a cell that is not quoted?)",
            )  # fmt: skip
        )
        return None
    if isinstance(found, str) or found is None:
        plan.problems.append(Problem(line, found or "no key"))
        return None
    values: list[Value] = []
    for column in plan.columns:
        cell = cells[column.index] if column.index < len(cells) else ""
        if column.type in QUOTED_TYPES:
            cell = unquote(cell)
        try:
            value = properties.parse_value(column.type, cell)
        except ValueError as exc:
            plan.problems.append(Problem(line, f"column {shown(column.name)!r}: {exc}"))
            return None
        values.append(value)
    images, files = found
    return Row(line, images, files, values)


def _match_keys(
    con: duckdb.DuckDBPyConnection, key: str, keys: list[tuple[int, str]]
) -> dict[int, tuple[list[int], list[int]] | str]:
    """For each line: (image ids, file ids) its key names, or why it names none."""
    if key == "id":
        return _match_ids(con, keys)
    return _match_paths(con, keys)


def _match_ids(
    con: duckdb.DuckDBPyConnection, keys: list[tuple[int, str]]
) -> dict[int, tuple[list[int], list[int]] | str]:
    result: dict[int, tuple[list[int], list[int]] | str] = {}
    wanted: dict[int, list[int]] = {}
    for line, cell in keys:
        try:
            wanted.setdefault(int(cell), []).append(line)
        except ValueError:
            result[line] = f"id {shown(cell)!r} is not a number"
    files: dict[int, list[int]] = {}
    rows = con.execute(
        "SELECT i.id, f.id FROM images i LEFT JOIN files f ON f.image_id = i.id "
        "AND f.state = 'ok' WHERE i.id IN (SELECT unnest(?::BIGINT[])) ORDER BY f.id",
        [list(wanted)],
    ).fetchall()
    for image_id, file_id in rows:
        files.setdefault(int(image_id), [])
        if file_id is not None:
            files[int(image_id)].append(int(file_id))
    for image_id, lines in wanted.items():
        for line in lines:
            result[line] = (
                ([image_id], files[image_id]) if image_id in files
                else f"no image {image_id} in the project"
            )  # fmt: skip
    return result


def _tried(path: str, folders: list[str]) -> list[str]:
    """The paths a cell may name: itself when absolute, else below each folder, or from a
    folder's own name on."""
    if os.path.isabs(path):
        return [os.path.normpath(path)]
    rel = os.path.normpath(path)
    if rel.startswith("..") or rel == ".":
        return []
    tried = [f"{f}/{rel}" for f in folders]
    tried += [f"{os.path.dirname(f)}/{rel}" for f in folders
              if rel.split("/", 1)[0] == os.path.basename(f)]  # fmt: skip
    return list(dict.fromkeys(tried))


def _match_paths(
    con: duckdb.DuckDBPyConnection, keys: list[tuple[int, str]]
) -> dict[int, tuple[list[int], list[int]] | str]:
    """A path names a present file: absolute, exactly; relative, as the end of a file's path
    (below one of the project's folders, or from a folder's own name on, as Panoptic writes
    it). A relative path that ends the paths of several images is ambiguous.

    A cell is the real path (a backslash in a file name is one backslash), looked up in its
    stored form (store.stored_path); failing that, a relative path with backslashes as
    Windows's separators; failing that, the cell as the stored form itself (how panoptui
    writes a path that is not UTF-8: ``caf\\xe9.jpg``)."""
    folders = [str(p) for (p,) in con.execute("SELECT path FROM folders").fetchall()]
    lines: list[int] = []
    ranks: list[int] = []
    candidates: list[str] = []
    for line, cell in keys:
        readings = [(0, cell, True)]
        if "\\" in cell:
            if not cell.startswith("/"):
                readings.append((1, cell.replace("\\", "/"), True))
            readings.append((2, cell, False))
        seen = set()
        for rank, path, real in readings:
            for candidate in _tried(path, folders):
                stored = store.stored_path(candidate)[0] if real else candidate
                if stored not in seen:
                    seen.add(stored)
                    lines.append(line)
                    ranks.append(rank)
                    candidates.append(stored)
    batch = pa.table({
        "line": pa.array(np.array(lines, np.int64)),
        "rank": pa.array(np.array(ranks, np.int64)),
        "path": candidates,
    })  # fmt: skip
    con.register("csv_keys", batch)
    try:
        rows = con.execute(
            "SELECT k.line, k.rank, f.image_id, f.id FROM csv_keys k JOIN files f "
            "ON f.path = k.path WHERE f.state = 'ok' ORDER BY k.line, k.rank, f.id"
        ).fetchall()
    finally:
        con.unregister("csv_keys")
    found: dict[int, tuple[list[int], list[int]]] = {}
    best: dict[int, int] = {}
    for line, rank, image_id, file_id in rows:
        # Only the first reading of a cell that finds a file counts.
        if best.setdefault(int(line), int(rank)) != int(rank):
            continue
        images, files = found.setdefault(int(line), ([], []))
        if int(image_id) not in images:
            images.append(int(image_id))
        files.append(int(file_id))
    result: dict[int, tuple[list[int], list[int]] | str] = {}
    for line, cell in keys:
        hit = found.get(line)
        if hit is None:
            result[line] = f"no file at {shown(cell)!r} in the project"
        elif len(hit[0]) > 1:
            result[line] = (
                f"{shown(cell)!r} ends the paths of {len(hit[0])} different images; "
                "write the whole path"
            )
        else:
            result[line] = hit
    return result


# --- applying -----------------------------------------------------------------------------------


def apply_import(
    con: duckdb.DuckDBPyConnection, plan: ImportPlan, strict: bool = False
) -> ImportResult:
    """Create the plan's new properties and set its rows' values, in one transaction. With
    ``strict``, a plan with any problem changes nothing (ProjectError)."""
    if strict and plan.problems:
        raise store.ProjectError(
            f"{count_text(len(plan.problems), 'problem')} in {shown(plan.file)}: "
            "nothing imported (--strict)"
        )
    result = ImportResult(rows=len(plan.rows), values=0, left_out=plan.read - len(plan.rows))
    # One journaled change: the properties made and every value set join it (journal.py), so
    # the whole import is one transaction and one step to undo.
    name = os.path.basename(plan.file)
    with journal.change(con, f"import {name!r}") as change:
        for i, column in enumerate(plan.columns):
            prop = column.existing or properties.create_property(
                con, column.name, column.type, plan.mode
            )
            if column.existing is None:
                result.created.append(column.name)
            pairs: dict[int, Value] = {}  # a later row wins over an earlier one
            for row in plan.rows:
                value = row.values[i]
                if value is None:
                    continue
                for target in row.targets if prop.mode == "image" else row.file_targets:
                    pairs[target] = value
            result.values += properties.set_each(con, prop, list(pairs.items()))
        change.said = f"import {name!r}: {count_text(result.rows, 'row')}"
    return result


def import_csv(
    con: duckdb.DuckDBPyConnection, file: str | os.PathLike[str], strict: bool = False,
    mode: str = "image",
) -> tuple[ImportPlan, ImportResult]:  # fmt: skip
    """Read and apply a CSV (what the CLI and the TUI's import run)."""
    plan = plan_import(con, file, mode)
    return plan, apply_import(con, plan, strict)


def listed_problems(problems: list[Problem], limit: int = LISTED) -> list[str]:
    """The first ``limit`` problems, one line each, then "and N more"."""
    lines = [str(p) for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"and {len(problems) - limit:,} more")
    return lines


def describe(plan: ImportPlan) -> list[str]:
    """What the import will do, in lines (--dry-run, the TUI's preview)."""
    lines = [
        f"{shown(plan.file)}: {count_text(plan.read, 'row')}, delimiter {plan.delimiter!r}, "
        f"key {plan.key}, {plan.encoding}"
    ]
    for column in plan.columns:
        if column.existing is None:
            lines.append(f"creates property {shown(column.name)!r} ({column.type}, {plan.mode})")
        else:
            lines.append(f"sets property {shown(column.name)!r} ({column.type}, "
                         f"{column.existing.mode})")  # fmt: skip
    lines.append(
        f"{count_text(len(plan.rows), 'row')} would go in, "
        f"{count_text(plan.read - len(plan.rows), 'row')} left out"
    )
    names = [plan.header[0], *(c.name for c in plan.columns)]
    lines.append("first rows: line | " + " | ".join(shown(n) for n in names))
    for line, cells in plan.preview:
        picked = [
            cells[0] if cells else "",
            *(cells[c.index] if c.index < len(cells) else "" for c in plan.columns),
        ]
        lines.append(f"  {line} | " + " | ".join(shown(c) for c in picked))  # fmt: skip
    return lines


# --- writing ------------------------------------------------------------------------------------


def panoptic_header(prop: Property) -> str:
    return f"{prop.name}[{TO_PANOPTIC[prop.type]}]"


def _all_values(con: duckdb.DuckDBPyConnection, prop: Property) -> dict[int, Value]:
    """Every value of a property, by target (image or file id)."""
    if prop.is_tags:
        table, column = ("image_tags", "image_id") if prop.mode == "image" else (
            "file_tags", "file_id")  # fmt: skip
        rows = con.execute(
            f"SELECT x.{column}, list(t.name ORDER BY t.name) FROM {table} x "
            f"JOIN tags t ON t.id = x.tag_id WHERE t.property_id = ? GROUP BY x.{column}",
            [prop.id],
        ).fetchall()
        return {int(t): [str(n) for n in names] for t, names in rows}
    value = properties.VALUE_COLUMN[prop.type]
    rows = con.execute(
        f"SELECT target_id, {value} FROM property_values WHERE property_id = ? "
        f"AND {value} IS NOT NULL",
        [prop.id],
    ).fetchall()
    return {int(t): v for t, v in rows}


def panoptic_cell(prop: Property, value: Value, raw: bool) -> str:
    """A value as Panoptic reads it. A false checkbox is an empty cell: Panoptic reads any
    text in a checkbox cell as checked."""
    if value is None or value is False:
        return ""
    text = properties.format_value(prop.type, value)
    if prop.type == "number" and "e" in text:
        # Panoptic 1.0 reads a number with int() unless it holds a '.': 1e-05 and 1e+20 fail
        # there (tests/test_h14env_csv_to_panoptic.py); the same digits, positional, do not.
        return np.format_float_positional(float(text), trim="0")
    return text if raw or prop.type not in QUOTED_TYPES else quote(text)


def _header_line(cells: list[str]) -> str:
    """The header row. Panoptic 1.0 reads it with polars, which keeps a quoted name's doubled
    quotes (a name ``say "hi"`` written ``"say ""hi""[text]"`` comes back ``say ""hi""``); a
    name holding a quote is therefore written unquoted where the CSV allows it (no ``;``, no
    line break, not first), which Python's csv reads the same."""
    written = []
    for cell in cells:
        if '"' in cell and not cell.startswith('"') and not any(c in cell for c in ";\r\n"):
            written.append(cell)
            continue
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=";", lineterminator="").writerow([cell])
        written.append(buffer.getvalue())
    return ";".join(written) + "\n"


def _written_path(stored: str, raw_path: bytes | None) -> str:
    """A file's path in a CSV: the real one when it is UTF-8 text (a backslash in a name
    stays one), else the stored form, escaped (a UTF-8 CSV cannot carry other bytes); import
    reads both (_match_paths)."""
    real = store.os_path(stored, raw_path)
    try:
        real.encode("utf-8")
    except UnicodeEncodeError:
        return stored
    return real


def write_panoptic(
    con: duckdb.DuckDBPyConnection,
    target: str,
    force: bool = False,
    raw: bool = False,
    image_ids: Collection[int] | None = None,
) -> int:
    """Write Panoptic's CSV of the project's present files (or of ``image_ids``' files): path
    first, then every property; returns the number of rows."""
    from panoptui.core.export import check_target, write_beside

    path = check_target(target, (".csv",), force, "Panoptic's CSV")
    props = properties.list_properties(con)
    values = [_all_values(con, p) for p in props]
    files = con.execute(
        "SELECT f.id, f.image_id, f.path, f.raw_path FROM files f WHERE f.state = 'ok' "
        "ORDER BY f.path"
    ).fetchall()
    chosen = None if image_ids is None else set(int(i) for i in image_ids)
    rows = 0

    def write(partial: Path) -> None:
        nonlocal rows
        with open(partial, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter=";", lineterminator="\n")
            handle.write(_header_line(["path", *(panoptic_header(p) for p in props)]))
            for file_id, image_id, file_path, raw_path in files:
                if chosen is not None and int(image_id) not in chosen:
                    continue
                cells = [_written_path(file_path, raw_path)]
                for prop, by_target in zip(props, values, strict=True):
                    owner = int(image_id) if prop.mode == "image" else int(file_id)
                    cells.append(panoptic_cell(prop, by_target.get(owner), raw))
                writer.writerow(cells)
                rows += 1

    try:
        write_beside(path, write)
    except OSError as exc:
        reason = exc.strerror or exc
        raise store.ProjectError(f"cannot export to {shown(target)}: {reason}") from None
    return rows
