"""Which documents a patch touches: kind, name, release, namespace, labels, annotations.

A `match:` is one mapping or a list of mappings (any of them). Within a mapping every given
criterion must hold. Text criteria take an exact string, `{exact: …}`, `{glob: …}` (fnmatch,
case-sensitive) or `{regex: …}` (must match the whole value), or a list of those (any);
label and annotation criteria also take `{exists: true|false}`. Matchers are compiled once, when
the catalog is loaded.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opendesk_deployer.patches.spec import Spec
from opendesk_deployer.patches.workloads import KIND_GROUPS
from opendesk_deployer.render.document import Document

TextTest = Callable[[str | None], bool]
MATCH_FIELDS = {"kind", "name", "release", "namespace", "labels", "annotations"}


def _exact(expected: str) -> TextTest:
    return lambda value: value == expected


def _pattern(regex: re.Pattern[str]) -> TextTest:
    return lambda value: value is not None and regex.fullmatch(value) is not None


def _any(tests: list[TextTest]) -> TextTest:
    return lambda value: any(t(value) for t in tests)


def text_test(spec: Spec, *, exists: bool = False) -> TextTest:
    """Compile a text criterion (`exists` allows `{exists: bool}`, for labels/annotations)."""
    tests = [_one_text_test(item, exists) for item in spec.items()]
    return tests[0] if len(tests) == 1 else _any(tests)


def _one_text_test(spec: Spec, exists: bool) -> TextTest:
    if isinstance(spec.value, str):
        return _exact(spec.value)
    forms = {"exact", "glob", "regex"} | ({"exists"} if exists else set())
    if not isinstance(spec.value, dict) or len(spec.value) != 1:
        raise spec.problem(
            "must be a string or a mapping with exactly one of: " + ", ".join(sorted(forms))
        )
    spec.mapping(forms)
    [(form, _)] = spec.value.items()
    arg = spec.child(form)
    if form == "exists":
        wanted = arg.boolean()
        return lambda value: (value is not None) is wanted
    text = arg.string(empty=form == "exact")
    if form == "exact":
        return _exact(text)
    if form == "glob":
        return _pattern(re.compile(fnmatch.translate(text)))
    try:
        return _pattern(re.compile(text))
    except re.error as exc:
        raise arg.problem(f"invalid regular expression: {exc}") from None


@dataclass(frozen=True)
class DocumentMatcher:
    """One mapping of a `match:`; `kinds` None means every kind (`kind: "*"`)."""

    kinds: frozenset[str] | None
    name: TextTest | None = None
    release: TextTest | None = None
    namespace: TextTest | None = None
    labels: tuple[tuple[str, TextTest], ...] = ()
    annotations: tuple[tuple[str, TextTest], ...] = ()

    def matches(self, doc: Document, default_namespace: str) -> bool:
        body = doc.body
        if self.kinds is not None and body.get("kind") not in self.kinds:
            return False
        if self.release is not None and not self.release(doc.release):
            return False
        md = body.get("metadata")
        if not isinstance(md, dict):
            md = {}
        if self.name is not None and not self.name(_text(md.get("name"))):
            return False
        if self.namespace is not None and not self.namespace(
            _text(md.get("namespace")) or default_namespace
        ):
            return False
        for field, tests in (("labels", self.labels), ("annotations", self.annotations)):
            if not tests:
                continue
            values = md.get(field)
            if not isinstance(values, dict):
                values = {}
            for key, test in tests:
                if not test(_text(values.get(key))):
                    return False
        return True


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Match:
    """A compiled `match:`: any of its alternatives."""

    alternatives: tuple[DocumentMatcher, ...]

    @property
    def kinds(self) -> frozenset[str] | None:
        """Every kind an alternative can match, for the by-kind index; None: all kinds."""
        out: set[str] = set()
        for alt in self.alternatives:
            if alt.kinds is None:
                return None
            out |= alt.kinds
        return frozenset(out)

    def matches(self, doc: Document, default_namespace: str) -> bool:
        return any(a.matches(doc, default_namespace) for a in self.alternatives)


def compile_match(spec: Spec) -> Match:
    return Match(tuple(_compile_one(item) for item in spec.items()))


def compile_kinds(spec: Spec) -> frozenset[str] | None:
    """`kind: Job`, `kind: [Job, CronJob]`, `kind: "@workload"`, or `kind: "*"` (None)."""
    kinds: set[str] = set()
    for item in spec.items():
        kind = item.string()
        if kind == "*":
            return None
        if kind.startswith("@"):
            if kind not in KIND_GROUPS:
                raise item.problem(
                    f"unknown kind group {kind!r}; known: {', '.join(sorted(KIND_GROUPS))}"
                )
            kinds |= KIND_GROUPS[kind]
        else:
            kinds.add(kind)
    return frozenset(kinds)


def _compile_one(spec: Spec) -> DocumentMatcher:
    fields = spec.mapping(MATCH_FIELDS, {"kind"})
    kinds = compile_kinds(spec.child("kind"))
    texts = {
        name: text_test(spec.child(name)) if name in fields else None
        for name in ("name", "release", "namespace")
    }
    keyed: dict[str, tuple[tuple[str, TextTest], ...]] = {}
    for name in ("labels", "annotations"):
        if name not in fields:
            keyed[name] = ()
            continue
        child = spec.child(name)
        if not isinstance(child.value, dict) or not child.value:
            raise child.problem("must be a non-empty mapping of key: criterion")
        keyed[name] = tuple(
            (str(key), text_test(child.child(key), exists=True)) for key in child.value
        )
    return DocumentMatcher(
        kinds,
        texts["name"],
        texts["release"],
        texts["namespace"],
        keyed["labels"],
        keyed["annotations"],
    )
