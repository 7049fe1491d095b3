"""The filter language (``--where``, the filter bar), sort keys and group-by, over ``images AS i``.

An expression is tokenized, parsed (recursive descent) into a small tree, then compiled into
one SQL condition on ``images AS i`` with its parameters: user text only ever travels as a
parameter; the SQL holds nothing but keywords, column names, property ids and tag-id lists
that this module made itself.

    published >= 1990-01-01 and (source != "social" or not tags has any (protest, march))

What must hold (the tests check each operator against a brute-force evaluation in Python):

- A comparison is false where the value is not set; ``not`` is its exact complement (every
  condition is two-valued, never SQL's NULL).
- A date without a time stands for its whole day: ``= 1990-01-01`` is any time that day,
  ``> 1990-01-01`` from the next day on, ``<= 1990-01-01`` up to that day's end.
- ``contains`` and ``startswith`` ignore case; ``~`` is a regular expression (RE2, DuckDB's),
  case-sensitive unless it says ``(?i)``; ``=`` and ``<`` compare text exactly.
- A checkbox ``= false`` is every image whose box is not ticked (unset included).
- Names that belong to a file (``path``, ``name``, ``folder``, and properties of mode file):
  an image matches when any of its present files does.
- ``path``, ``name`` and ``folder`` take the real text of a path (a backslash in a file name is
  one backslash, written ``"a\\\\b"`` in quotes); ``~`` alone sees the stored form
  (store.stored_path: a backslash doubled, an undecodable byte as ``\\xNN``).
- ``missing`` (a checkbox every image has): ticked for an image whose files are all gone from
  disk, kept on record with its values, thumbnail and vectors. A filter that names it is
  evaluated among present and missing images (``missing = true``: the missing ones); every
  other filter, and every view without one, among present images only. A missing image's
  files are its recorded paths (``path``, ``name``, ``folder`` and file properties see them).
- Tag properties: ``has any / all / none (a, b)`` count a tag's children as the tag
  (``tags has any (animals)`` takes an image tagged ``cat`` under ``animals``); ``= a`` is
  ``has any (a)``, ``!= a`` is ``has none (a)``. ``keywords`` (a list read from the files) takes
  ``has`` too, on its exact words.

The value of a name for one image (sort, group-by, the ``images`` listing): its column; for a
property of mode image its value; of mode file, the value of its first file (by id) that has
one; for a tag property, its tags (listed; sorted and grouped by name). ``path``, ``name`` and
``folder`` are listed and grouped as on disk (real_text), sorted by their stored form.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import numpy as np

from panoptui.core import store

KEYWORDS = frozenset(
    ["and", "or", "not", "contains", "startswith", "is", "set", "has", "any", "all", "none"]
)
COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
GROUP_PARTS = ("year", "month", "day")
PART_FORMAT = {"year": "%Y", "month": "%Y-%m", "day": "%Y-%m-%d"}


class FilterError(store.ProjectError):
    """A bad expression: ``str`` is one line, ``filter error at column N: ...`` (N from 1);
    ``sort error ...`` and ``group-by error ...`` for the other two."""

    def __init__(self, message: str, column: int, part: str = "filter") -> None:
        self.message = message
        self.column = column
        super().__init__(f"{part} error at column {column}: {message}")

    def pointer(self, expression: str) -> str:
        """Two lines: the expression, and a caret under the column (for a terminal)."""
        return f"{expression}\n{' ' * (self.column - 1)}^"


# --- tokens ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # word | string | op | ( | ) | , | end
    text: str  # a word or operator as written; a string's value, escapes undone
    column: int  # 1-based

    def keyword(self, *words: str) -> bool:
        return self.kind == "word" and self.text.lower() in words


ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
# A bare word: anything up to a blank, a bracket, a comma, a quote or an operator character.
WORD = re.compile(r'[^\s(),"=!<>~]+')
OPERATOR = re.compile(r"!=|<=|>=|=|<|>|~")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    n = 0
    while n < len(text):
        c = text[n]
        if c.isspace():
            n += 1
        elif c in "(),":
            tokens.append(Token(c, c, n + 1))
            n += 1
        elif c == '"':
            start, n, chars = n, n + 1, []
            while True:
                if n >= len(text):
                    raise FilterError("a quoted text without its closing quote", start + 1)
                if text[n] == '"':
                    n += 1
                    break
                if text[n] == "\\":
                    if n + 1 >= len(text) or text[n + 1] not in ESCAPES:
                        raise FilterError('unknown escape: use \\" \\\\ \\n or \\t', n + 1)
                    chars.append(ESCAPES[text[n + 1]])
                    n += 2
                    continue
                chars.append(text[n])
                n += 1
            tokens.append(Token("string", "".join(chars), start + 1))
        elif match := OPERATOR.match(text, n):
            tokens.append(Token("op", match.group(), n + 1))
            n = match.end()
        elif match := WORD.match(text, n):
            tokens.append(Token("word", match.group(), n + 1))
            n = match.end()
        else:  # a lone "!"
            raise FilterError(f"unexpected {c!r}", n + 1)
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


# --- the tree ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    name: Token  # the property, as written
    op: str  # = != < <= > >= contains startswith ~ set notset any all none
    op_column: int
    values: tuple[Token, ...]


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class Both:  # and
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Either:  # or
    items: tuple[Node, ...]


type Node = Condition | Not | Both | Either


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.n = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.n]

    def take(self) -> Token:
        token = self.tokens[self.n]
        self.n += 1
        return token

    def expect(self, kind: str, what: str) -> Token:
        if self.token.kind != kind:
            raise FilterError(f"expected {what}, found {self._found()}", self.token.column)
        return self.take()

    def _found(self) -> str:
        token = self.token
        if token.kind == "end":
            return "the end"
        return repr(token.text) if token.kind != "string" else f'"{token.text}"'

    def parse(self) -> Node:
        if self.token.kind == "end":
            raise FilterError("empty filter: give a condition, like width > 1000", 1)
        node = self.either()
        if self.token.kind != "end":
            raise FilterError(
                f"expected and, or or the end, found {self._found()}", self.token.column
            )
        return node

    def either(self) -> Node:
        items = [self.both()]
        while self.token.keyword("or"):
            self.take()
            items.append(self.both())
        return items[0] if len(items) == 1 else Either(tuple(items))

    def both(self) -> Node:
        items = [self.negation()]
        while self.token.keyword("and"):
            self.take()
            items.append(self.negation())
        return items[0] if len(items) == 1 else Both(tuple(items))

    def negation(self) -> Node:
        if self.token.keyword("not"):
            self.take()
            return Not(self.negation())
        if self.token.kind == "(":
            self.take()
            node = self.either()
            self.expect(")", "a closing )")
            return node
        return self.condition()

    def condition(self) -> Condition:
        name = self.token
        if name.kind not in ("word", "string") or (
            name.kind == "word" and name.text.lower() in KEYWORDS
        ):
            raise FilterError(f"expected a property name, found {self._found()}", name.column)
        self.take()
        token = self.token
        if token.kind == "op":
            self.take()
            return Condition(name, token.text, token.column, (self.value(),))
        if token.keyword("contains", "startswith"):
            self.take()
            return Condition(name, token.text.lower(), token.column, (self.value(),))
        if token.keyword("is"):
            self.take()
            op = "set"
            if self.token.keyword("not"):
                self.take()
                op = "notset"
            if not self.token.keyword("set"):
                raise FilterError(f"expected set, found {self._found()}", self.token.column)
            self.take()
            return Condition(name, op, token.column, ())
        if token.keyword("has"):
            self.take()
            if not self.token.keyword("any", "all", "none"):
                raise FilterError(
                    f"expected any, all or none after has, found {self._found()}",
                    self.token.column,
                )
            op = self.take().text.lower()
            self.expect("(", "( and a list of values")
            values = [self.value()]
            while self.token.kind == ",":
                self.take()
                values.append(self.value())
            self.expect(")", ", or a closing )")
            return Condition(name, op, token.column, tuple(values))
        blanks = " (a name with blanks goes in double quotes)" if token.kind == "word" else ""
        raise FilterError(
            "expected an operator (= != < <= > >= contains startswith ~ is has), "
            f"found {self._found()}{blanks}",
            token.column,
        )

    def value(self) -> Token:
        if self.token.kind not in ("word", "string"):
            raise FilterError(f"expected a value, found {self._found()}", self.token.column)
        return self.take()


def parse(text: str) -> Node:
    """The tree of an expression, or FilterError."""
    return _Parser(text).parse()


# --- names -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A name a filter, a sort or a group-by can use."""

    name: str
    type: str  # number | date | text | checkbox | tags | list
    source: str  # image (a column of images) | file (of files) | property
    column: str = ""  # the SQL expression on i (image) or f (file) for a built-in one
    property_id: int = 0
    mode: str = "image"  # of a property: image | file
    # A tag property of one value ("tag") lists as one name, not a list.
    single: bool = False


# A stored path (store.stored_path) splits at forward slashes only: DuckDB's separator '/' (or
# none) also splits at a backslash, which on Linux is a character of a file name.
FILE_COLUMNS = {
    "path": "f.path",
    "name": "parse_filename(f.path, false, 'forward_slash')",
    "folder": "parse_dirpath(f.path, 'forward_slash')",
}
_STORED_ESCAPE = re.compile(rb"\\(\\|x[0-9a-f]{2})")


def real_text(stored: str) -> str:
    """The operating system's text of a stored path, or of its name or folder (the inverse
    of store.stored_path's text): a doubled backslash is one, ``\\xNN`` the byte NN (a
    surrogate escape, as Python gives a name that is not UTF-8). A stored text without a
    backslash is the path itself."""
    if "\\" not in stored:
        return stored
    raw = _STORED_ESCAPE.sub(
        lambda m: b"\\" if m.group(1) == b"\\" else bytes([int(m.group(1)[1:], 16)]),
        stored.encode("utf-8"),
    )
    return os.fsdecode(raw)


BUILT_INS = {
    "folder": Field("folder", "text", "file", FILE_COLUMNS["folder"]),
    "path": Field("path", "text", "file", FILE_COLUMNS["path"]),
    "name": Field("name", "text", "file", FILE_COLUMNS["name"]),
    "id": Field("id", "number", "image", "i.id"),
    "format": Field("format", "text", "image", "i.format"),
    "width": Field("width", "number", "image", "i.width"),
    "height": Field("height", "number", "image", "i.height"),
    "size": Field("size", "number", "image", "i.size"),
    # Ticked for an image no file holds any more (store.IMAGE_MISSING): see the docstring.
    "missing": Field("missing", "checkbox", "image", f"(i.state = '{store.IMAGE_MISSING}')"),
}
MISSING = "missing"
# The images a filter is evaluated among: present ones, or, when it names ``missing``, present
# and missing ones (stale images, whose path now holds other bytes, never).
PRESENT_IMAGES = f"i.state = '{store.IMAGE_OK}'"
PRESENT_OR_MISSING_IMAGES = f"i.state IN ('{store.IMAGE_OK}', '{store.IMAGE_MISSING}')"
# The files ``f`` that stand for an image: its present ones; with missing images in the scope,
# also the recorded files of a missing image (all of its files are missing: none is present).
PRESENT_FILES = f"f.state = '{store.FILE_OK}'"
RECORDED_FILES = (
    f"(f.state = '{store.FILE_OK}' OR (f.state = '{store.FILE_MISSING}' AND f.image_id IN "
    f"(SELECT id FROM images WHERE state = '{store.IMAGE_MISSING}')))"
)
SQL_TYPES = {"TIMESTAMP": "date", "VARCHAR": "text", "DOUBLE": "number", "INTEGER": "number"}
PROPERTY_TYPES = {
    "text": "text",
    "url": "text",
    "number": "number",
    "date": "date",
    "checkbox": "checkbox",
    "tag": "tags",
    "multi_tag": "tags",
}
VALUE_COLUMN = {"text": "text", "number": "number", "date": "date", "checkbox": "flag"}


def fields(con: duckdb.DuckDBPyConnection) -> dict[str, Field]:
    """Every name, built-ins first (a property cannot take one of their names)."""
    found = dict(BUILT_INS)
    for column, sql_type in store.METADATA_COLUMNS.items():
        kind = "list" if sql_type.endswith("[]") else SQL_TYPES[sql_type]
        found[column] = Field(column, kind, "image", f"i.{column}")
    for pid, name, ptype, mode in con.execute(
        "SELECT id, name, type, mode FROM properties ORDER BY id"
    ).fetchall():
        if name not in found and ptype in PROPERTY_TYPES:
            found[name] = Field(
                name, PROPERTY_TYPES[ptype], "property", property_id=int(pid), mode=mode,
                single=ptype == "tag",
            )  # fmt: skip
    return found


def _field(known: dict[str, Field], name: str, column: int, part: str = "filter") -> Field:
    if name in known:
        return known[name]
    folded = {k.casefold(): v for k, v in known.items()}
    if name.casefold() in folded:
        return folded[name.casefold()]
    near = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {near[0]}?" if near else ""
    raise FilterError(f"no property named {name!r}{hint}", column, part)


# --- compiling ---------------------------------------------------------------------------------

OPERATORS = {
    "number": (*COMPARISONS, "set", "notset"),
    "date": (*COMPARISONS, "set", "notset"),
    "text": (*COMPARISONS, "contains", "startswith", "~", "set", "notset"),
    "checkbox": ("=", "!=", "set", "notset"),
    "tags": ("=", "!=", "any", "all", "none", "set", "notset"),
    "list": ("any", "all", "none", "set", "notset"),
}
SPELLED = {"set": "is set", "notset": "is not set", "any": "has any", "all": "has all",
           "none": "has none"}  # fmt: skip
DATE_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")


def _number(token: Token, field: Field) -> float:
    try:
        value = float(token.text)
    except ValueError:
        value = float("nan")
    if value != value or value in (float("inf"), float("-inf")):
        raise FilterError(f"{field.name} is a number; got {token.text!r}", token.column)
    return value


def _date(token: Token, field: Field) -> tuple[datetime, bool]:
    """The moment a value names, and whether it is a whole day (no time given)."""
    text = token.text.strip()
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time()), True
    except ValueError:
        pass
    for form in DATE_FORMATS:
        try:
            return datetime.strptime(text.replace(" ", "T", 1), form), False
        except ValueError:
            continue
    raise FilterError(
        f"{field.name} is a date: give it as 1990-01-31 or 1990-01-31T14:30; got {token.text!r}",
        token.column,
    )


def _flag(token: Token, field: Field) -> bool:
    """A checkbox value, in the words `panoptui set` and a CSV take (true, yes, 1, x...)."""
    from panoptui.core.properties import parse_value

    try:
        value = parse_value("checkbox", token.text)
    except ValueError:
        value = None
    if isinstance(value, bool):
        return value
    raise FilterError(f"{field.name} is a checkbox: give true or false; got {token.text!r}",
                      token.column)  # fmt: skip


class _Compiler:
    def __init__(
        self, con: duckdb.DuckDBPyConnection, known: dict[str, Field], files: str = PRESENT_FILES
    ) -> None:
        self.con = con
        self.known = known
        self.params: list[Any] = []
        self.files = files  # PRESENT_FILES or RECORDED_FILES

    def node(self, node: Node) -> str:
        if isinstance(node, Not):
            return f"NOT ({self.node(node.item)})"
        if isinstance(node, Both):
            return " AND ".join(f"({self.node(n)})" for n in node.items)
        if isinstance(node, Either):
            return " OR ".join(f"({self.node(n)})" for n in node.items)
        return self.condition(node)

    def condition(self, cond: Condition) -> str:
        field = _field(self.known, cond.name.text, cond.name.column)
        if cond.op not in OPERATORS[field.type]:
            allowed = " ".join(SPELLED.get(op, op) for op in OPERATORS[field.type])
            raise FilterError(
                f"{field.name} is {_kind(field)}: {SPELLED.get(cond.op, cond.op)} does not "
                f"apply (use {allowed})",
                cond.op_column,
            )
        if field.type == "tags":
            return self.tags(field, cond)
        if field.source == "image":
            if field.type == "list":
                return self.listed(field, cond)
            return f"COALESCE({self.value_test(field, field.column, cond)}, false)"
        if field.source == "file":
            test = self.value_test(field, field.column, cond)
            return f"i.id IN (SELECT f.image_id FROM files f WHERE {self.files} AND {test})"
        # A property: the targets (images or files) whose value passes, or the complement.
        column = f"v.{VALUE_COLUMN[field.type]}"
        negate = False
        if cond.op == "notset":
            negate, cond = True, Condition(cond.name, "set", cond.op_column, ())
        elif cond.op in ("=", "!=") and field.type == "checkbox":
            if _flag(cond.values[0], field) != (cond.op == "="):
                negate = True  # = false, != true: not ticked (unset included)
            cond = Condition(cond.name, "=", cond.op_column, (Token("word", "true", 0),))
        test = self.value_test(field, column, cond)
        passing = (
            f"SELECT v.target_id FROM property_values v WHERE v.property_id = "
            f"{field.property_id} AND {test}"
        )
        return self.targets(field, [passing], negate)

    def targets(self, field: Field, sets: list[str], negate: bool) -> str:
        """Images in every one of ``sets`` (subqueries of target ids), or, with ``negate``, the
        others; for a file property, images with a file that is."""
        target = "i.id" if field.mode == "image" else "f.id"
        inside = " AND ".join(f"{target} IN ({s})" for s in sets)
        test = f"NOT ({inside})" if negate else inside
        if field.mode == "image":
            return test
        return f"i.id IN (SELECT f.image_id FROM files f WHERE {self.files} AND {test})"

    def value_test(self, field: Field, column: str, cond: Condition) -> str:
        """The SQL test of one value (``column``), NULL where it is not set."""
        op = cond.op
        if op == "set":
            return f"{column} IS NOT NULL"
        if op == "notset":
            return f"{column} IS NULL"
        token = cond.values[0]
        if field.type == "number":
            self.params.append(_number(token, field))
            return f"{column} {op} ?"
        if field.type == "checkbox":
            self.params.append(_flag(token, field))
            return f"{column} {'=' if op == '=' else '!='} ?"
        if field.type == "date":
            moment, whole_day = _date(token, field)
            return self.date_test(column, op, moment, whole_day)
        text = token.text
        if field.source == "file" and op != "~":
            # path, name and folder are stored escaped (a backslash as two, an undecodable
            # byte as \\xNN); the user gives the real text, so it is compared escaped alike.
            text = store.stored_path(text)[0]
        if op == "contains":
            self.params.append(text.lower())
            return f"contains(lower({column}), ?)"
        if op == "startswith":
            self.params.append(text.lower())
            return f"starts_with(lower({column}), ?)"
        if op == "~":
            try:
                self.con.execute("SELECT regexp_matches('', ?)", [text])
            except duckdb.Error as exc:
                reason = str(exc).splitlines()[0].split(": ", 1)[-1]
                raise FilterError(f"not a regular expression: {reason}", token.column) from None
            self.params.append(text)
            return f"regexp_matches({column}, ?)"
        self.params.append(text)
        return f"{column} {op} ?"

    def date_test(self, column: str, op: str, moment: datetime, whole_day: bool) -> str:
        if not whole_day:
            self.params.append(moment)
            return f"{column} {op} ?"
        after = moment + timedelta(days=1)
        if op == "=":
            self.params += [moment, after]
            return f"({column} >= ? AND {column} < ?)"
        if op == "!=":
            self.params += [moment, after]
            return f"({column} < ? OR {column} >= ?)"
        bound = {"<": ("<", moment), "<=": ("<", after), ">": (">=", after), ">=": (">=", moment)}
        sign, value = bound[op]
        self.params.append(value)
        return f"{column} {sign} ?"

    def listed(self, field: Field, cond: Condition) -> str:
        """keywords: a list of words read from the files."""
        if cond.op in ("set", "notset"):
            test = f"COALESCE(len({field.column}) > 0, false)"
            return test if cond.op == "set" else f"NOT {test}"
        self.params.append([v.text for v in cond.values])
        if cond.op == "all":
            return f"COALESCE(list_has_all({field.column}, ?::VARCHAR[]), false)"
        test = f"COALESCE(list_has_any({field.column}, ?::VARCHAR[]), false)"
        return test if cond.op == "any" else f"NOT {test}"

    def tags(self, field: Field, cond: Condition) -> str:
        table, column = (
            ("image_tags", "image_id") if field.mode == "image" else ("file_tags", "file_id")
        )
        op = {"=": "any", "!=": "none"}.get(cond.op, cond.op)
        if op in ("set", "notset"):
            tagged = (
                f"SELECT {column} FROM {table} WHERE tag_id IN "
                f"(SELECT id FROM tags WHERE property_id = {field.property_id})"
            )
            return self.targets(field, [tagged], op == "notset")
        groups = [self.under(field, token) for token in cond.values]
        if op == "all":
            sets = [f"SELECT {column} FROM {table} WHERE tag_id IN ({_ids(ids)})" for ids in groups]
            return self.targets(field, sets, False)
        every = sorted({i for ids in groups for i in ids})
        tagged = f"SELECT {column} FROM {table} WHERE tag_id IN ({_ids(every)})"
        return self.targets(field, [tagged], op == "none")

    def under(self, field: Field, token: Token) -> list[int]:
        """The ids of a tag of the property and of every tag under it, through any of their
        parents (UNION keeps each id once: a loop of parents ends)."""
        rows = self.con.execute(
            f"""
            WITH RECURSIVE under(id) AS (
                SELECT id FROM tags WHERE property_id = ? AND name = ?
                UNION SELECT l.tag_id FROM {store.TAG_LINKS_SQL} l
                    JOIN under u ON l.parent_id = u.id
            )
            SELECT id FROM under
            """,
            [field.property_id, token.text],
        ).fetchall()
        if not rows:
            names = [
                r[0]
                for r in self.con.execute(
                    "SELECT name FROM tags WHERE property_id = ?", [field.property_id]
                ).fetchall()
            ]
            near = difflib.get_close_matches(token.text, names, n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]}?" if near else ""
            raise FilterError(f"{field.name} has no tag {token.text!r}{hint}", token.column)
        return sorted(int(r[0]) for r in rows)


def _ids(ids: list[int]) -> str:
    """Tag ids, written into the SQL: numbers this module read from the project (never user
    text), so that DuckDB filters the scan with them (measured on the 1M-image benchmark's
    filter: 116 ms, against 128 ms with a list parameter joined through unnest)."""
    return ", ".join(str(int(i)) for i in ids)


def _kind(field: Field) -> str:
    return {
        "number": "a number", "date": "a date", "text": "text", "checkbox": "a checkbox",
        "tags": "a tag property", "list": "a list of words",
    }[field.type]  # fmt: skip


def compile_filter(con: duckdb.DuckDBPyConnection, text: str) -> tuple[str, list[Any]]:
    """The SQL condition on ``images AS i`` of an expression, and its parameters; FilterError
    for a bad one. It does not say which images it is evaluated among: see scoped_filter."""
    tree = parse(text)
    files = RECORDED_FILES if names_missing(tree) else PRESENT_FILES
    compiler = _Compiler(con, fields(con), files)
    return compiler.node(tree), compiler.params


def names_missing(tree: Node) -> bool:
    """Whether an expression names ``missing`` anywhere (negated or not)."""
    if isinstance(tree, Not):
        return names_missing(tree.item)
    if isinstance(tree, Both | Either):
        return any(names_missing(n) for n in tree.items)
    return tree.name.text.casefold() == MISSING


def images_scope(text: str | None) -> str:
    """The images a view's filter is evaluated among (PRESENT_IMAGES or
    PRESENT_OR_MISSING_IMAGES); FilterError for a bad expression."""
    if text and names_missing(parse(text)):
        return PRESENT_OR_MISSING_IMAGES
    return PRESENT_IMAGES


def files_for(text: str | None) -> str:
    """The files that stand for the images a view's filter is evaluated among: PRESENT_FILES,
    or RECORDED_FILES when it names ``missing``. Only then, so that every other view runs the
    SQL it ran before: measured on 1,000,000 images (1% missing), a sort by path took 450-460
    ms with PRESENT_FILES, 500-530 ms with RECORDED_FILES; a filter on path 55 ms, 60-97 ms."""
    return RECORDED_FILES if images_scope(text) != PRESENT_IMAGES else PRESENT_FILES


def scoped_filter(con: duckdb.DuckDBPyConnection, text: str | None) -> tuple[str, list[Any]]:
    """The whole SQL condition on ``images AS i`` of a view's filter (None: every present
    image), with the images it is evaluated among (images_scope), and its parameters. The
    listing, the groups and the Results screen's views go through here; the queries among a
    filter's images (matching_ids: similar, clusters, export) keep to present images."""
    if not text:
        return PRESENT_IMAGES, []
    condition, params = compile_filter(con, text)
    return f"{images_scope(text)} AND ({condition})", params


def matching_ids(con: duckdb.DuckDBPyConnection, text: str) -> np.ndarray:
    """Ids of the present images an expression takes, in id order."""
    condition, params = compile_filter(con, text)
    rows = con.execute(
        f"SELECT i.id FROM images i WHERE i.state = 'ok' AND ({condition}) ORDER BY i.id", params
    ).fetchall()
    return np.array([r[0] for r in rows], np.int64)


# --- one value per image: sort, group-by, listing ----------------------------------------------


def value_sql(field: Field, *, listed: bool = False, files: str = PRESENT_FILES) -> str:
    """One value of ``field`` per image ``i`` (see the module's docstring). ``listed``: a tag
    property's tags as a sorted list (else the first name, for sorting). ``files``: the files
    ``f`` values come from (RECORDED_FILES where missing images are shown: see
    files_for)."""
    if field.source == "image":
        return field.column
    if field.source == "file":
        return (
            f"(SELECT min_by({field.column}, f.id) FROM files f "
            f"WHERE f.image_id = i.id AND {files})"
        )
    if field.type == "tags":
        table, column = (
            ("image_tags", "image_id") if field.mode == "image" else ("file_tags", "file_id")
        )
        owner = "i.id" if field.mode == "image" else (
            f"(SELECT min(f.id) FROM files f WHERE f.image_id = i.id AND {files})"
        )  # fmt: skip
        pick = "list_sort(list(t.name))" if listed else "min(t.name)"
        return (
            f"(SELECT {pick} FROM {table} x JOIN tags t ON t.id = x.tag_id "
            f"WHERE t.property_id = {field.property_id} AND x.{column} = {owner})"
        )
    value = f"v.{VALUE_COLUMN[field.type]}"
    if field.mode == "image":
        return (
            f"(SELECT any_value({value}) FROM property_values v "
            f"WHERE v.property_id = {field.property_id} AND v.target_id = i.id)"
        )
    return (
        f"(SELECT min_by({value}, f.id) FROM files f JOIN property_values v "
        f"ON v.target_id = f.id AND v.property_id = {field.property_id} "
        f"WHERE f.image_id = i.id AND {files} AND {value} IS NOT NULL)"
    )


class Values:
    """The value expressions of several names in one query, and the joins they need: an image
    property's value comes through a LEFT JOIN (one row at most: its key is (property,
    image)). Measured on the 1M-image benchmark's sort: 170 ms, against 215-240 ms with a
    correlated subquery (which DuckDB turns into an aggregate over the whole property)."""

    def __init__(self, files: str = PRESENT_FILES) -> None:
        self.joins: list[str] = []
        self.files = files  # see value_sql

    def of(self, field: Field, *, listed: bool = False) -> str:
        if field.source == "property" and field.type != "tags" and field.mode == "image":
            alias = f"pv{len(self.joins)}"
            self.joins.append(
                f"LEFT JOIN property_values {alias} ON {alias}.property_id = "
                f"{field.property_id} AND {alias}.target_id = i.id"
            )
            return f"{alias}.{VALUE_COLUMN[field.type]}"
        return value_sql(field, listed=listed, files=self.files)

    def sql(self) -> str:
        return " ".join(self.joins)


def parse_sort(con: duckdb.DuckDBPyConnection, text: str) -> list[tuple[Field, bool]]:
    """Sort keys, ``date_taken,-width``: (field, descending) each; FilterError for a bad one
    (its column is in the sort text)."""
    known = fields(con)
    keys: list[tuple[Field, bool]] = []
    column = 1
    for part in text.split(","):
        name = part.strip()
        at = column + len(part) - len(part.lstrip())
        descending = name.startswith("-")
        name = name.lstrip("-").strip() if descending else name
        if not name:
            raise FilterError("an empty sort key: give names, like date_taken,-width", at, "sort")
        keys.append((_field(known, name, at + descending, "sort"), descending))
        column += len(part) + 1
    return keys


def order_by(keys: list[tuple[Field, bool]], values: Values) -> str:
    """ORDER BY of sort keys: unset values last either way, then by id."""
    terms = [f"{values.of(f)} {'DESC' if d else 'ASC'} NULLS LAST" for f, d in keys]
    return "ORDER BY " + ", ".join([*terms, "i.id"])


def select_ids(
    con: duckdb.DuckDBPyConnection,
    where: str | None = None,
    sort: str | None = None,
    limit: int | None = None,
) -> list[int]:
    """Ids of the images a filter takes (present ones; missing ones too when it names
    ``missing``), sorted, at most ``limit``."""
    condition, params = scoped_filter(con, where)
    values = Values(files_for(where))
    order = order_by(parse_sort(con, sort), values) if sort else "ORDER BY i.id"
    cut = f" LIMIT {int(limit)}" if limit is not None else ""
    rows = con.execute(
        f"SELECT i.id FROM images i {values.sql()} WHERE {condition} {order}{cut}",
        params,
    ).fetchall()
    return [int(r[0]) for r in rows]


def parse_group(con: duckdb.DuckDBPyConnection, text: str) -> tuple[Field, str | None]:
    """``NAME`` or, for a date, ``NAME:year|month|day`` (default: day)."""
    name, _, part = text.partition(":")
    field = _field(fields(con), name.strip(), 1, "group-by")
    part = part.strip().lower()
    if field.type == "date":
        if part and part not in GROUP_PARTS:
            raise FilterError(
                f"group a date by year, month or day; got {part!r}", len(name) + 2, "group-by"
            )
        return field, part or "day"
    if part:
        raise FilterError(
            f"{field.name} is {_kind(field)}: only dates take :{part}", len(name) + 2, "group-by"
        )
    return field, None


def group_counts(
    con: duckdb.DuckDBPyConnection, group_by: str, where: str | None = None
) -> list[tuple[Any, int]]:
    """(group, images) for the images a filter takes (as select_ids), by value (unset last as
    None). A date is grouped by its year, month or day (text: 1990, 1990-01, 1990-01-31); an
    image counts once under each of its tags."""
    field, part = parse_group(con, group_by)
    condition, params = scoped_filter(con, where)
    values = Values(files_for(where))
    value = values.of(field, listed=field.type == "tags")
    if part:
        value = f"strftime({value}, '{PART_FORMAT[part]}')"
    if field.type in ("tags", "list"):
        value = f"unnest(CASE WHEN len({value}) > 0 THEN {value} ELSE [NULL::VARCHAR] END)"
    rows = con.execute(
        f"SELECT g, count(*) FROM (SELECT {value} AS g FROM images i {values.sql()} "
        f"WHERE {condition}) GROUP BY g ORDER BY g NULLS LAST",
        params,
    ).fetchall()
    if field.source == "file":  # path, name, folder: the real text, as a filter takes it
        return [(None if g is None else real_text(g), int(n)) for g, n in rows]
    return [(g, int(n)) for g, n in rows]


def list_images(
    con: duckdb.DuckDBPyConnection,
    where: str | None = None,
    sort: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The images a filter takes, sorted: ``id``, ``path`` (its first present file; a missing
    image's first recorded one) and one key per name (tag properties as lists; a tag property
    of one value as its name)."""
    ids = select_ids(con, where, sort, limit)
    known = fields(con)
    names = [n for n in known if n != "id"]
    values = Values(files_for(where))
    columns = ", ".join(values.of(known[n], listed=True) for n in names)
    rows = con.execute(
        f"SELECT i.id, {columns} FROM images i {values.sql()} "
        "WHERE i.id IN (SELECT unnest(?::BIGINT[]))",
        [ids],
    ).fetchall()
    by_id = {int(r[0]): r[1:] for r in rows}
    found = []
    for image_id in ids:
        row: dict[str, Any] = {"id": image_id}
        for name, value in zip(names, by_id[image_id], strict=True):
            field = known[name]
            if field.type == "tags":
                value = list(value or [])
                if field.single:
                    value = value[0] if value else None
            elif field.source == "file" and value is not None:
                value = real_text(value)  # path, name, folder: as on disk
            row[name] = value
        found.append(row)
    return found
