"""Stage guards: the last checks before anything is pushed (concept-rendering-pipeline).

- **namespace markers**: every namespaced document lives in the instance namespace. A missing
  `metadata.namespace` (helm template often leaves it empty) is set to it (a Change); a
  different namespace fails the render. Cluster-scoped kinds (`k8s.CLUSTER_SCOPED`) must not
  carry one (the API server ignores it, Argo CD reports it as drift): it is removed.
- **SCIM**: a SCIM token Secret only when `scim.enabled`. The deployer creates that Secret itself
  (step "ensure SCIM token"); a rendered Secret or ExternalSecret whose name (or target name)
  matches `SCIM_TOKEN` (`scim-token`, `<x>-scim-token`, `<x>-scim-bearer-token`, …) with SCIM off
  fails the render.
- **orphan Synapse sidecars** (fix-inventory-guard-orphan-sidecars): a Synapse sidecar release
  (`SYNAPSE_SIDECARS`, or any `opendesk-synapse-*` release) rendered without the homeserver
  release `opendesk-synapse` fails the render, naming the sidecars
  (incident-synapse-sidecars-without-homeserver: they crash-loop on the homeserver URL).
- **required patches**: the runtime-patches stage fails by itself when a required patch that
  applies matches nothing; this re-checks what it recorded, so that a chain built without that
  stage's check cannot push silently: an entry of `ctx.facts["runtime_patches"]["patches"]` with
  `required`, `applies` and no `documents`, or an entry of `ctx.facts["required_patches"]`
  ({patch id: documents matched}) with 0, fails. Entries without `required` are not checked
  (and `check_required=False`, for renders of stub charts, skips it).
"""

from __future__ import annotations

import re
from typing import Any

from opendesk_deployer.render.document import Document
from opendesk_deployer.render.stage import Change, RenderContext, StageError, StageResult
from opendesk_deployer.render.stages import k8s

HOMESERVER = "opendesk-synapse"
SYNAPSE_SIDECARS = frozenset(
    {
        "opendesk-synapse-web",
        "opendesk-matrix-user-verification-service",
        "opendesk-matrix-user-verification-service-bootstrap",
        "matrix-neodatefix-bot",
        "matrix-neodatefix-bot-bootstrap",
        "opendesk-synapse-admin",
        "opendesk-synapse-adminbot-bootstrap",
        "opendesk-synapse-adminbot-pipe",
        "opendesk-synapse-adminbot-web",
        "opendesk-synapse-auditbot-bootstrap",
        "opendesk-synapse-auditbot-pipe",
        "opendesk-synapse-groupsync",
    }
)
SCIM_TOKEN = re.compile(r"(^|[-.])scim([-.][a-z0-9]+)*[-.]tokens?$")
REQUIRED_PATCHES = "required_patches"


def is_synapse_sidecar(release: str) -> bool:
    return release in SYNAPSE_SIDECARS or (
        release.startswith(HOMESERVER + "-") and release != HOMESERVER
    )


def _scim_name(doc: Document) -> str | None:
    if doc.kind == "Secret":
        return doc.name
    if doc.kind == "ExternalSecret":
        target = (doc.body.get("spec") or {}).get("target") or {}
        return str(target.get("name") or doc.name)
    return None


def required_unmatched(facts: dict[str, Any]) -> list[str]:
    missing: set[str] = set()
    recorded = (facts.get("runtime_patches") or {}).get("patches") or {}
    for pid, entry in recorded.items():
        if (
            isinstance(entry, dict)
            and entry.get("required")
            and entry.get("applies")
            and not entry.get("documents")
        ):
            missing.add(str(pid))
    required = facts.get(REQUIRED_PATCHES)
    if isinstance(required, dict):
        missing.update(str(p) for p, n in required.items() if not n)
    return sorted(missing)


class Guards:
    name = "guards"

    def __init__(self, orphan_sidecars: bool = True, check_required: bool = True) -> None:
        self.orphan_sidecars = orphan_sidecars
        self.check_required = check_required

    def run(self, docs: list[Document], ctx: RenderContext) -> StageResult:
        problems: list[str] = []
        changes: list[Change] = []
        ns = ctx.namespace

        # namespace markers
        for d in docs:
            md = d.body.get("metadata")
            if not isinstance(md, dict):
                continue
            current: Any = md.get("namespace")
            if k8s.is_namespaced(d.kind):
                if not current:
                    md["namespace"] = ns
                    changes.append(
                        Change(
                            self.name,
                            d.release,
                            d.ref,
                            "metadata.namespace",
                            "set",
                            f"namespace marker: the instance namespace {ns}",
                        )
                    )
                elif current != ns:
                    problems.append(
                        f"release {d.release}: {d.ref}: metadata.namespace: {current!r} is not "
                        f"the instance namespace {ns!r} (openDesk supports one namespace)"
                    )
            elif "namespace" in md:
                del md["namespace"]
                changes.append(
                    Change(
                        self.name,
                        d.release,
                        d.ref,
                        "metadata.namespace",
                        "remove",
                        f"namespace marker: {d.kind} is cluster-scoped",
                    )
                )

        # SCIM
        if not ctx.instance.scim.enabled:
            for d in docs:
                name = _scim_name(d)
                if name and SCIM_TOKEN.search(name):
                    problems.append(
                        f"release {d.release}: {d.ref}: a SCIM token {d.kind} is rendered but "
                        "scim.enabled is false"
                    )

        # orphan Synapse sidecars
        if self.orphan_sidecars:
            releases = {d.release for d in docs}
            if HOMESERVER not in releases:
                orphans = sorted(r for r in releases if is_synapse_sidecar(r))
                if orphans:
                    problems.append(
                        "fix-inventory-guard-orphan-sidecars: Synapse sidecar release(s) "
                        f"{', '.join(orphans)} rendered without the homeserver release "
                        f"{HOMESERVER} (apps.element disabled?); they cannot run without it"
                    )

        # required patches, when the runtime-patches stage records them
        if self.check_required:
            missing = required_unmatched(ctx.facts)
            if missing:
                problems.append("required patch(es) matched no document: " + ", ".join(missing))

        if problems:
            raise StageError(self.name, problems)
        return StageResult(docs, changes)
