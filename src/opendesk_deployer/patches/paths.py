"""The field-path syntax of runtime patches: dotted keys with wildcards over lists and maps.

    spec.template.spec.containers[*].ports[*].protocol
    metadata.annotations["argocd.argoproj.io/hook"]
    env[name=JAVA_OPTS_APPEND].value
    ports[?containerPort].port
    *Probe.enabled
    **.volumeMounts[*]

Written by hand rather than taken from jsonpath-ng: we need writes as well as reads (set a key
that does not exist yet, creating the mappings above it; remove list items in place), one
concrete path per hit for provenance, and a resolver cheap enough to run over every document
of a 20 MB render. Segments:

- `key` – a mapping key; a key containing `*` or `?` is a glob over the keys (`*Probe`); `*`
  alone is every value of a mapping.
- `["key"]` / `['key']` – a quoted key, for keys with dots, slashes or glob characters.
- `[*]` – every item of a list; `[3]`, `[-1]` – one item.
- `[name=value]` – the list items (mappings) whose `name` field, as a string, equals `value`
  (quote the value to include `]`); `[?name]` – the items that have a `name` field;
  `[!name]` – those that do not.
- `**` – any depth, zero or more levels (mappings and lists).

A path addresses the *values* it names. Reads (`find`) yield only what exists; writes
(`slots`) also yield a missing final key of a mapping that exists, and with `create=True` make
the missing mappings of plain-key segments on the way.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Trail = tuple[str | int, ...]


class PathError(ValueError):
    """A path that does not parse; `column` is 0-based."""

    def __init__(self, text: str, column: int, message: str) -> None:
        self.text = text
        self.column = column
        self.message = message
        super().__init__(f"path {text!r}, column {column + 1}: {message}")


@dataclass(frozen=True)
class Key:
    name: str


@dataclass(frozen=True)
class KeyGlob:
    pattern: str
    regex: re.Pattern[str]


@dataclass(frozen=True)
class Items:
    """`[*]`"""


@dataclass(frozen=True)
class Index:
    index: int


@dataclass(frozen=True)
class Filter:
    field: str
    value: str | None  # None: a presence test
    present: bool = True  # for presence tests: `?field` (True) or `!field` (False)

    def accepts(self, item: Any) -> bool:
        if not isinstance(item, dict):
            return False
        if self.value is None:
            return (self.field in item) is self.present
        return self.field in item and _as_text(item[self.field]) == self.value


@dataclass(frozen=True)
class Descend:
    """`**`"""


Segment = Key | KeyGlob | Items | Index | Filter | Descend

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]+")
_KEY_CHARS = re.compile(r"[^.\[\]]+")
_FIELD = re.compile(r"[A-Za-z0-9_\-.]+")
_INT = re.compile(r"-?[0-9]+")
_GLOB_CHARS = frozenset("*?")


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Path:
    text: str
    segments: tuple[Segment, ...]

    @classmethod
    def parse(cls, text: str) -> Path:
        return cls(text, tuple(_Parser(text).parse()))

    @property
    def last_key(self) -> str | None:
        """The final segment's key when it is a plain key (what `rename` needs)."""
        last = self.segments[-1] if self.segments else None
        return last.name if isinstance(last, Key) else None

    def find(self, root: Any, prefix: Trail = ()) -> Iterator[tuple[Any, str | int, Trail]]:
        """Every existing value the path names: (parent, key or index, concrete trail)."""
        yield from _walk(root, self.segments, 0, prefix, False, False)

    def slots(
        self, root: Any, prefix: Trail = (), *, create: bool = False
    ) -> Iterator[tuple[Any, str | int, Trail]]:
        """Like `find`, plus a final plain key missing from a mapping that exists; with
        `create`, missing mappings of plain-key segments are made on the way."""
        yield from _walk(root, self.segments, 0, prefix, True, create)

    def values(self, root: Any) -> Iterator[Any]:
        for parent, key, _ in self.find(root):
            yield parent[key]

    def __str__(self) -> str:
        return self.text


def _walk(
    node: Any,
    segs: tuple[Segment, ...],
    i: int,
    trail: Trail,
    missing_last: bool,
    create: bool,
) -> Iterator[tuple[Any, str | int, Trail]]:
    seg = segs[i]
    last = i == len(segs) - 1
    if isinstance(seg, Key):
        if not isinstance(node, dict):
            return
        name = seg.name
        if name in node:
            if (
                node[name] is None
                and create
                and missing_last
                and not last
                and isinstance(segs[i + 1], Key)
            ):
                node[name] = {}  # `annotations:` rendered empty
            if last:
                yield node, name, (*trail, name)
            else:
                yield from _walk(node[name], segs, i + 1, (*trail, name), missing_last, create)
        elif last:
            if missing_last:
                yield node, name, (*trail, name)
        elif create and missing_last:
            nxt = segs[i + 1]
            if isinstance(nxt, Key):
                child: dict[str, Any] = {}
                node[name] = child
                yield from _walk(child, segs, i + 1, (*trail, name), missing_last, create)
            elif isinstance(nxt, Items | Index | Filter):
                return  # a list is never invented: its items would be guesses
        return
    if isinstance(seg, KeyGlob):
        if not isinstance(node, dict):
            return
        for k in [k for k in node if isinstance(k, str) and seg.regex.fullmatch(k)]:
            if last:
                yield node, k, (*trail, k)
            else:
                yield from _walk(node[k], segs, i + 1, (*trail, k), missing_last, create)
        return
    if isinstance(seg, Descend):
        if last:
            return
        yield from _walk(node, segs, i + 1, trail, missing_last, create)
        if isinstance(node, dict):
            for k in list(node):
                yield from _walk(node[k], segs, i, (*trail, k), missing_last, create)
        elif isinstance(node, list):
            for n, item in enumerate(list(node)):
                yield from _walk(item, segs, i, (*trail, n), missing_last, create)
        return
    if not isinstance(node, list):
        return
    if isinstance(seg, Index):
        n = seg.index + len(node) if seg.index < 0 else seg.index
        if 0 <= n < len(node):
            if last:
                yield node, n, (*trail, n)
            else:
                yield from _walk(node[n], segs, i + 1, (*trail, n), missing_last, create)
        return
    # Items or Filter: iterate over a snapshot of the indexes so that callers may edit items
    picked = (
        range(len(node))
        if isinstance(seg, Items)
        else [n for n, item in enumerate(node) if seg.accepts(item)]
    )
    for n in list(picked):
        if n >= len(node):
            break
        if last:
            yield node, n, (*trail, n)
        else:
            yield from _walk(node[n], segs, i + 1, (*trail, n), missing_last, create)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str, at: int | None = None) -> PathError:
        return PathError(self.text, self.pos if at is None else at, message)

    def parse(self) -> list[Segment]:
        text = self.text
        if not text:
            raise self.fail("empty path")
        segs: list[Segment] = []
        first = True
        while self.pos < len(text):
            c = text[self.pos]
            if c == "[":
                segs.append(self.bracket())
            else:
                if not first:
                    if c != ".":
                        raise self.fail(f"expected '.' or '[', found {c!r}")
                    self.pos += 1
                m = _KEY_CHARS.match(text, self.pos)
                if not m:
                    raise self.fail("expected a key")
                self.pos = m.end()
                segs.append(_key_segment(m.group()))
            first = False
        if isinstance(segs[-1], Descend):
            raise self.fail("'**' cannot end a path", len(text) - 2)
        return segs

    def bracket(self) -> Segment:
        text = self.text
        start = self.pos
        self.pos += 1
        if self.pos >= len(text):
            raise self.fail("unterminated '['", start)
        c = text[self.pos]
        if c in "\"'":
            key = self.quoted()
            self.close(start)
            return Key(key)
        if c == "*":
            self.pos += 1
            self.close(start)
            return Items()
        if c in "?!":
            self.pos += 1
            m = _FIELD.match(text, self.pos)
            if not m:
                raise self.fail("expected a field name after " + repr(c))
            self.pos = m.end()
            self.close(start)
            return Filter(m.group(), None, c == "?")
        m = _INT.match(text, self.pos)
        if m and m.end() < len(text) and text[m.end()] == "]":
            self.pos = m.end()
            self.close(start)
            return Index(int(m.group()))
        m = _FIELD.match(text, self.pos)
        if not m:
            raise self.fail("expected '*', an index, a quoted key or a filter inside '[...]'")
        self.pos = m.end()
        if self.pos >= len(text) or text[self.pos] != "=":
            raise self.fail("expected '=' in a filter such as [name=value]")
        self.pos += 1
        if self.pos < len(text) and text[self.pos] in "\"'":
            value = self.quoted()
        else:
            end = text.find("]", self.pos)
            if end < 0:
                raise self.fail("unterminated '['", start)
            value = text[self.pos : end]
            self.pos = end
        self.close(start)
        return Filter(m.group(), value)

    def quoted(self) -> str:
        text = self.text
        quote = text[self.pos]
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < len(text):
            c = text[self.pos]
            if c == "\\" and self.pos + 1 < len(text):
                out.append(text[self.pos + 1])
                self.pos += 2
                continue
            if c == quote:
                self.pos += 1
                return "".join(out)
            out.append(c)
            self.pos += 1
        raise self.fail("unterminated quoted key", start)

    def close(self, start: int) -> None:
        if self.pos >= len(self.text) or self.text[self.pos] != "]":
            raise self.fail(f"expected ']' to close the '[' at column {start + 1}")
        self.pos += 1


def _key_segment(key: str) -> Segment:
    if key == "**":
        return Descend()
    if "**" in key:
        raise PathError(key, key.index("**"), "'**' must be a whole segment")
    if _GLOB_CHARS.intersection(key):
        return KeyGlob(key, re.compile(fnmatch.translate(key)))
    return Key(key)


def format_trail(trail: Trail) -> str:
    """A concrete trail as path text that parses back to the same trail:
    `spec.template.spec.containers[0].volumeMounts[1].subPath`,
    `metadata.annotations["helm.sh/hook"]`."""
    out: list[str] = []
    for part in trail:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _PLAIN_KEY.fullmatch(part) and part != "**":
            out.append(f".{part}" if out else part)
        else:
            escaped = part.replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'["{escaped}"]')
    return "".join(out)
