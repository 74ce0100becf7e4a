"""Stage dedup (fix-resource-dedup): one object per identity.

Some helmfile child charts render the same object twice (openDesk's `ums-stack-data-ums-ucr`
ConfigMap). The API server, and Argo CD, know one object per (group, kind, namespace, name):

- identical documents (same identity, same body) are merged: the first is kept (earliest wave
  when the release waves are known, then release/file/index order), each other one is dropped
  with a Change naming the one kept;
- different documents with the same identity fail the render, naming both sources.

A missing `metadata.namespace` counts as the instance namespace (helm template often leaves it
empty and the namespace guard fills it in later), so `namespace: <ns>` and no namespace are the
same object. Bodies are compared as parsed data (no dumping, no digests).
"""

from __future__ import annotations

from typing import Any

from opendesk_deployer.render.document import Document
from opendesk_deployer.render.stage import Change, RenderContext, StageError, StageResult
from opendesk_deployer.render.stages.k8s import is_namespaced

WHY = "fix-resource-dedup"


def identity(doc: Document, namespace: str) -> tuple[str, str, str, str]:
    kind = doc.kind
    ns = (doc.namespace or namespace) if is_namespaced(kind) else ""
    return (doc.group, kind, ns, doc.name)


def _without_namespace(body: dict[str, Any]) -> dict[str, Any]:
    md = body.get("metadata")
    if not isinstance(md, dict) or "namespace" not in md:
        return body
    return {**body, "metadata": {k: v for k, v in md.items() if k != "namespace"}}


def same_body(a: Document, b: Document) -> bool:
    if a.body == b.body:
        return True
    return _without_namespace(a.body) == _without_namespace(b.body)


class Dedup:
    name = "dedup"

    def run(self, docs: list[Document], ctx: RenderContext) -> StageResult:
        waves: dict[str, int] = ctx.facts.get("release_waves") or {}
        groups: dict[tuple[str, str, str, str], list[Document]] = {}
        for d in docs:
            groups.setdefault(identity(d, ctx.namespace), []).append(d)
        dropped: set[int] = set()
        changes: list[Change] = []
        problems: list[str] = []
        for ident, found in groups.items():
            if len(found) == 1:
                continue
            found.sort(key=lambda d: (waves.get(d.release, 0), d.sort_key()))
            keep = found[0]
            for other in found[1:]:
                if same_body(keep, other):
                    dropped.add(id(other))
                    changes.append(
                        Change(
                            self.name,
                            other.release,
                            other.ref,
                            "",
                            "drop",
                            f"{WHY}: identical to {keep.source}",
                        )
                    )
                else:
                    group, kind, ns, name = ident
                    what = f"{group + '/' if group else ''}{kind} {ns + '/' if ns else ''}{name}"
                    problems.append(
                        f"{what} is rendered twice with different content: {keep.source} "
                        f"(release {keep.release}) and {other.source} (release {other.release})"
                    )
        if problems:
            raise StageError(self.name, problems)
        if not dropped:
            return StageResult(docs, changes)
        return StageResult([d for d in docs if id(d) not in dropped], changes)
