"""Stage runtime-patches: apply the catalog (`runtime-patches/rendered-patches/*.yaml`).

For each field patch whose `appliesTo` accepts the instance's openDesk version, in catalog
order: the documents of the patch's kinds (indexed by kind once per render), narrowed to the
releases whose chart the patch is scoped to, that its `match` accepts, get its operations, in
place. Every edited field is a Change whose `why` is `<patch id>: <description>`. A required
patch that applies but matches no document fails the render naming it, as does an operation
that cannot be applied. Stage entries (dedup, eso, orphan-sidecars-guard) are not run here: the
chain enables those stages through `patches.enabled_stages`.

Chart versions come from the documents' `helm.sh/chart` labels (`patches.chart_versions`); a
version already in `ctx.chart_versions` wins over the label's, and releases missing there are
filled in. Facts left for the report: `ctx.facts["charts"]` and `ctx.facts["runtime_patches"]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opendesk_deployer.patches import Catalog, Chart, PatchError, chart_versions, load_catalog
from opendesk_deployer.patches.catalog import enabled_stages
from opendesk_deployer.render.document import Document
from opendesk_deployer.render.stage import Change, RenderContext, StageError, StageResult

PARAMETERS_FACT = "patch_parameters"  # ctx.facts key: {patch id: {parameter: value}}


class RuntimePatches:
    name = "runtime-patches"

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        parameters: Mapping[str, Mapping[str, Any]] | None = None,
        enforce_required: bool = True,
    ) -> None:
        """`catalog`: default, the repository's catalog (loaded on first use). `parameters`:
        per-patch parameter values over the catalog's defaults (else taken from
        `ctx.facts["patch_parameters"]`). `enforce_required=False` turns the required-patch
        check off, for renders of stub charts that do not contain the real resources."""
        self._catalog = catalog
        self.parameters = parameters
        self.enforce_required = enforce_required

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = load_catalog()
        return self._catalog

    def run(self, docs: list[Document], ctx: RenderContext) -> StageResult:
        catalog = self.catalog
        charts = _charts(docs, ctx)
        overrides = self._overrides(catalog, ctx)
        by_kind: dict[str, list[tuple[int, Document]]] = {}
        for n, doc in enumerate(docs):
            by_kind.setdefault(str(doc.body.get("kind") or ""), []).append((n, doc))

        changes: list[Change] = []
        problems: list[str] = []
        report: dict[str, dict[str, Any]] = {}
        for patch in catalog:
            if patch.stage is not None:
                continue
            entry: dict[str, Any] = {
                "applies": False,
                "required": patch.required,
                "documents": 0,
                "changes": 0,
            }
            report[patch.id] = entry
            if not patch.applies_to.opendesk_accepts(ctx.opendesk_version):
                continue
            releases: set[str] | None = None
            if patch.applies_to.charts:
                releases = {r for r, c in charts.items() if patch.applies_to.release_accepts(c)}
                if not releases:
                    continue
            entry["applies"] = True
            assert patch.match is not None
            kinds = patch.match.kinds
            if kinds is None:
                candidates = list(enumerate(docs))
            else:
                candidates = sorted(
                    (item for k in kinds for item in by_kind.get(k, ())), key=lambda i: i[0]
                )
            operations = patch.bind(overrides.get(patch.id))
            why = patch.why
            for _, doc in candidates:
                if releases is not None and doc.release not in releases:
                    continue
                if not patch.match.matches(doc, ctx.namespace):
                    continue
                entry["documents"] += 1
                kind = doc.kind
                for op in operations:
                    try:
                        edits = op.apply(doc.body, kind)
                    except PatchError as exc:
                        problems.append(
                            f"patch {patch.id} ({patch.file}:{op.line}), release "
                            f"{doc.release}, {doc.ref}: {exc.args[0]}"
                        )
                        continue
                    for edit in edits:
                        f = edit.field
                        changes.append(Change(self.name, doc.release, doc.ref, f, edit.action, why))
                        doc.history.append((self.name, f, f"{edit.action} ({patch.id})"))
                        entry["changes"] += 1
            if patch.required and not entry["documents"] and self.enforce_required:
                scope = f" (releases {', '.join(sorted(releases))})" if releases else ""
                problems.append(
                    f"required patch {patch.id} ({patch.where}) applies to openDesk "
                    f"{ctx.opendesk_version}{scope} but matched no document: the chart changed "
                    "or the patch is stale (fix its match or its appliesTo)"
                )
        ctx.facts["runtime_patches"] = {
            "patches": report,
            "stages": sorted(enabled_stages(catalog, ctx.opendesk_version)),
        }
        if problems:
            raise StageError(self.name, problems)
        return StageResult(docs, changes)

    def _overrides(self, catalog: Catalog, ctx: RenderContext) -> Mapping[str, Mapping[str, Any]]:
        given = self.parameters
        if given is None:
            given = ctx.facts.get(PARAMETERS_FACT) or {}
        problems = []
        ids = {p.id: p for p in catalog}
        for patch_id, values in given.items():
            if patch_id not in ids:
                problems.append(f"parameters for unknown patch {patch_id!r}")
                continue
            for name in values:
                if name not in ids[patch_id].parameters:
                    declared = ", ".join(sorted(ids[patch_id].parameters)) or "none"
                    problems.append(
                        f"patch {patch_id} has no parameter {name!r} (declared: {declared})"
                    )
        if problems:
            raise StageError(self.name, problems)
        return given


def _charts(docs: list[Document], ctx: RenderContext) -> dict[str, Chart]:
    charts = chart_versions(docs)
    for release, version in ctx.chart_versions.items():
        if release in charts and version:
            charts[release] = Chart(charts[release].name, version)
    for release, chart in charts.items():
        ctx.chart_versions.setdefault(release, chart.version)
    ctx.facts["charts"] = {
        r: {"name": c.name, "version": c.version} for r, c in sorted(charts.items())
    }
    return charts
