"""The filter language against a brute-force evaluation in Python on generated data: every
operator of every type, unset values, tags with children, file properties on images with
several files; random and/or/not trees of them; parse errors with their column; injection
attempts that stay literal; sort keys and group-by counts."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from panoptui.core import filters, store

N_IMAGES = 240
FOLDERS = {1: "/data/a", 2: "/data/b"}
SUBDIRS = ["", "sub/", "sub/deep/", "Ünï/"]
FORMATS = ["JPEG", "PNG", "GIF", "WEBP"]
WORDS = ["alpha", "Beta", "gamma", "delta", "o'neil", "x' OR 1=1 --", "Ω", "social", ""]
KEYWORDS = ["sea", "sky", "city", "dog", "Sea"]
# Tags: property -> {name: parent}
TAG_TREE = {
    1: {"animals": None, "cat": "animals", "dog": "animals", "kitten": "cat", "protest": None,
        "police": None},
    8: {"a": None, "b": None},
    9: {"red": None, "blue": None, "darkblue": "blue", "navy": "darkblue"},
}  # fmt: skip
PROPERTIES = [  # id, name, type, mode
    (2, "score", "number", "image"),
    (3, "published", "date", "image"),
    (4, "source", "text", "image"),
    (5, "done", "checkbox", "image"),
    (6, "rating", "number", "file"),
    (7, "note", "text", "file"),
    (8, "kind", "tag", "image"),
    (9, "labels", "multi_tag", "file"),
    (10, "seen", "checkbox", "file"),
    (11, "when", "date", "file"),
    (12, "home", "url", "image"),
]
BASE = datetime(2000, 1, 1)


@dataclass
class File:
    id: int
    path: str
    ok: bool
    values: dict[str, Any] = field(default_factory=dict)  # rating, note, seen, when
    labels: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]

    @property
    def folder(self) -> str:
        return self.path.rsplit("/", 1)[0]


@dataclass
class Image:
    id: int
    ok: bool
    width: int
    height: int
    size: int
    format: str
    meta: dict[str, Any]
    values: dict[str, Any]  # score, published, source, done, home
    tags: set[str]
    kind: set[str]
    files: list[File]

    @property
    def ok_files(self) -> list[File]:
        return [f for f in self.files if f.ok]


def maybe(rng: random.Random, value: Any, unset: float = 0.25) -> Any:
    return None if rng.random() < unset else value


def some_date(rng: random.Random) -> datetime:
    # Few distinct days, some at midnight: whole-day comparisons meet their edges.
    day = BASE + timedelta(days=rng.randrange(0, 12))
    return day if rng.random() < 0.3 else day + timedelta(hours=rng.randrange(0, 24))


def generate(seed: int) -> list[Image]:
    rng = random.Random(seed)
    images = []
    file_id = 1
    for n in range(1, N_IMAGES + 1):
        files = []
        for _ in range(rng.choice([1, 1, 2, 3])):
            folder = rng.choice(list(FOLDERS.values()))
            path = f"{folder}/{rng.choice(SUBDIRS)}{rng.choice(WORDS[:4])}_{file_id}.jpg"
            f = File(file_id, path, rng.random() < 0.9)
            f.values = {
                "rating": maybe(rng, float(rng.randrange(0, 6))),
                "note": maybe(rng, rng.choice(WORDS)),
                "seen": maybe(rng, rng.random() < 0.5),
                "when": maybe(rng, some_date(rng)),
            }
            f.labels = set(rng.sample(sorted(TAG_TREE[9]), rng.randrange(0, 3)))
            files.append(f)
            file_id += 1
        kw = maybe(rng, rng.sample(KEYWORDS, rng.randrange(0, 3)))
        images.append(
            Image(
                id=n,
                ok=rng.random() < 0.93,
                width=rng.randrange(10, 2000),
                height=rng.randrange(10, 2000),
                size=rng.randrange(100, 10**7),
                format=rng.choice(FORMATS),
                meta={
                    "date_taken": maybe(rng, some_date(rng)),
                    "camera_make": maybe(rng, rng.choice(WORDS)),
                    "focal_length": maybe(rng, rng.choice([18.0, 35.0, 50.0, 85.5])),
                    "iso": maybe(rng, rng.choice([100, 200, 400, 3200])),
                    "keywords": kw,
                },
                values={
                    "score": maybe(rng, rng.choice([-1.5, 0.0, 1.0, 2.5, 10.0])),
                    "published": maybe(rng, some_date(rng)),
                    "source": maybe(rng, rng.choice(WORDS)),
                    "done": maybe(rng, rng.random() < 0.5),
                    "home": maybe(rng, rng.choice(["https://a.org/x", "http://b.net"])),
                },
                tags=set(rng.sample(sorted(TAG_TREE[1]), rng.randrange(0, 3))),
                kind=set(rng.sample(["a", "b"], rng.randrange(0, 2))),
                files=files,
            )
        )
    return images


def write_project(path: Path, images: list[Image]) -> duckdb.DuckDBPyConnection:
    """The generated images straight into the v8 tables."""
    con = store.open_project(path, create=True)
    now = datetime.now()
    for fid, folder in FOLDERS.items():
        con.execute("INSERT INTO folders (id, path) VALUES (?, ?)", [fid, folder])
    for pid, name, ptype, mode in PROPERTIES:
        con.execute("INSERT INTO properties VALUES (?, ?, ?, ?, ?)", [pid, name, ptype, mode, now])
    tag_ids: dict[tuple[int, str], int] = {}
    for pid, tree in TAG_TREE.items():
        for name, parent in tree.items():  # parents come first in each tree
            tag_ids[pid, name] = tid = len(tag_ids) + 1
            parent_id = tag_ids[pid, parent] if parent else None
            con.execute(
                "INSERT INTO tags (id, property_id, name, parent_id, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [tid, pid, name, parent_id, now],
            )
    value_column = {"number": 3, "date": 4, "text": 2, "url": 2, "checkbox": 5}
    types = {name: (pid, ptype) for pid, name, ptype, _ in PROPERTIES}

    def put_value(name: str, target: int, value: Any) -> None:
        if value is None:
            return
        pid, ptype = types[name]
        row: list[Any] = [pid, target, None, None, None, None]
        row[value_column[ptype]] = value
        con.execute("INSERT INTO property_values VALUES (?, ?, ?, ?, ?, ?)", row)

    for im in images:
        con.execute(
            "INSERT INTO images (id, content_hash, size, format, width, height, mode, "
            "orientation, frames, phash, state, imported_at, date_taken, camera_make, "
            "focal_length, iso, keywords) VALUES (?, ?, ?, ?, ?, ?, 'RGB', 1, 1, 0, ?, ?, "
            "?, ?, ?, ?, ?)",
            [im.id, f"h{im.id}", im.size, im.format, im.width, im.height,
             "ok" if im.ok else "missing", now, *im.meta.values()],
        )  # fmt: skip
        for name, value in im.values.items():
            put_value(name, im.id, value)
        for tag in im.tags:
            con.execute("INSERT INTO image_tags VALUES (?, ?)", [tag_ids[1, tag], im.id])
        for tag in im.kind:
            con.execute("INSERT INTO image_tags VALUES (?, ?)", [tag_ids[8, tag], im.id])
        for f in im.files:
            folder_id = next(k for k, v in FOLDERS.items() if f.path.startswith(v + "/"))
            con.execute(
                "INSERT INTO files (id, path, folder_id, rel_path, size, mtime_ns, image_id, "
                "state, seen_at) VALUES (?, ?, ?, ?, 1, 0, ?, ?, ?)",
                [f.id, f.path, folder_id, f.path, im.id, "ok" if f.ok else "missing", now],
            )
            for name, value in f.values.items():
                put_value(name, f.id, value)
            for tag in f.labels:
                con.execute("INSERT INTO file_tags VALUES (?, ?)", [tag_ids[9, tag], f.id])
    return con


# --- the brute-force side ----------------------------------------------------------------------

Pred = Callable[[Image], bool]


def under(pid: int, name: str) -> set[str]:
    found = {name}
    while True:
        more = {c for c, p in TAG_TREE[pid].items() if p in found} - found
        if not more:
            return found
        found |= more


def compare(value: Any, op: str, x: Any) -> bool:
    if value is None:
        return False
    return {
        "=": value == x, "!=": value != x, "<": value < x, "<=": value <= x,
        ">": value > x, ">=": value >= x,
    }[op]  # fmt: skip


def compare_day(value: datetime | None, op: str, day: datetime) -> bool:
    """A date without a time: its whole day."""
    if value is None:
        return False
    inside = day <= value < day + timedelta(days=1)
    return {
        "=": inside, "!=": not inside, "<": value < day, "<=": value < day + timedelta(days=1),
        ">": value >= day + timedelta(days=1), ">=": value >= day,
    }[op]  # fmt: skip


def text_test(op: str, x: str) -> Callable[[Any], bool]:
    if op == "contains":
        return lambda v: v is not None and x.lower() in v.lower()
    if op == "startswith":
        return lambda v: v is not None and v.lower().startswith(x.lower())
    if op == "~":
        return lambda v: v is not None and re.search(x, v) is not None
    return lambda v: compare(v, op, x)


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def image_value(name: str) -> Callable[[Image], Any]:
    if name in ("width", "height", "size", "format"):
        return lambda im: getattr(im, name)
    if name in ("date_taken", "camera_make", "focal_length", "iso", "keywords"):
        return lambda im: im.meta[name]
    return lambda im: im.values[name]


def atoms(rng: random.Random) -> list[tuple[str, Pred]]:
    """One (expression, predicate) per operator and type, values drawn at random."""
    out: list[tuple[str, Pred]] = []
    ops = ["=", "!=", "<", "<=", ">", ">="]
    # Numbers: built-ins, metadata, an image property; and a file property (any file).
    for name, choices in [
        ("width", [500, 1000, 1999]), ("size", [5_000_000]), ("focal_length", [35, 50, 85.5]),
        ("iso", [200, 400]), ("score", [-1.5, 0, 1, 2.5]),
    ]:  # fmt: skip
        for op in ops:
            x = rng.choice(choices)
            get = image_value(name)
            out.append((f"{name} {op} {x}", lambda im, g=get, o=op, x=x: compare(g(im), o, x)))
    for op in ops:
        x = float(rng.randrange(0, 6))
        out.append((
            f"rating {op} {x:g}",
            lambda im, o=op, x=x: any(compare(f.values["rating"], o, x) for f in im.ok_files),
        ))  # fmt: skip
    # Dates: whole days and moments; image and file.
    for name in ("date_taken", "published", "when"):
        for op in ops:
            day = BASE + timedelta(days=rng.randrange(0, 12))
            moment = day + timedelta(hours=rng.randrange(0, 24))
            for text, test in [
                (day.date().isoformat(), lambda v, o=op, d=day: compare_day(v, o, d)),
                (moment.isoformat(), lambda v, o=op, m=moment: compare(v, o, m)),
            ]:
                if name == "when":
                    pred = lambda im, t=test: any(t(f.values["when"]) for f in im.ok_files)  # noqa: E731
                else:
                    get = image_value(name)
                    pred = lambda im, t=test, g=get: t(g(im))  # noqa: E731
                out.append((f"{name} {op} {text}", pred))
    # Text: image columns, image property, file built-ins, file property.
    text_ops = [*ops, "contains", "startswith", "~"]
    for name in ("format", "camera_make", "source", "home", "path", "name", "folder", "note"):
        for op in text_ops:
            x = {
                "~": rng.choice(["^a", "[0-9]+\\.jpg$", "(?i)beta", "a.b"]),
                "contains": rng.choice(["ET", "/sub/", "'", "Ω", "a"]),
                "startswith": rng.choice(["/data/a", "ALP", "http://", "x'"]),
            }.get(op, rng.choice([*WORDS, "JPEG", "/data/b/sub", "PNG"]))
            test = text_test(op, x)
            if name in ("path", "name", "folder"):
                pred = lambda im, t=test, n=name: any(t(getattr(f, n)) for f in im.ok_files)  # noqa: E731
            elif name == "note":
                pred = lambda im, t=test: any(t(f.values["note"]) for f in im.ok_files)  # noqa: E731
            else:
                get = image_value(name)
                pred = lambda im, t=test, g=get: t(g(im))  # noqa: E731
            out.append((f"{name} {op} {quoted(x)}", pred))
    # Checkboxes: = false is "not ticked", unset included; a file one: any file.
    for op in ("=", "!="):
        for x in (True, False):
            ticked = (op == "=") == x
            out.append((
                f"done {op} {str(x).upper() if x else 'false'}",
                lambda im, t=ticked: (im.values["done"] is True) == t,
            ))  # fmt: skip
            out.append((
                f"seen {op} {str(x).lower()}",
                lambda im, t=ticked: any((f.values["seen"] is True) == t for f in im.ok_files),
            ))  # fmt: skip
    # is set / is not set on each kind.
    for name in ("score", "published", "source", "done", "date_taken", "camera_make", "home"):
        get = image_value(name)
        out.append((f"{name} is set", lambda im, g=get: g(im) is not None))
        out.append((f"{name} IS NOT SET", lambda im, g=get: g(im) is None))
    for name in ("rating", "note", "seen", "when"):
        out.append((
            f"{name} is set", lambda im, n=name: any(f.values[n] is not None for f in im.ok_files)
        ))  # fmt: skip
        out.append((
            f"{name} is not set", lambda im, n=name: any(f.values[n] is None for f in im.ok_files)
        ))  # fmt: skip
    out.append(("keywords is set", lambda im: bool(im.meta["keywords"])))
    out.append(("keywords is not set", lambda im: not im.meta["keywords"]))
    out.append(("tags is set", lambda im: bool(im.tags)))
    out.append(("tags is not set", lambda im: not im.tags))
    out.append(("kind is set", lambda im: bool(im.kind)))
    out.append(("labels is set", lambda im: any(f.labels for f in im.ok_files)))
    out.append(("labels is not set", lambda im: any(not f.labels for f in im.ok_files)))
    # Tags, children included: an image property, a one-value one, a file one.
    for pid, name, owner in [(1, "tags", "image"), (8, "kind", "image"), (9, "labels", "file")]:
        names = sorted(TAG_TREE[pid])
        for op in ("any", "all", "none"):
            chosen = rng.sample(names, min(2, len(names)))
            wants = [under(pid, c) for c in chosen]

            def test(have: set[str], o: str = op, w: list[set[str]] = wants) -> bool:
                hits = [bool(have & one) for one in w]
                return any(hits) if o == "any" else all(hits) if o == "all" else not any(hits)

            text = f"{name} has {op.upper()} ({', '.join(chosen)})"
            if owner == "file":
                out.append((text, lambda im, t=test: any(t(f.labels) for f in im.ok_files)))
            else:
                attr = "tags" if pid == 1 else "kind"
                out.append((text, lambda im, t=test, a=attr: t(getattr(im, a))))
        one = rng.choice(names)
        if owner == "image":
            attr = "tags" if pid == 1 else "kind"
            w = under(pid, one)
            out.append((f"{name} = {one}", lambda im, a=attr, w=w: bool(getattr(im, a) & w)))
            out.append((f"{name} != {one}", lambda im, a=attr, w=w: not getattr(im, a) & w))
    # keywords: exact words of a list.
    for op in ("any", "all", "none"):
        chosen = rng.sample(KEYWORDS, 2)

        def kw_test(im: Image, o: str = op, c: list[str] = chosen) -> bool:
            have = set(im.meta["keywords"] or [])
            hits = [w in have for w in c]
            return any(hits) if o == "any" else all(hits) if o == "all" else not any(hits)

        out.append((f"keywords has {op} ({', '.join(map(quoted, chosen))})", kw_test))
    return out


def check(con: duckdb.DuckDBPyConnection, images: list[Image], text: str, pred: Pred) -> None:
    got = filters.matching_ids(con, text).tolist()
    want = [im.id for im in images if im.ok and pred(im)]
    assert got == want, text


@pytest.fixture(scope="module")
def corpus(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[duckdb.DuckDBPyConnection, list[Image]]:
    images = generate(13)
    con = write_project(tmp_path_factory.mktemp("filters") / "p", images)
    yield con, images
    con.close()


def test_each_operator_matches_brute_force(corpus: tuple[Any, list[Image]]) -> None:
    con, images = corpus
    found = atoms(random.Random(1))
    assert len(found) > 150
    matched = 0
    for text, pred in found:
        check(con, images, text, pred)
        matched += bool(filters.matching_ids(con, text).size)
    # The data are rich enough that most conditions take some images (the test is not vacuous).
    assert matched > len(found) * 0.7


def test_random_and_or_not_trees_match_brute_force(corpus: tuple[Any, list[Image]]) -> None:
    con, images = corpus
    rng = random.Random(2)
    found = atoms(rng)

    def tree(depth: int) -> tuple[str, Pred]:
        if depth == 0 or rng.random() < 0.3:
            return rng.choice(found)
        kind = rng.choice(["and", "or", "not"])
        if kind == "not":
            text, pred = tree(depth - 1)
            return f"NOT ({text})", lambda im: not pred(im)
        (a, pa), (b, pb) = tree(depth - 1), tree(depth - 1)
        if kind == "and":
            return f"({a}) And ({b})", lambda im: pa(im) and pb(im)
        return f"({a}) oR ({b})", lambda im: pa(im) or pb(im)

    for _ in range(120):
        text, pred = tree(3)
        check(con, images, text, pred)


def test_precedence_and_binds_tighter_than_or(corpus: tuple[Any, list[Image]]) -> None:
    con, images = corpus
    check(
        con, images, "width > 1000 or height > 1000 and not format = PNG",
        lambda im: im.width > 1000 or (im.height > 1000 and im.format != "PNG"),
    )  # fmt: skip
    check(con, images, "not not (format = PNG)", lambda im: im.format == "PNG")


def test_injection_attempts_stay_literal(corpus: tuple[Any, list[Image]]) -> None:
    con, images = corpus
    for text in ["x' OR 1=1 --", "o'neil", "'; DROP TABLE images; --"]:
        check(con, images, f"source = {quoted(text)}", lambda im, t=text: im.values["source"] == t)
        check(con, images, f"name contains {quoted(text)}", lambda im, t=text: any(
            t.lower() in f.name.lower() for f in im.ok_files))  # fmt: skip
    assert filters.matching_ids(con, 'source = "x\' OR 1=1 --"').size == sum(
        im.ok and im.values["source"] == "x' OR 1=1 --" for im in images
    )
    assert con.execute("SELECT count(*) FROM images").fetchone() == (N_IMAGES,)
    condition, params = filters.compile_filter(
        con, 'source = "x\' OR 1=1 --" and tags has any (cat)'
    )
    assert "OR 1=1" not in condition and "cat" not in condition
    assert "x' OR 1=1 --" in params


def test_quoted_escapes(corpus: tuple[Any, list[Image]]) -> None:
    con, _ = corpus
    _, params = filters.compile_filter(con, r'source = "a \"b\" \\ c\n"')
    assert params == ['a "b" \\ c\n']


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("", 1, "empty filter"),
        ("width >", 8, "expected a value"),
        ("width > 10 and", 15, "expected a property name"),
        ("(width > 10", 12, "closing )"),
        ("width > 10)", 11, "expected and, or or the end"),
        ("widht > 10", 1, "did you mean width?"),
        ("scroe is set", 1, "did you mean score?"),
        ("width contains 3", 7, "width is a number"),
        ("width > abc", 9, "width is a number; got 'abc'"),
        ("published >= 1990-13-01", 14, "is a date"),
        ("done = maybe", 8, "give true or false"),
        ('source = "open', 10, "closing quote"),
        (r'source = "a\q"', 12, "unknown escape"),
        ('source ~ "("', 10, "not a regular expression"),
        ("tags has any (cat, lion)", 20, "tags has no tag 'lion'"),
        ("tags has some (cat)", 10, "expected any, all or none"),
        ("source is unset", 11, "expected set"),
        ("width ! 3", 7, "unexpected '!'"),
        ("keywords = sea", 10, "keywords is a list of words"),
        ("tags contains cat", 6, "tags is a tag property"),
        ("and = 3", 1, "expected a property name"),
        ("source", 7, "expected an operator"),
    ],
)
def test_errors_name_their_column(
    corpus: tuple[Any, list[Image]], text: str, column: int, words: str
) -> None:
    con, _ = corpus
    with pytest.raises(filters.FilterError) as caught:
        filters.compile_filter(con, text)
    error = caught.value
    assert error.column == column, str(error)
    assert words in str(error)
    assert str(error).startswith(f"filter error at column {column}: ")
    assert "\n" not in str(error)
    assert error.pointer(text).splitlines()[1] == " " * (column - 1) + "^"
    assert isinstance(error, store.ProjectError)  # the CLI's one line and exit 1


def test_quoted_property_names_and_any_case(corpus: tuple[Any, list[Image]]) -> None:
    con, images = corpus
    check(con, images, '"score" > 0 AND Width >= 1', lambda im: compare(im.values["score"], ">", 0))


def sort_key(value: Any, descending: bool) -> tuple[int, Any]:
    return (value is None, value if not descending or value is None else _neg(value))


def _neg(value: Any) -> Any:
    if isinstance(value, datetime):
        return -(value - BASE).total_seconds()
    if isinstance(value, str):
        return [-ord(c) for c in value] + [1]  # longer after shorter in reverse too
    return -value


def test_sort_keys_nulls_last_then_id(corpus: tuple[Any, list[Image]]) -> None:
    con, images = corpus
    ok = [im for im in images if im.ok]
    got = filters.select_ids(con, None, "published,-score")
    want = sorted(
        ok,
        key=lambda im: (
            sort_key(im.values["published"], False), sort_key(im.values["score"], True), im.id
        ),
    )  # fmt: skip
    assert got == [im.id for im in want]
    got = filters.select_ids(con, "width > 300", "-date_taken", limit=25)
    want = sorted(
        (im for im in ok if im.width > 300),
        key=lambda im: (sort_key(im.meta["date_taken"], True), im.id),
    )[:25]
    assert got == [im.id for im in want]


def test_sort_errors(corpus: tuple[Any, list[Image]]) -> None:
    con, _ = corpus
    with pytest.raises(filters.FilterError, match="column 8: no property named 'widht'"):
        filters.parse_sort(con, "score,-widht")
    with pytest.raises(filters.FilterError, match="an empty sort key"):
        filters.parse_sort(con, "score,,width")


def test_group_by_counts(corpus: tuple[Any, list[Image]]) -> None:
    con, images = corpus
    ok = [im for im in images if im.ok]

    def counted(values: list[Any]) -> list[tuple[Any, int]]:
        found = Counter(values)
        return sorted(found.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))

    got = filters.group_counts(con, "published:month")
    assert got == counted(
        [im.values["published"].strftime("%Y-%m") if im.values["published"] else None for im in ok]
    )
    got = filters.group_counts(con, "date_taken:day", "format = JPEG")
    assert got == counted(
        [
            im.meta["date_taken"].strftime("%Y-%m-%d") if im.meta["date_taken"] else None
            for im in ok
            if im.format == "JPEG"
        ]
    )
    got = filters.group_counts(con, "source")
    assert got == counted([im.values["source"] for im in ok])
    # An image counts under each of its tags; untagged ones under None.
    got = filters.group_counts(con, "tags")
    assert got == counted([t for im in ok for t in (sorted(im.tags) or [None])])
    assert sum(n for _, n in filters.group_counts(con, "format")) == len(ok)
    with pytest.raises(filters.FilterError, match="year, month or day"):
        filters.group_counts(con, "published:week")
    with pytest.raises(filters.FilterError, match="only dates take"):
        filters.group_counts(con, "width:year")


def test_list_images_has_one_key_per_name(corpus: tuple[Any, list[Image]]) -> None:
    con, images = corpus
    rows = filters.list_images(con, "tags has any (animals)", "-width", limit=10)
    by_id = {im.id: im for im in images}
    assert rows and len(rows) <= 10
    assert [r["width"] for r in rows] == sorted((r["width"] for r in rows), reverse=True)
    names = {*filters.BUILT_INS, *store.METADATA_COLUMNS, *(p[1] for p in PROPERTIES), "tags"}
    for row in rows:
        im = by_id[row["id"]]
        assert set(row) == names | {"id"}
        assert row["path"] == min(im.ok_files, key=lambda f: f.id).path
        assert sorted(row["tags"]) == row["tags"] == sorted(im.tags)
        assert row["tags"] and im.tags & under(1, "animals")
        assert row["kind"] == (next(iter(im.kind)) if im.kind else None)
        assert row["score"] == im.values["score"]
        assert row["published"] == im.values["published"]
        rated = [f.values["rating"] for f in im.ok_files if f.values["rating"] is not None]
        assert row["rating"] == (rated[0] if rated else None)


def test_names_with_blanks_and_date_times_with_a_space(tmp_path: Path) -> None:
    con = write_project(tmp_path / "p", generate(5)[:20])
    now = datetime.now()
    con.execute("INSERT INTO properties VALUES (20, 'my score', 'number', 'image', ?)", [now])
    con.execute("INSERT INTO property_values VALUES (20, 3, NULL, 2.0, NULL, NULL)")
    con.execute("INSERT INTO property_values VALUES (20, 4, NULL, 1.0, NULL, NULL)")
    ok = {r[0] for r in con.execute("SELECT id FROM images WHERE state = 'ok'").fetchall()}
    assert filters.matching_ids(con, '"my score" >= 2').tolist() == sorted({3} & ok)
    assert filters.matching_ids(con, '"my score" is not set').tolist() == sorted(ok - {3, 4})
    with pytest.raises(filters.FilterError, match="column 4: .* found 'score' .*double quotes"):
        filters.compile_filter(con, "my score >= 2")
    con.execute("UPDATE images SET date_taken = TIMESTAMP '2001-02-03 10:30:00'")
    for text, taken in [
        ('date_taken = "2001-02-03 10:30"', True),
        ("date_taken = 2001-02-03T10:30:00", True),
        ("date_taken > 2001-02-03T10:30:00.000001", False),
        ("date_taken < 2001-02-03", False),
        ("date_taken <= 2001-02-03", True),
    ]:
        assert filters.matching_ids(con, text).tolist() == (sorted(ok) if taken else []), text
    con.close()


def test_scope_intersects_the_filter_with_folder_and_group(
    corpus: tuple[Any, list[Image]],
) -> None:
    from panoptui.core import query

    con, images = corpus
    within = query.scope(con, None, "animals", "width > 500")
    assert within is not None
    want = [im.id for im in images if im.ok and im.width > 500 and im.tags & under(1, "animals")]
    assert within.tolist() == want
    within = query.scope(con, "/data/b", None, "format = PNG")
    assert within is not None
    assert within.tolist() == [
        im.id
        for im in images
        if im.ok and im.format == "PNG" and any(f.path.startswith("/data/b/") for f in im.ok_files)
    ]
    assert query.scope(con, None, None, None) is None
    with pytest.raises(store.ProjectError, match="no images match the filter 'width < 0'"):
        query.scope(con, None, None, "width < 0")
