"""Completion of a filter expression as it is typed (the TUI's filter bar): the word at its end
becomes a property name or a keyword, or, after an operator or inside ``has any (…)``, a value
of the property before it (a tag of a tag property, a text already in the project).

Values are read once per property (at most MAX_VALUES) and kept by the Completer, so a keystroke
costs a lookup in memory."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb

from panoptui.core import filters

MAX_VALUES = 1000
# After a name: what may follow it, completed as words.
AFTER_NAME = ("contains", "startswith", "is set", "is not set", "has any (", "has all (",
              "has none (")  # fmt: skip
JOINERS = ("and", "or", "not")
_VALUE_OPERATORS = {"=", "!=", "<", "<=", ">", ">=", "~", "contains", "startswith"}
# The end of the text: an open quoted value, or a bare word being typed (possibly empty).
_OPEN_QUOTE = re.compile(r'"((?:[^"\\]|\\.)*)$')
_BARE = re.compile(r'[^\s(),"=!<>~]*$')  # filters.WORD
# The tokens before it, roughly: enough to know what position the last word is in.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|!=|<=|>=|[=<>~(),]|[^\s(),"=!<>~]+')


@dataclass
class Completer:
    con: duckdb.DuckDBPyConnection
    known: dict[str, filters.Field] = field(default_factory=dict)
    values: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.known = filters.fields(self.con)

    def complete(self, text: str) -> str | None:
        """``text`` with its last word completed (the first candidate in order), or None."""
        open_quote = _OPEN_QUOTE.search(text)
        if open_quote and text[: open_quote.start()].count('"') % 2 == 0:
            start, partial, in_quotes = open_quote.start(), open_quote.group(1), True
        else:
            bare = _BARE.search(text)
            assert bare is not None  # it matches the empty string at the end
            start, partial, in_quotes = bare.start(), bare.group(), False
        before = _TOKENS.findall(text[:start])
        name = self._value_of(before)
        if name is not None:
            candidates = self._values(name)
            for value in candidates:
                if value.casefold().startswith(partial.casefold()) and value != partial:
                    return text[:start] + quoted(value, always=in_quotes)
            return None
        if not partial or in_quotes:
            return None
        words = self._words(before)
        for word in words:
            if word.casefold().startswith(partial.casefold()) and word != partial:
                return text[:start] + (quoted(word) if word in self.known else word)
        return None

    def _value_of(self, before: list[str]) -> str | None:
        """The property whose value the end of the text is, when it is one."""
        if not before:
            return None
        last = before[-1].lower()
        if last in _VALUE_OPERATORS and len(before) >= 2:
            return self._name(before[-2])
        if last in ("(", ","):
            # Inside "NAME has any|all|none ( a, b, …": back to the "has".
            depth = 0
            for at in range(len(before) - 1, -1, -1):
                token = before[at].lower()
                if token == ")":
                    depth += 1
                elif token == "(":
                    if depth == 0:
                        if at >= 3 and before[at - 2].lower() == "has":
                            return self._name(before[at - 3])
                        return None
                    depth -= 1
        return None

    def _name(self, token: str) -> str | None:
        if len(token) >= 2 and token[0] == token[-1] == '"':  # a quoted name
            token = token[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        folded = {k.casefold(): k for k in self.known}
        return folded.get(token.casefold())

    def _words(self, before: list[str]) -> list[str]:
        """Names at the start or after and/or/not/(; operators after a name."""
        last = before[-1].lower() if before else ""
        if before and self._name(before[-1]) is not None and last not in JOINERS:
            return list(AFTER_NAME)
        return [*self.known, *JOINERS]

    def _values(self, name: str) -> list[str]:
        if name not in self.values:
            self.values[name] = self._read_values(self.known[name])
        return self.values[name]

    def _read_values(self, found: filters.Field) -> list[str]:
        """Values of a property to complete: its tags, or its texts (most frequent first)."""
        if found.type == "tags":
            rows = self.con.execute(
                "SELECT name FROM tags WHERE property_id = ? ORDER BY name LIMIT ?",
                [found.property_id, MAX_VALUES],
            ).fetchall()
        elif found.type == "list":  # keywords
            rows = self.con.execute(
                f"SELECT k, count(*) FROM (SELECT unnest({found.column}) AS k FROM images i) "
                "GROUP BY k ORDER BY 2 DESC, 1 LIMIT ?",
                [MAX_VALUES],
            ).fetchall()
        elif found.type == "text" and found.source == "property":
            rows = self.con.execute(
                "SELECT text, count(*) FROM property_values WHERE property_id = ? "
                "AND text IS NOT NULL GROUP BY text ORDER BY 2 DESC, 1 LIMIT ?",
                [found.property_id, MAX_VALUES],
            ).fetchall()
        elif found.type == "text" and found.source == "image":
            rows = self.con.execute(
                f"SELECT {found.column}, count(*) FROM images i WHERE {found.column} IS NOT NULL "
                "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?",
                [MAX_VALUES],
            ).fetchall()
        elif found.type == "checkbox":
            return ["true", "false"]
        else:  # numbers, dates, paths: typed, not chosen
            return []
        return [str(r[0]) for r in rows if r[0] is not None]


def quoted(value: str, always: bool = False) -> str:
    """A name or a value as the filter language reads it: a bare word when it is one (and not
    a keyword), else in quotes with its escapes."""
    if not always and re.fullmatch(r"[\w.-]+", value) and value.lower() not in filters.KEYWORDS:
        return value
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    )
    return f'"{escaped}"'
