"""Issue 13: property values from CSV in Panoptic's format (core/csv_io.py, `panoptui properties
import`) and out of it (`panoptui export --format panoptic`), and every property as its own
export column.

Most tests run on a made-up project: rows in ``folders``, ``images`` and ``files`` without
image files (the CSV import reads only the store), so 10,000 images cost a second."""

from __future__ import annotations

import csv
import random
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import run_cli

from panoptui.core import csv_io, export, properties, store

FOLDER = "/corpus/photos"
LATIN = "café/été.jpg"  # a path with accents, the last image's


def fake_project(root: Path, n: int) -> Path:
    """A project of ``n`` images, one file each (``d<k>/img_<i>.jpg`` below FOLDER), then one
    image more at FOLDER/LATIN, whose file has a second copy below /corpus/other."""
    project = root / "project"
    con = store.open_project(project, create=True)
    try:
        con.execute("INSERT INTO folders (id, path) VALUES (1, ?), (2, '/corpus/other')", [FOLDER])
        con.execute(
            "INSERT INTO images BY NAME SELECT range + 1 AS id, 'h' || range AS content_hash, "
            "100 AS size, 'JPEG' AS format, 10 AS width, 10 AS height, 'RGB' AS mode, "
            "1 AS orientation, 1 AS frames, range::UBIGINT AS phash, 'ok' AS state, "
            "now() AS imported_at FROM range(?)",
            [n + 1],
        )
        con.execute(
            "INSERT INTO files BY NAME SELECT range + 1 AS id, ? || '/' || name AS path, "
            "1 AS folder_id, name AS rel_path, 100 AS size, 0 AS mtime_ns, "
            "range + 1 AS image_id, 'ok' AS state, now() AS seen_at FROM "
            "(SELECT range, 'd' || (range % 10) || '/img_' || range || '.jpg' AS name "
            "FROM range(?))",
            [FOLDER, n],
        )
        con.execute(
            "INSERT INTO files BY NAME SELECT * FROM (VALUES "
            "(?, ?, 1, ?, 100, 0, ?, 'ok', now()), (?, ?, 2, ?, 100, 0, ?, 'ok', now())) "
            "t(id, path, folder_id, rel_path, size, mtime_ns, image_id, state, seen_at)",
            [n + 1, f"{FOLDER}/{LATIN}", LATIN, n + 1,
             n + 2, f"/corpus/other/{LATIN}", LATIN, n + 1],
        )  # fmt: skip
    finally:
        con.close()
    return project


def path_of(i: int) -> str:
    """The absolute path of image i + 1 (0-based i) of fake_project."""
    return f"{FOLDER}/d{i % 10}/img_{i}.jpg"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return fake_project(tmp_path, 50)


def write(tmp_path: Path, text: str, name: str = "in.csv", encoding: str = "utf-8") -> Path:
    target = tmp_path / name
    target.write_bytes(text.encode(encoding))
    return target


def values(project: Path, name: str, mode: str = "image") -> dict[int, object]:
    con = store.open_project(project, read_only=True)
    try:
        prop = properties.get_property(con, name)
        table = "images" if prop.mode == "image" else "files"
        targets = [int(i) for (i,) in con.execute(f"SELECT id FROM {table}").fetchall()]
        return dict(properties.values_of(con, prop, targets))
    finally:
        con.close()


def run_import(project: Path, file: Path, strict: bool = False, mode: str = "image"):
    con = store.open_project(project)
    try:
        return csv_io.import_csv(con, file, strict=strict, mode=mode)
    finally:
        con.close()


def plan(project: Path, file: Path) -> csv_io.ImportPlan:
    con = store.open_project(project, read_only=True)
    try:
        return csv_io.plan_import(con, file)
    finally:
        con.close()


# --- the round trip -----------------------------------------------------------------------------

TYPES = ["text", "url", "number", "date", "checkbox", "tag", "multi_tags"]


def random_value(rng: random.Random, type_: str) -> str:
    if type_ == "text":
        # The delimiter, quotes, a line break, a formula's first character, accents.
        return rng.choice(["plain", "a;b", 'say "hi"', "two\nlines", "=SUM(A1)", "-x", "été",
                           "'=already quoted", "  spaced"])  # fmt: skip
    if type_ == "url":
        return f"https://example.org/{rng.randrange(1000)}?a=1&b=2"
    if type_ == "number":
        return rng.choice(["-3.25", "0", "1e6", "42", "1990"])
    if type_ == "date":
        return rng.choice(["1990-05-17", "2001-12-31T10:20:30", "17/05/1991"])
    if type_ == "checkbox":
        return rng.choice(["true", "false"])
    if type_ == "tag":
        return rng.choice(["protest", "police", "crowd", "-minus"])
    return ",".join(rng.sample(["a", "b", "c", "d", "é"], rng.randrange(1, 4)))


def test_round_trip_of_every_type_through_panoptics_format(tmp_path):
    rng = random.Random(13)
    first = fake_project(tmp_path / "first", 200)
    second = fake_project(tmp_path / "second", 200)
    header = ["path", *(f"p_{t}[{t}]" for t in TYPES), "tags[multi_tags]"]
    lines = [header]
    for i in range(200):
        cells = [path_of(i)]
        for type_ in TYPES:
            cells.append(random_value(rng, type_) if rng.random() < 0.8 else "")
        cells.append("x,y" if i % 3 == 0 else "")
        lines.append(cells)
    source = tmp_path / "generated.csv"
    with open(source, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=";").writerows(lines)

    plan_, result = run_import(first, source)
    assert plan_.problems == [] and result.rows == 200
    exported = tmp_path / "panoptic.csv"
    con = store.open_project(first, read_only=True)
    try:
        assert export.export(con, str(exported), panoptic=True) == 202  # every file
    finally:
        con.close()
    with open(exported, newline="", encoding="utf-8") as handle:
        written = list(csv.reader(handle, delimiter=";"))
    assert written[0] == ["path", "tags[multi_tags]", *(f"p_{t}[{t}]" for t in TYPES)]
    # Formulas are quoted for spreadsheets, and the reader takes the quote off again.
    assert any(c.startswith("'=SUM") for row in written for c in row)

    _, again = run_import(second, exported)
    assert again.rows == 202
    for name in [*(f"p_{t}" for t in TYPES), "tags"]:
        before, after = values(first, name), values(second, name)
        if name == "p_checkbox":
            # Panoptic reads any text in a checkbox cell as checked: false is written empty,
            # and comes back unset. Everything else comes back exactly.
            assert {k for k, v in before.items() if v} == set(after)
            assert set(after.values()) == {True} and False in before.values()
        else:
            assert before == after and before, name
    # And they are the generated ones, each parsed by its type (a text cell written quoted,
    # "'=x", is read as the writer's "=x").
    for k, type_ in enumerate(TYPES, start=1):
        ours = csv_io.PANOPTIC_TYPES[type_]
        expected = {}
        for i, cells in enumerate(lines[1:]):
            cell = csv_io.unquote(cells[k]) if ours in csv_io.QUOTED_TYPES else cells[k]
            value = properties.parse_value(ours, cell)
            if value is not None:
                expected[i + 1] = sorted(value) if isinstance(value, list) else value
        assert values(first, f"p_{type_}") == expected, type_


# --- many rows, some bad ------------------------------------------------------------------------


def test_ten_thousand_rows_with_37_bad_ones(tmp_path):
    project = fake_project(tmp_path, 10_000)
    rng = random.Random(37)
    bad_rows = set(rng.sample(range(10_000), 37))
    lines = ["path;year[number];taken[date];seen[checkbox];topics[multi_tags]"]
    for i in range(10_000):
        cells = [path_of(i), str(1900 + i % 120), f"{1900 + i % 120}-01-02", "true", "a,b"]
        if i in bad_rows:
            kind = i % 5
            if kind == 0:
                cells[0] = f"{FOLDER}/missing_{i}.jpg"
            elif kind == 1:
                cells[1] = "nineteen"
            elif kind == 2:
                cells[2] = "2001-13-45"
            elif kind == 3:
                cells[3] = "perhaps"
            else:
                cells.append("extra")
        lines.append(";".join(cells))
    source = write(tmp_path, "\n".join(lines) + "\n")

    plan_, result = run_import(project, source)
    bad_lines = sorted(i + 2 for i in bad_rows)  # the header is line 1
    assert [p.line for p in plan_.problems] == bad_lines
    assert result.rows == 10_000 - 37 and result.left_out == 37
    years = values(project, "year")
    assert len(years) == 10_000 - 37
    assert all(i + 1 not in years for i in bad_rows)
    assert years[1] == 1900.0
    listed = csv_io.listed_problems(plan_.problems)
    assert len(listed) == 21 and listed[-1] == "and 17 more"
    assert listed[0].startswith(f"line {bad_lines[0]}: ")


def test_strict_imports_nothing_when_anything_is_bad(project, tmp_path):
    source = write(tmp_path, f"path;year[number]\n{path_of(0)};1990\n{path_of(1)};soon\n")
    with pytest.raises(store.ProjectError, match=r"1 problem in .*nothing imported \(--strict\)"):
        run_import(project, source, strict=True)
    con = store.open_project(project, read_only=True)
    try:
        assert properties.find_property(con, "year") is None  # not even created
    finally:
        con.close()
    _, result = run_import(project, source)
    assert result.rows == 1 and values(project, "year") == {1: 1990.0}


# --- encodings, line ends, delimiters, quoting --------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "bom", "said"),
    [
        ("utf-8", b"", None),
        ("utf-8", b"\xef\xbb\xbf", "read as UTF-8 with a BOM"),
        ("latin-1", b"", "read as Latin-1 (cp1252)"),
        ("utf-16-le", b"\xff\xfe", "read as UTF-16"),
    ],
)
def test_encodings_are_detected_never_mojibake(project, tmp_path, encoding, bom, said):
    text = f"path;source[text]\r\n{FOLDER}/{LATIN};Café de l'été\r\n{path_of(2)};crème\r\n"
    source = tmp_path / "in.csv"
    source.write_bytes(bom + text.encode(encoding))
    plan_, result = run_import(project, source)
    assert plan_.problems == [] and result.rows == 2
    assert (said in plan_.notes) if said else plan_.notes == []
    got = values(project, "source")
    assert got == {51: "Café de l'été", 3: "crème"}  # CRLF: no \r left in a value


def test_comma_or_semicolon_and_quoted_cells(project, tmp_path):
    comma = write(
        tmp_path,
        f'path,topics[multi_tags],note[text]\n{path_of(0)},"a,b","x; y"\n'
        f'{path_of(1)},c,"line one\nline two, with ""quotes"""\n{path_of(2)},d,z\n',
    )
    plan_, _ = run_import(project, comma)
    assert plan_.delimiter == "," and plan_.problems == []
    assert values(project, "topics") == {1: ["a", "b"], 2: ["c"], 3: ["d"]}
    assert values(project, "note")[2] == 'line one\nline two, with "quotes"'

    semicolon = write(
        tmp_path,
        f'path;note[text];n[number]\n{path_of(3)};"a;\nb";1\n{path_of(4)};ok;bad\n',
        "semi.csv",
    )
    plan_, _ = run_import(project, semicolon)
    assert plan_.delimiter == ";"
    # The bad row's line is its own, after a cell that spans two lines.
    assert [(p.line, "'bad' is not a number" in p.message) for p in plan_.problems] == [(4, True)]
    assert values(project, "note")[4] == "a;\nb"


# --- files that cannot be imported at all -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("  \n\n", "is empty"),
        ("path;year[number]\n", "has a header but no rows"),
        ("path;width[number]\nx;1\n", r"column 2 \('width\[number\]'\): 'width' is a built-in"),
        ("path;Date_Taken\nx;1\n", "is a built-in field"),
        ("path;a[text];a[number]\nx;1;2\n", "columns 2 and 3 are both named 'a'"),
        ("file;a[text]\nx;1\n", "the first column must be 'path' or 'id'"),
        ("path\nx\n", "no property columns"),
        ("path;a\0b\n", "not a text file"),
    ],
)
def test_a_file_that_cannot_be_imported_says_why_in_one_line(project, tmp_path, text, message):
    source = write(tmp_path, text)
    with pytest.raises(store.ProjectError, match=message) as caught:
        run_import(project, source)
    assert "\n" not in str(caught.value)


def test_the_cli_says_it_in_one_line_and_changes_nothing(project, tmp_path):
    before = values(project, "tags")
    source = write(tmp_path, "path;tags[multi_tags];width[number]\nx;a;1\n")
    done = run_cli("properties", "import", str(project), str(source))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "is a built-in field" in done.stderr
    empty = write(tmp_path, "", "empty.csv")
    done = run_cli("properties-import", str(project), str(empty))
    assert done.returncode == 1 and done.stderr.strip().endswith("empty.csv is empty")
    assert values(project, "tags") == before


# --- keys, columns, types ------------------------------------------------------------------------


def test_relative_paths_and_ids(project, tmp_path):
    source = write(
        tmp_path,
        "path;n[number]\n"
        "d1/img_1.jpg\t;1\n"  # relative to the project's folder (blanks around are dropped)
        "photos/d2/img_2.jpg;2\n"  # from the folder's own name on, as Panoptic writes it
        f"{LATIN};3\n"  # below two folders, one image: fine
        "../d3/img_3.jpg;4\n"  # never above a folder
        "img_4.jpg;5\n",  # not the end of a path below a folder
    )
    plan_, _ = run_import(project, source)
    assert values(project, "n") == {2: 1.0, 3: 2.0, 51: 3.0}
    assert [p.line for p in plan_.problems] == [5, 6]
    assert "no file at '../d3/img_3.jpg'" in plan_.problems[0].message

    ids = write(tmp_path, "id;m[number]\n1;10\n51;11\n999;12\nnine;13\n", "ids.csv")
    plan_, _ = run_import(project, ids)
    assert values(project, "m") == {1: 10.0, 51: 11.0}
    assert [str(p) for p in plan_.problems] == [
        "line 4: no image 999 in the project", "line 5: id 'nine' is not a number"]  # fmt: skip


def test_file_mode_sets_one_path_and_an_id_sets_every_path(project, tmp_path):
    source = write(tmp_path, f"path;where[text]\n/corpus/other/{LATIN};other copy\n")
    run_import(project, source, mode="file")
    assert values(project, "where") == {52: "other copy"}  # file 52, not file 51
    ids = write(tmp_path, "id;where[text]\n51;both\n", "ids.csv")
    run_import(project, ids)  # an existing property keeps its mode (file)
    assert values(project, "where") == {51: "both", 52: "both"}


def test_types_guessed_unknown_and_mismatched(project, tmp_path):
    con = store.open_project(project)
    properties.create_property(con, "year", "number")
    con.close()
    source = write(
        tmp_path,
        "path;n;d;c;t;year[date];x[colour];p[path];year2\n"
        f"{path_of(0)};1;1990-01-02;true;a;1990;1;/a/b;2000\n"
        f"{path_of(1)};2,5;31/12/1990;False;1;1991;2;/c;\n",
    )
    plan_ = plan(project, source)
    types = {c.name: c.type for c in plan_.columns}
    assert types == {"n": "number", "d": "date", "c": "checkbox", "t": "text", "p": "text",
                     "year2": "number"}  # fmt: skip
    assert "column 'n' has no type: guessed number from its values" in plan_.notes
    assert any("Panoptic's path type has no equivalent; read as text" in n for n in plan_.notes)
    messages = [str(p) for p in plan_.problems]
    assert any("line 1: column 6 ('year[date]'): property 'year' exists as number" in m
               for m in messages)  # fmt: skip
    assert any("line 1: column 7 ('x[colour]'): unknown type 'colour'" in m for m in messages)
    assert [c.name for c in plan_.created] == ["n", "d", "c", "t", "p", "year2"]


def test_dry_run_shows_the_plan_and_changes_nothing(project, tmp_path):
    source = write(tmp_path, f"path;kind[tag];n\n{path_of(0)};photo;1\nnope.jpg;x;2\n")
    done = run_cli("properties", "import", str(project), str(source), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "creates property 'kind' (tag, image)" in done.stdout
    assert "column 'n' has no type: guessed number" in done.stdout
    assert f"  2 | {path_of(0)} | photo | 1" in done.stdout
    assert "line 3: no file at 'nope.jpg' in the project" in done.stderr
    con = store.open_project(project, read_only=True)
    assert properties.find_property(con, "kind") is None
    con.close()
    done = run_cli("properties", "import", str(project), str(source), "--strict")
    assert done.returncode == 1 and "nothing imported (--strict)" in done.stderr
    done = run_cli("properties", "import", str(project), str(source))
    assert done.returncode == 0 and "imported 1 row" in done.stdout
    assert "1 row left out:\n  line 3: no file" in done.stderr


def test_quote_and_unquote_are_inverse():
    for text in ["=x", "'=x", "''=x", "  =x", "'hello", "plain", "-1", "@", "'", "\t=", ""]:
        assert csv_io.unquote(csv_io.quote(text)) == text
        assert not csv_io.quote(text).lstrip(" ").startswith(csv_io.FORMULA_STARTS)


# --- the export: every property its own column --------------------------------------------------


def test_export_has_a_typed_column_per_property(project, tmp_path):
    source = write(
        tmp_path,
        "path;year[number];when[date];ok[checkbox];topics[multi_tags];kind[tag];mode[text]\n"
        f"{path_of(0)};1990;1990-05-17;true;b,a;photo;=evil\n{path_of(1)};2000;;;;;\n",
    )
    run_import(project, source)
    con = store.open_project(project, read_only=True)
    try:
        parquet = tmp_path / "out.parquet"
        assert export.export(con, str(parquet), where="year >= 1995") == 1
        table = pq.read_table(parquet)
        assert table.num_rows == 1 and table.column("year").to_pylist() == [2000.0]
        assert export.export(con, str(parquet), force=True) == 52
        table = pq.read_table(parquet)
        schema = {f.name: str(f.type) for f in table.schema}
        assert schema["year"] == "double" and schema["when"] == "timestamp[us]"
        assert schema["ok"] == "bool" and schema["topics"] == "list<element: string>"
        assert schema["kind"] == "string" and schema["mode"] == "string"
        assert schema["mode (property)"] == "string"  # "mode" is the colour mode's column
        first = next(r for r in table.to_pylist() if r["path"] == path_of(0))
        assert first["topics"] == ["a", "b"] and first["when"] == datetime(1990, 5, 17)
        assert first["mode (property)"] == "=evil"  # Parquet keeps exact values
        text = tmp_path / "out.csv"
        export.export(con, str(text))
        with open(text, newline="") as handle:
            row = next(r for r in csv.DictReader(handle) if r["path"] == path_of(0))
        assert row["topics"] == "a; b" and row["mode (property)"] == "'=evil"
    finally:
        con.close()


def test_export_cli_panoptic_format_and_where(project, tmp_path):
    source = write(tmp_path, f"path;year[number]\n{path_of(0)};1990\n{path_of(1)};2000\n")
    run_import(project, source)
    target = tmp_path / "p.csv"
    done = run_cli("export", str(project), str(target), "--format", "panoptic", "--where",
                   "year > 1995")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert target.read_text() == f"path;tags[multi_tags];year[number]\n{path_of(1)};;2000\n"
    done = run_cli("export", str(project), str(tmp_path / "q.csv"), "--where", "yaer > 1")
    assert done.returncode == 1 and "yaer" in done.stderr and done.stderr.count("\n") == 1


def test_one_undo_takes_the_whole_import_back(project, tmp_path):
    from panoptui.core import journal

    con = store.open_project(project)
    try:
        year = properties.create_property(con, "year", "number")
        properties.set_values(con, year, [1], 1800.0)
    finally:
        con.close()
    source = write(
        tmp_path, f"path;year[number];kind[tag]\n{path_of(0)};1990;a\n{path_of(1)};2000;b\n"
    )
    run_import(project, source)
    con = store.open_project(project)
    try:
        assert journal.undo(con) == ["import 'in.csv': 2 rows"]
        assert properties.find_property(con, "kind") is None
        assert properties.values_of(con, year, [1, 2]) == {1: 1800.0}
        journal.redo(con)
        assert properties.values_of(con, year, [1, 2]) == {1: 1990.0, 2: 2000.0}
    finally:
        con.close()
