"""The operations of a runtime patch: small, declarative edits of one document, in place.

Every operation names a `path` (see `paths.py`) and, optionally, where that path starts:

- nothing: at the document;
- `podSpec: true`: at the workload's pod spec (`workloads.pod_spec`);
- `containers: containers | initContainers | ephemeralContainers | all`: at each selected
  container (`containerName:` narrows by name, with the text criteria of `matcher.py`);
- `kind:` narrows an operation to some kinds of the documents its patch matched.

An operation returns one `Edit` per field it changed; an operation that finds nothing to do
changes nothing and says so by returning no edit (all of them are idempotent). Values written
into documents are copied at each write, so no two documents share a mapping (PyYAML would dump
shared objects as anchors). `{$param: name}` anywhere in a value stands for a parameter of the
patch (see `catalog.py`), bound once per render.
"""

from __future__ import annotations

import dataclasses
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import yaml

from opendesk_deployer.patches import workloads
from opendesk_deployer.patches.matcher import TextTest, compile_kinds, text_test
from opendesk_deployer.patches.paths import Key, KeyGlob, Path, PathError, Trail, format_trail
from opendesk_deployer.patches.spec import Spec

try:  # libyaml, as render.document uses
    from yaml import CSafeDumper as SafeDumper
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover
    from yaml import SafeDumper, SafeLoader  # type: ignore[assignment]


class PatchError(Exception):
    """An operation that cannot be applied to a document; names the field."""

    def __init__(self, trail: Trail, message: str) -> None:
        self.trail = trail
        self.message = message
        super().__init__(f"{format_trail(trail) or '<document>'}: {message}")


@dataclass(frozen=True)
class ParamRef:
    """`{$param: name}` in a catalog value, until the parameters are bound."""

    name: str


def substitute(value: Any, params: Mapping[str, Any]) -> Any:
    if isinstance(value, ParamRef):
        return params[value.name]
    if isinstance(value, dict):
        return {k: substitute(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, params) for v in value]
    return value


def clone(value: Any) -> Any:
    """A copy of plain YAML data (mappings, lists, scalars), cheaper than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def _missing(container: Any, key: str | int) -> bool:
    """True when the key is absent or holds null or an empty string ("default" semantics)."""
    if isinstance(container, dict):
        return key not in container or container[key] is None or container[key] == ""
    return container[key] is None or container[key] == ""


@dataclass(frozen=True)
class Edit:
    """One field an operation changed; `suffix` continues the path inside a value (the key
    added to an embedded YAML text, the identity of a deduplicated list entry)."""

    trail: Trail
    action: str
    suffix: str = ""

    @property
    def field(self) -> str:
        return format_trail(self.trail) + self.suffix


@dataclass(frozen=True)
class Scope:
    """Where an operation's path starts, and which documents' kinds it acts on."""

    kinds: frozenset[str] | None = None
    container_lists: tuple[str, ...] | None = None
    container_name: TextTest | None = None
    pod_spec: bool = False

    def roots(self, body: dict[str, Any], kind: str) -> Iterator[tuple[Any, Trail]]:
        if self.kinds is not None and kind not in self.kinds:
            return
        if self.container_lists is not None:
            for container, trail in workloads.containers(body, kind, self.container_lists):
                name = container.get("name")
                if self.container_name is None or self.container_name(
                    None if name is None else str(name)
                ):
                    yield container, trail
        elif self.pod_spec:
            found = workloads.pod_spec(body, kind)
            if found is not None:
                yield found
        else:
            yield body, ()


@dataclass(frozen=True)
class Operation(ABC):
    """One primitive; subclasses add their fields after `scope` and `line`."""

    name: ClassVar[str]
    # fields holding values that may contain {$param: …}
    value_fields: ClassVar[tuple[str, ...]] = ()

    scope: Scope
    line: int | None
    params: frozenset[str] = field(default=frozenset(), kw_only=True)

    def apply(self, body: dict[str, Any], kind: str) -> list[Edit]:
        edits: list[Edit] = []
        for root, prefix in self.scope.roots(body, kind):
            self.at(root, prefix, edits)
        return edits

    @abstractmethod
    def at(self, root: Any, prefix: Trail, edits: list[Edit]) -> None: ...

    def bind(self, params: Mapping[str, Any]) -> Operation:
        """This operation with its `{$param: …}` values replaced (itself when it has none)."""
        if not self.params:
            return self
        return dataclasses.replace(
            self,
            **{f: substitute(getattr(self, f), params) for f in self.value_fields},
            params=frozenset(),
        )


# --------------------------------------------------------------------------- field edits


@dataclass(frozen=True)
class Set(Operation):
    """`set`: write `value` at every place `path` names (creating missing mappings)."""

    name: ClassVar[str] = "set"
    value_fields: ClassVar[tuple[str, ...]] = ("value",)
    path: Path
    value: Any

    def at(self, root: Any, prefix: Trail, edits: list[Edit]) -> None:
        for parent, key, trail in self.path.slots(root, prefix, create=True):
            if _has(parent, key) and parent[key] == self.value:
                continue
            parent[key] = clone(self.value)
            edits.append(Edit(trail, "set"))


@dataclass(frozen=True)
class Default(Operation):
    """`default`: write `value` where the field is missing, null or an empty string."""

    name: ClassVar[str] = "default"
    value_fields: ClassVar[tuple[str, ...]] = ("value",)
    path: Path
    value: Any

    def at(self, root: Any, prefix: Trail, edits: list[Edit]) -> None:
        for parent, key, trail in self.path.slots(root, prefix, create=True):
            if _missing(parent, key):
                parent[key] = clone(self.value)
                edits.append(Edit(trail, "set"))


@dataclass(frozen=True)
class Minimum(Operation):
    """`minimum`: raise a number to `value` (set it when missing); other types are left."""

    name: ClassVar[str] = "minimum"
    value_fields: ClassVar[tuple[str, ...]] = ("value",)
    path: Path
    value: Any

    def at(self, root: Any, prefix: Trail, edits: list[Edit]) -> None:
        for parent, key, trail in self.path.slots(root, prefix, create=True):
            current = parent[key] if _has(parent, key) else None
            if current is None or (_is_number(current) and current < self.value):
                parent[key] = self.value
                edits.append(Edit(trail, "set"))


@dataclass(frozen=True)
class Remove(Operation):
    """`remove`: delete mapping keys or list items the path names."""

    name: ClassVar[str] = "remove"
    path: Path

    def at(self, root: Any, prefix: Trail, edits: list[Edit]) -> None:
        hits = list(self.path.find(root, prefix))
        # list items last and from the back, so that earlier indexes stay valid
        for parent, key, trail in sorted(
            hits, key=lambda h: (isinstance(h[1], int), -h[1] if isinstance(h[1], int) else 0)
        ):
            if isinstance(parent, dict):
                if key in parent:
                    del parent[key]
                    edits.append(Edit(trail, "remove"))
            elif isinstance(key, int) and key < len(parent):
                del parent[key]
                edits.append(Edit(trail, "remove"))


@dataclass(frozen=True)
class Rename(Operation):
    """`rename`: move a mapping key to `to`. When `to` already exists: `onConflict: error`
    (default; equal values just drop the old key), `keepTarget` or `overwrite`."""

    name: ClassVar[str] = "rename"
    path: Path
    to: str
    on_conflict: str = "error"

    def at(self, root: Any, prefix: Trail, edits: list[Edit]) -> None:
        for parent, key, trail in list(self.path.find(root, prefix)):
            if not isinstance(parent, dict) or key == self.to or key not in parent:
                continue
            target = (*trail[:-1], self.to)
            if self.to in parent:
                if parent[self.to] == parent[key] or self.on_conflict == "keepTarget":
                    del parent[key]
                    edits.append(Edit(trail, "remove"))
                    continue
                if self.on_conflict == "error":
                    raise PatchError(
                        trail,
                        f"cannot rename to {self.to!r}: it exists with a different value "
                        f"({parent[self.to]!r} vs {parent[key]!r})",
                    )
            parent[self.to] = parent.pop(key)
            edits.append(Edit(target, "rename"))


@dataclass(frozen=True)
class Dedupe(Operation):
    """`dedupe`: one entry per identity (`keys`) in the lists the path names.

    `keep: last` (default) keeps the value of the last occurrence, as the container runtime and
    a client-side apply see it (for env, later entries override earlier ones); it stays at the
    position of the first occurrence, so `$(NAME)` references of entries in between still find
    it defined. `keep: first` keeps the first occurrence. Entries lacking every key field, and
    non-mappings, are never duplicates.
    """

    name: ClassVar[str] = "dedupe"
    path: Path
    keys: tuple[str, ...]
    keep: str = "last"

    def identity(self, item: Any) -> tuple[Any, ...] | None:
        if not isinstance(item, dict):
            return None
        keys = self.keys
        if len(keys) == 1:  # the common case (env by name), without generator overhead
            k = keys[0]
            return (_hashable(item[k]),) if k in item else None
        if not any(k in item for k in keys):
            return None
        return tuple(_hashable(item.get(k)) for k in keys)

    def at(self, root: Any, prefix: Trail, edits: list[Edit]) -> None:
        for parent, key, trail in list(self.path.find(root, prefix)):
            items = parent[key]
            if not isinstance(items, list) or len(items) < 2:
                continue
            ids = [self.identity(item) for item in items]
            present = [ident for ident in ids if ident is not None]
            if len(set(present)) == len(present):
                continue
            counts: dict[Any, int] = {}
            for found in present:
                counts[found] = counts.get(found, 0) + 1
            last = {ident: n for n, ident in enumerate(ids) if ident is not None}
            out: list[Any] = []
            seen: set[Any] = set()
            for item, ident in zip(items, ids, strict=True):
                if ident is None:
                    out.append(item)
                    continue
                if ident in seen:
                    continue
                seen.add(ident)
                out.append(items[last[ident]] if self.keep == "last" else item)
                if counts[ident] > 1:
                    suffix = "".join(f"[{k}={v}]" for k, v in zip(self.keys, ident, strict=True))
                    edits.append(Edit(trail, "dedupe", suffix))
            items[:] = out


@dataclass(frozen=True)
class Append(Operation):
    """`append`: add `value` to the list at path unless an entry with the same identity
    (`key`: field names; without it, an equal entry) is there. Creates a missing list."""

    name: ClassVar[str] = "append"
    value_fields: ClassVar[tuple[str, ...]] = ("value",)
    path: Path
    value: Any
    key: tuple[str, ...] = ()

    def at(self, root: Any, prefix: Trail, edits: list[Edit]) -> None:
        for parent, k, trail in list(self.path.slots(root, prefix, create=True)):
            if isinstance(parent, dict) and parent.get(k) is None:
                parent[k] = []
            items = parent[k]
            if not isinstance(items, list):
                raise PatchError(trail, f"expected a list, found {type(items).__name__}")
            if any(self._same(item) for item in items):
                continue
            items.append(clone(self.value))
            edits.append(Edit((*trail, len(items) - 1), "add"))

    def _same(self, item: Any) -> bool:
        if not self.key:
            return bool(item == self.value)
        return isinstance(item, dict) and all(item.get(f) == self.value.get(f) for f in self.key)


@dataclass(frozen=True)
class Annotate(Operation):
    """`annotate`: set annotations on the document (`overwrite: false` only adds missing)."""

    name: ClassVar[str] = "annotate"
    value_fields: ClassVar[tuple[str, ...]] = ("annotations",)
    annotations: dict[str, str]
    overwrite: bool = True

    def at(self, root: Any, prefix: Trail, edits: list[Edit]) -> None:
        md = root.get("metadata")
        if not isinstance(md, dict):
            root["metadata"] = md = {}
        current = md.get("annotations")
        if not isinstance(current, dict):
            md["annotations"] = current = {}
        for k, v in self.annotations.items():
            if k in current and (current[k] == v or not self.overwrite):
                continue
            current[k] = v
            edits.append(Edit(("metadata", "annotations", k), "set"))


@dataclass(frozen=True)
class RemoveAnnotations(Operation):
    """`removeAnnotations`: delete the named annotations from the document."""

    name: ClassVar[str] = "removeAnnotations"
    keys: tuple[str, ...]

    def at(self, root: Any, prefix: Trail, edits: list[Edit]) -> None:
        md = root.get("metadata")
        current = md.get("annotations") if isinstance(md, dict) else None
        if not isinstance(current, dict):
            return
        for k in self.keys:
            if k in current:
                del current[k]
                edits.append(Edit(("metadata", "annotations", k), "remove"))


@dataclass(frozen=True)
class Replace(Operation):
    """`replace`: regular-expression substitution in the strings the path names (Python
    `re.sub`; `replacement` may use `\\1`, `\\g<name>`). `unless`: leave strings that
    already match this expression; `count`: at most this many replacements per string."""

    name: ClassVar[str] = "replace"
    path: Path
    pattern: re.Pattern[str]
    replacement: str
    unless: re.Pattern[str] | None = None
    count: int = 0

    def at(self, root: Any, prefix: Trail, edits: list[Edit]) -> None:
        for parent, key, trail in list(self.path.find(root, prefix)):
            text = parent[key]
            if not isinstance(text, str) or (self.unless and self.unless.search(text)):
                continue
            try:
                new = self.pattern.sub(self.replacement, text, count=self.count)
            except (re.error, IndexError) as exc:
                raise PatchError(trail, f"replacement {self.replacement!r}: {exc}") from None
            if new != text:
                parent[key] = new
                edits.append(Edit(trail, "set"))


@dataclass(frozen=True)
class MapValue(Operation):
    """`map`: set `path` from the value at `from` through `table`. With `separator`, the
    source is a list (`post-install,post-upgrade`): each item is mapped, unknown items are
    dropped, duplicates removed, and the result joined with the separator. Nothing is set
    when no item maps; an existing non-empty target is kept unless `overwrite: true`."""

    name: ClassVar[str] = "map"
    source: Path
    path: Path
    table: dict[str, str]
    separator: str | None = None
    overwrite: bool = False

    def at(self, root: Any, prefix: Trail, edits: list[Edit]) -> None:
        value = next((v for v in self.source.values(root) if isinstance(v, str)), None)
        if value is None:
            return
        parts = value.split(self.separator) if self.separator else [value]
        mapped: list[str] = []
        for part in parts:
            target = self.table.get(part.strip())
            if target is not None and target not in mapped:
                mapped.append(target)
        if not mapped:
            return
        new = (self.separator or "").join(mapped)
        for parent, key, trail in self.path.slots(root, prefix, create=True):
            if not _missing(parent, key) and (not self.overwrite or parent[key] == new):
                continue
            parent[key] = new
            edits.append(Edit(trail, "set"))


@dataclass(frozen=True)
class EmbeddedYamlDefault(Operation):
    """`embeddedYamlDefault`: add top-level keys missing from a YAML mapping held in a
    string (a config file inside a ConfigMap). The text is extended, not re-dumped, so its
    comments and layout stay; a string that is not a YAML mapping is an error."""

    name: ClassVar[str] = "embeddedYamlDefault"
    value_fields: ClassVar[tuple[str, ...]] = ("values",)
    path: Path
    values: dict[str, Any]

    def at(self, root: Any, prefix: Trail, edits: list[Edit]) -> None:
        for parent, key, trail in list(self.path.find(root, prefix)):
            text = parent[key]
            if not isinstance(text, str):
                raise PatchError(trail, f"expected a YAML text, found {type(text).__name__}")
            try:
                data = yaml.load(text, Loader=SafeLoader)
            except yaml.YAMLError as exc:
                raise PatchError(trail, f"embedded YAML does not parse: {exc}") from None
            if data is None:
                data = {}
            if not isinstance(data, dict):
                raise PatchError(trail, "embedded YAML is not a mapping")
            missing = {k: v for k, v in self.values.items() if k not in data}
            if not missing:
                continue
            block = yaml.dump(missing, Dumper=SafeDumper, default_flow_style=False, sort_keys=False)
            parent[key] = (text if not text or text.endswith("\n") else text + "\n") + block
            for k in missing:
                edits.append(Edit(trail, "add", f".{k}"))


def _has(parent: Any, key: str | int) -> bool:
    return key in parent if isinstance(parent, dict) else 0 <= int(key) < len(parent)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _hashable(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return tuple(sorted((str(k), _hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


# --------------------------------------------------------------------------- parsing

COMMON_FIELDS = {"op", "kind", "containers", "containerName", "podSpec"}


class _Context:
    """What parsing one operation needs: its spec and the patch's declared parameters."""

    def __init__(self, spec: Spec, parameters: Mapping[str, Any]) -> None:
        self.spec = spec
        self.parameters = parameters
        self.used: set[str] = set()

    def path(self, key: str) -> Path:
        child = self.spec.child(key)
        text = child.string()
        try:
            return Path.parse(text)
        except PathError as exc:
            raise child.problem(f"invalid path: {exc.message} (column {exc.column + 1})") from None

    def value(self, key: str) -> Any:
        return self._value(self.spec.child(key))

    def _value(self, spec: Spec) -> Any:
        v = spec.value
        if isinstance(v, dict):
            if "$param" in v:
                if len(v) != 1:
                    raise spec.problem("a {$param: name} mapping must have no other key")
                name = spec.child("$param").string()
                if name not in self.parameters:
                    declared = ", ".join(sorted(self.parameters)) or "none"
                    raise spec.child("$param").problem(
                        f"unknown parameter {name!r}; the patch declares: {declared}"
                    )
                self.used.add(name)
                return ParamRef(name)
            return {k: self._value(spec.child(k)) for k in v}
        if isinstance(v, list):
            return [self._value(spec.child(i)) for i in range(len(v))]
        return v

    def regex(self, key: str) -> re.Pattern[str]:
        child = self.spec.child(key)
        try:
            return re.compile(child.string())
        except re.error as exc:
            raise child.problem(f"invalid regular expression: {exc}") from None

    def names(self, key: str) -> tuple[str, ...]:
        return tuple(item.string() for item in self.spec.child(key).items())


def _scope(ctx: _Context, fields: Mapping[str, Any], *, document_only: bool) -> Scope:
    spec = ctx.spec
    kinds = compile_kinds(spec.child("kind")) if "kind" in fields else None
    if document_only:
        for key in ("containers", "containerName", "podSpec"):
            if key in fields:
                raise spec.problem(f"{fields['op']!r} acts on the document; {key!r} is not allowed")
        return Scope(kinds)
    lists = None
    if "containers" in fields:
        lists = workloads.CONTAINER_LISTS[
            spec.child("containers").choice(tuple(workloads.CONTAINER_LISTS))
        ]
    name = None
    if "containerName" in fields:
        if lists is None:
            raise spec.problem("'containerName' needs 'containers'", "containerName")
        name = text_test(spec.child("containerName"))
    pod = spec.child("podSpec").boolean() if "podSpec" in fields else False
    if pod and lists is not None:
        raise spec.problem("use either 'containers' or 'podSpec', not both", "podSpec")
    return Scope(kinds, lists, name, pod)


Parser = Callable[[_Context, Scope, dict[str, Any]], Operation]


def _p_set(ctx: _Context, scope: Scope, f: dict[str, Any]) -> Operation:
    return Set(scope, ctx.spec.line, path=ctx.path("path"), value=ctx.value("value"))


def _p_default(ctx: _Context, scope: Scope, f: dict[str, Any]) -> Operation:
    return Default(scope, ctx.spec.line, path=ctx.path("path"), value=ctx.value("value"))


def _p_minimum(ctx: _Context, scope: Scope, f: dict[str, Any]) -> Operation:
    if not _is_number(f["value"]):
        raise ctx.spec.problem("must be a number", "value")
    return Minimum(scope, ctx.spec.line, path=ctx.path("path"), value=f["value"])


def _p_remove(ctx: _Context, scope: Scope, f: dict[str, Any]) -> Operation:
    return Remove(scope, ctx.spec.line, path=ctx.path("path"))


def _p_rename(ctx: _Context, scope: Scope, f: dict[str, Any]) -> Operation:
    path = ctx.path("path")
    if not isinstance(path.segments[-1], Key | KeyGlob):
        raise ctx.spec.problem("the path of 'rename' must end with a key", "path")
    policy = "error"
    if "onConflict" in f:
        policy = ctx.spec.child("onConflict").choice(("error", "keepTarget", "overwrite"))
    return Rename(
        scope, ctx.spec.line, path=path, to=ctx.spec.child("to").string(), on_conflict=policy
    )


def _p_dedupe(ctx: _Context, scope: Scope, f: dict[str, Any]) -> Operation:
    keep = ctx.spec.child("keep").choice(("last", "first")) if "keep" in f else "last"
    return Dedupe(scope, ctx.spec.line, path=ctx.path("path"), keys=ctx.names("keys"), keep=keep)


def _p_append(ctx: _Context, scope: Scope, f: dict[str, Any]) -> Operation:
    key = ctx.names("key") if "key" in f else ()
    value = ctx.value("value")
    if key and not isinstance(value, dict):
        raise ctx.spec.problem("with 'key', the value must be a mapping", "value")
    return Append(scope, ctx.spec.line, path=ctx.path("path"), value=value, key=key)


def _p_annotate(ctx: _Context, scope: Scope, f: dict[str, Any]) -> Operation:
    child = ctx.spec.child("annotations")
    if not isinstance(child.value, dict) or not child.value:
        raise child.problem("must be a non-empty mapping of annotation: value")
    for k, v in child.value.items():
        if not isinstance(v, str) and not (isinstance(v, dict) and "$param" in v):
            raise child.problem("annotation values must be strings", k)
    overwrite = ctx.spec.child("overwrite").boolean() if "overwrite" in f else True
    return Annotate(scope, ctx.spec.line, annotations=ctx.value("annotations"), overwrite=overwrite)


def _p_remove_annotations(ctx: _Context, scope: Scope, f: dict[str, Any]) -> Operation:
    return RemoveAnnotations(scope, ctx.spec.line, keys=ctx.names("keys"))


def _p_replace(ctx: _Context, scope: Scope, f: dict[str, Any]) -> Operation:
    return Replace(
        scope,
        ctx.spec.line,
        path=ctx.path("path"),
        pattern=ctx.regex("pattern"),
        replacement=ctx.spec.child("replacement").string(empty=True),
        unless=ctx.regex("unless") if "unless" in f else None,
        count=ctx.spec.child("count").integer(0) if "count" in f else 0,
    )


def _p_map(ctx: _Context, scope: Scope, f: dict[str, Any]) -> Operation:
    table = ctx.spec.child("table")
    if not isinstance(table.value, dict) or not table.value:
        raise table.problem("must be a non-empty mapping of source value: target value")
    for k, v in table.value.items():
        if not isinstance(v, str):
            raise table.problem("target values must be strings", k)
    return MapValue(
        scope,
        ctx.spec.line,
        source=ctx.path("from"),
        path=ctx.path("path"),
        table={str(k): v for k, v in table.value.items()},
        separator=ctx.spec.child("separator").string() if "separator" in f else None,
        overwrite=ctx.spec.child("overwrite").boolean() if "overwrite" in f else False,
    )


def _p_embedded_yaml_default(ctx: _Context, scope: Scope, f: dict[str, Any]) -> Operation:
    values = ctx.spec.child("values")
    if not isinstance(values.value, dict) or not values.value:
        raise values.problem("must be a non-empty mapping of top-level key: value")
    return EmbeddedYamlDefault(
        scope, ctx.spec.line, path=ctx.path("path"), values=ctx.value("values")
    )


# name -> (parser, required fields, optional fields, acts on the document only)
OPERATIONS: dict[str, tuple[Parser, set[str], set[str], bool]] = {
    "set": (_p_set, {"path", "value"}, set(), False),
    "default": (_p_default, {"path", "value"}, set(), False),
    "minimum": (_p_minimum, {"path", "value"}, set(), False),
    "remove": (_p_remove, {"path"}, set(), False),
    "rename": (_p_rename, {"path", "to"}, {"onConflict"}, False),
    "dedupe": (_p_dedupe, {"path", "keys"}, {"keep"}, False),
    "append": (_p_append, {"path", "value"}, {"key"}, False),
    "annotate": (_p_annotate, {"annotations"}, {"overwrite"}, True),
    "removeAnnotations": (_p_remove_annotations, {"keys"}, set(), True),
    "replace": (_p_replace, {"path", "pattern", "replacement"}, {"unless", "count"}, False),
    "map": (_p_map, {"from", "path", "table"}, {"separator", "overwrite"}, False),
    "embeddedYamlDefault": (_p_embedded_yaml_default, {"path", "values"}, set(), False),
}


def parse_operation(spec: Spec, parameters: Mapping[str, Any]) -> Operation:
    """One entry of a patch's `operations:` list (`parameters`: the patch's declared ones)."""
    if not isinstance(spec.value, dict):
        raise spec.problem("an operation must be a mapping with an 'op' field")
    if "op" not in spec.value:
        raise spec.problem("required field 'op' is missing; known operations: " + _known())
    name = spec.child("op").string()
    if name not in OPERATIONS:
        raise spec.child("op").problem(f"unknown operation {name!r}; known: {_known()}")
    parser, required, optional, document_only = OPERATIONS[name]
    fields = spec.mapping(COMMON_FIELDS | required | optional, required)
    ctx = _Context(spec, parameters)
    scope = _scope(ctx, fields, document_only=document_only)
    op = parser(ctx, scope, fields)
    return dataclasses.replace(op, params=frozenset(ctx.used)) if ctx.used else op


def _known() -> str:
    return ", ".join(OPERATIONS)
