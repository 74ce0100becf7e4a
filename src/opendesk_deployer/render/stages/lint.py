"""Stage lint: reject what the API server or Argo CD would reject, before anything is pushed.

This is the part needed for a correct push (every document has apiVersion, kind and a valid
name); the repairs add the field-level checks (duplicate env names and ports, protocol, casing,
hooks). Each problem names release, document and field.
"""

from __future__ import annotations

import re

from opendesk_deployer.render.document import Document
from opendesk_deployer.render.stage import RenderContext, StageError, StageResult

# RFC 1123 subdomain: what most kinds require of metadata.name.
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Kinds whose names may contain ':' and upper case (RBAC allows path segment names).
_LENIENT_NAMES = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


def document_problems(doc: Document) -> list[str]:
    problems: list[str] = []
    where = f"release {doc.release}, {doc.source}"
    if not doc.api_version:
        problems.append(f"{where}: apiVersion: missing")
    if not doc.kind:
        problems.append(f"{where}: kind: missing")
    name = doc.name
    if not name:
        problems.append(f"{where} ({doc.kind or '?'}): metadata.name: missing")
    elif doc.kind in _LENIENT_NAMES:
        if "/" in name or name in (".", "..") or len(name) > 253:
            problems.append(f"{where} ({doc.kind}/{name}): metadata.name: not a valid path segment")
    elif len(name) > 253 or not _SUBDOMAIN.match(name):
        problems.append(
            f"{where} ({doc.kind}/{name}): metadata.name: {name!r} is not a valid name "
            "(lowercase RFC 1123 subdomain)"
        )
    return problems


class Lint:
    name = "lint"

    def run(self, docs: list[Document], ctx: RenderContext) -> StageResult:
        problems = [p for d in docs for p in document_problems(d)]
        if problems:
            raise StageError(self.name, problems)
        return StageResult(docs)
