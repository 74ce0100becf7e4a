"""Stage overrides: the instance's own corrections (`overrides:` in the instance file), applied
after the patch catalog so that an operator can fix one instance without a new catalog entry.

    overrides:
      - release: ums                 # optional: only documents of this release
        apiVersion: apps/v1          # optional
        kind: StatefulSet            # required
        name: ums-keycloak           # required (metadata.name)
        set:                         # path -> value; missing mapping keys are created
          spec.replicas: 3
          metadata.annotations["argocd.argoproj.io/sync-wave"]: "5"
        remove:                      # paths that must exist
          - spec.template.spec.containers[name=keycloak].resources.limits.cpu
        why: "ticket 4711: more replicas for the training week"   # required

Paths are the patch catalog's syntax (`patches/paths.py`: keys, `[0]`, `[*]`, `[name=value]`,
`["dotted.key"]`, globs); a `set` path creates missing mappings on the way (never list items)
and sets every value it names; a `remove` path removes every value it names. An override that
matches no document, a `set` path with nowhere to go or a `remove` path that names nothing
fails the render naming the override with its instance-file line. Every applied value is a
Change whose `why` is `override: <why>`.
"""

from __future__ import annotations

import copy
import pathlib

from opendesk_deployer.config import source
from opendesk_deployer.config.errors import ConfigError
from opendesk_deployer.config.model import Override
from opendesk_deployer.patches.paths import Path, format_trail
from opendesk_deployer.render.document import Document
from opendesk_deployer.render.stage import Change, RenderContext, StageError, StageResult


class Overrides:
    name = "overrides"

    def __init__(self, instance_file: pathlib.Path | None = None) -> None:
        self.instance_file = instance_file
        self._lines: source.Located | None = None

    def _where(self, i: int, *more: str | int) -> str:
        """`overrides[i]` with the instance file and line when known."""
        label = source.dotted(("overrides", i, *more))
        if self.instance_file is None:
            return label
        if self._lines is None:
            try:
                self._lines = source.read(self.instance_file)
            except ConfigError:
                return f"{self.instance_file}: {label}"
        line = self._lines.line_of(("overrides", i, *more))
        return f"{self.instance_file}:{line}: {label}" if line else f"{self.instance_file}: {label}"

    def run(self, docs: list[Document], ctx: RenderContext) -> StageResult:
        overrides = ctx.instance.overrides
        if not overrides:
            return StageResult(docs)
        changes: list[Change] = []
        problems: list[str] = []
        for i, ov in enumerate(overrides):
            targets = [d for d in docs if _matches(ov, d)]
            if not targets:
                what = f"{ov.api_version + ' ' if ov.api_version else ''}{ov.kind}/{ov.name}"
                scope = f" in release {ov.release}" if ov.release else ""
                problems.append(f"{self._where(i)}: matches no rendered document ({what}{scope})")
                continue
            why = f"override: {ov.why}"
            for doc in targets:
                for path, value in ov.set_.items():
                    slots = list(Path.parse(path).slots(doc.body, create=True))
                    if not slots:
                        problems.append(
                            f"{self._where(i, 'set', path)}: {doc.ref}: nowhere to set {path}"
                        )
                    for parent, key, trail in slots:
                        parent[key] = copy.deepcopy(value)
                        changes.append(
                            Change(self.name, doc.release, doc.ref, format_trail(trail), "set", why)
                        )
                for j, path in enumerate(ov.remove):
                    hits = list(Path.parse(path).find(doc.body))
                    if not hits:
                        problems.append(
                            f"{self._where(i, 'remove', j)}: {doc.ref}: {path} does not exist"
                        )
                    # list items last index first, so that earlier indexes stay valid
                    for parent, key, trail in sorted(
                        hits, key=lambda h: h[1] if isinstance(h[1], int) else -1, reverse=True
                    ):
                        del parent[key]
                        changes.append(
                            Change(
                                self.name, doc.release, doc.ref, format_trail(trail), "remove", why
                            )
                        )
        if problems:
            raise StageError(self.name, problems)
        return StageResult(docs, changes)


def _matches(ov: Override, doc: Document) -> bool:
    return (
        doc.kind == ov.kind
        and doc.name == ov.name
        and (ov.release is None or doc.release == ov.release)
        and (ov.api_version is None or doc.api_version == ov.api_version)
    )
