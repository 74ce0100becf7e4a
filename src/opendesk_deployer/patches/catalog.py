"""The runtime-patch catalog: `runtime-patches/rendered-patches/*.yaml`, loaded and checked.

Each file holds `patches:`, a list of entries. An entry is either a field patch

    - id: fix-subpath-casing            # the seed's fix name; unique across all files
      description: …                    # one line: what it does (the `why` of every Change)
      reason: …                         # why the chart needs it (docs, catalog index)
      appliesTo: {opendesk: ">=1.13.0", chart: {name: …, version: …}}   # optional
      required: false                   # true: matching no document fails the render
      parameters: {name: default}       # optional inputs, used as {$param: name} in values
      match: {kind: …, name: …, …}      # see matcher.py
      operations: [{op: …, …}, …]       # see primitives.py

or a stage entry, which names a built-in stage instead of editing fields itself:

    - id: fix-resource-dedup
      description: …
      stage: dedup                      # dedup | eso | orphan-sidecars-guard
      appliesTo: {opendesk: …}          # optional; openDesk version only

Files are read in name order and entries apply in that order. A malformed entry or an unknown
primitive fails with file and line (ConfigError); an id defined twice fails naming both places.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opendesk_deployer.config import source
from opendesk_deployer.config.errors import ConfigError, Problem
from opendesk_deployer.patches.matcher import Match, compile_match
from opendesk_deployer.patches.primitives import Operation, parse_operation
from opendesk_deployer.patches.spec import InvalidEntryError, Spec
from opendesk_deployer.patches.versions import AppliesTo, parse_applies_to
from opendesk_deployer.toolchain import REPO_ROOT

DEFAULT_DIR = REPO_ROOT / "runtime-patches" / "rendered-patches"
# Built-in stages a catalog entry can enable (the chain maps them to its stage objects).
STAGES = ("dedup", "eso", "orphan-sidecars-guard")
_ID = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_PARAM = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_FIELD_ENTRY = {
    "id",
    "description",
    "reason",
    "appliesTo",
    "required",
    "parameters",
    "match",
    "operations",
}
_STAGE_ENTRY = {"id", "description", "reason", "appliesTo", "stage"}


@dataclass(frozen=True)
class Patch:
    id: str
    description: str
    file: Path
    line: int | None
    reason: str = ""
    applies_to: AppliesTo = field(default_factory=AppliesTo)
    required: bool = False
    parameters: Mapping[str, Any] = field(default_factory=dict)
    match: Match | None = None
    operations: tuple[Operation, ...] = ()
    stage: str | None = None

    @property
    def why(self) -> str:
        """What every Change made by this patch says: `<id>: <description>`."""
        return f"{self.id}: {self.description}"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else str(self.file)

    def bind(self, overrides: Mapping[str, Any] | None = None) -> tuple[Operation, ...]:
        """The operations with parameters bound: declared defaults, then `overrides`."""
        if not any(op.params for op in self.operations):
            return self.operations
        values = {**self.parameters, **(overrides or {})}
        return tuple(op.bind(values) for op in self.operations)


@dataclass(frozen=True)
class Catalog:
    patches: tuple[Patch, ...]

    def __iter__(self) -> Iterator[Patch]:
        return iter(self.patches)

    def __len__(self) -> int:
        return len(self.patches)

    def get(self, patch_id: str) -> Patch:
        for p in self.patches:
            if p.id == patch_id:
                return p
        raise KeyError(patch_id)

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.patches]


def enabled_stages(catalog: Catalog, opendesk_version: str) -> set[str]:
    """The built-in stages (`dedup`, `eso`, `orphan-sidecars-guard`) that catalog entries
    enable for this openDesk version."""
    return {
        p.stage
        for p in catalog
        if p.stage is not None and p.applies_to.opendesk_accepts(opendesk_version)
    }


def load_catalog(directory: Path = DEFAULT_DIR) -> Catalog:
    """Every `*.yaml` of `directory`, in name order."""
    if not directory.is_dir():
        raise ConfigError([Problem(directory, None, "", "runtime-patch catalog not found")])
    return load_files(sorted(directory.glob("*.yaml")))


def load_files(files: Iterable[Path]) -> Catalog:
    problems: list[Problem] = []
    patches: list[Patch] = []
    first_seen: dict[str, Spec] = {}
    for file in files:
        try:
            located = source.read(file)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        root = Spec(located, (), problems)
        try:
            root.mapping({"patches"}, {"patches"})
            entries = root.child("patches")
            if not isinstance(entries.value, list):
                raise entries.problem("must be a list of patch entries")
        except InvalidEntryError:
            continue
        for n in range(len(entries.value)):
            entry = entries.child(n)
            try:
                patch = _parse_entry(entry)
            except InvalidEntryError:
                continue
            id_spec = entry.child("id")
            if patch.id in first_seen:
                other = first_seen[patch.id]
                id_spec.problem(f"duplicate patch id {patch.id!r}: also defined at {other.where}")
                continue
            first_seen[patch.id] = id_spec
            patches.append(patch)
    if problems:
        raise ConfigError(problems)
    return Catalog(tuple(patches))


def _parse_entry(spec: Spec) -> Patch:
    if not isinstance(spec.value, dict):
        raise spec.problem("a patch entry must be a mapping")
    is_stage = "stage" in spec.value
    allowed = _STAGE_ENTRY if is_stage else _FIELD_ENTRY
    required = {"id", "description", "stage"} if is_stage else {"id", "description", "match"}
    if not is_stage:
        required.add("operations")
    for key in spec.value:
        if key not in allowed:
            if is_stage and key in _FIELD_ENTRY:
                raise spec.problem(
                    f"{key!r} is not allowed in a stage entry (the stage does the work)", key
                )
            raise spec.problem(
                f"unknown field {key!r}; expected one of: {', '.join(sorted(allowed))}", key
            )
    fields = spec.mapping(allowed, required)
    patch_id = spec.child("id").string()
    if not _ID.match(patch_id):
        raise spec.child("id").problem(
            f"{patch_id!r} is not a valid id (lowercase letters, digits and '-')"
        )
    description = spec.child("description").string()
    reason = spec.child("reason").string() if "reason" in fields else ""
    applies_to = (
        parse_applies_to(spec.child("appliesTo"), charts_allowed=not is_stage)
        if "appliesTo" in fields
        else AppliesTo()
    )
    line = spec.line
    if is_stage:
        stage = spec.child("stage").choice(STAGES)
        return Patch(patch_id, description, spec.file, line, reason, applies_to, stage=stage)
    parameters = _parameters(spec.child("parameters")) if "parameters" in fields else {}
    match = compile_match(spec.child("match"))
    ops_spec = spec.child("operations")
    if not isinstance(ops_spec.value, list) or not ops_spec.value:
        raise ops_spec.problem("must be a non-empty list of operations")
    operations: list[Operation] = []
    failed = False
    for i in range(len(ops_spec.value)):
        try:
            operations.append(parse_operation(ops_spec.child(i), parameters))
        except InvalidEntryError:
            failed = True  # keep going: report every bad operation of the entry
    if failed:
        raise InvalidEntryError("operations")
    used = {name for op in operations for name in op.params}
    for name in sorted(set(parameters) - used):
        spec.child("parameters").problem(f"parameter {name!r} is declared but never used", name)
    return Patch(
        patch_id,
        description,
        spec.file,
        line,
        reason,
        applies_to,
        spec.child("required").boolean() if "required" in fields else False,
        parameters,
        match,
        tuple(operations),
    )


def _parameters(spec: Spec) -> dict[str, Any]:
    if not isinstance(spec.value, dict) or not spec.value:
        raise spec.problem("must be a non-empty mapping of parameter name: default value")
    for name in spec.value:
        if not isinstance(name, str) or not _PARAM.match(name):
            raise spec.problem(f"{name!r} is not a valid parameter name", name)
    return dict(spec.value)
