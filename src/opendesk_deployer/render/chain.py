"""The stage chain, in the seed's order (concept-rendering-pipeline):

    patch-haproxy-rewrite-target   what upstream's open-xchange post-renderer did (helm time)
    runtime-patches                the catalog, runtime-patches/rendered-patches/*.yaml
    jit                            Keycloak JIT user-sync plugin (externalIdp.userSync)
    overrides                      the instance's `overrides:`
    dedup                          fix-resource-dedup            (enabled by the catalog)
    lint                           what the API server / Argo CD would reject
    inventory                      per-release kinds and names for render-meta.yaml
    eso                            fix-secrets-to-eso            (catalog + secretsManager set)
    redact                         nothing secret outside Secrets; values registered
    guards                         namespace markers, SCIM, orphan Synapse sidecars
                                   (fix-inventory-guard-orphan-sidecars, enabled by the
                                   catalog), required patches

The three whole-stage fixes are catalog entries (`stage: dedup | eso | orphan-sidecars-guard`);
`patches.enabled_stages(catalog, version)` says which apply to the openDesk version and
`default_stages(ctx, enabled)` takes that set (None: all three on). See docs/stages.md.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from opendesk_deployer import logs
from opendesk_deployer.patches import Catalog, enabled_stages, load_catalog
from opendesk_deployer.render.document import Document
from opendesk_deployer.render.stage import Change, RenderContext, Stage
from opendesk_deployer.render.stages.dedup import Dedup
from opendesk_deployer.render.stages.eso import SecretsToEso
from opendesk_deployer.render.stages.guards import Guards
from opendesk_deployer.render.stages.haproxy_rewrite import HaproxyRewriteTarget
from opendesk_deployer.render.stages.inventory import Inventory
from opendesk_deployer.render.stages.jit import JitPlugin
from opendesk_deployer.render.stages.lint import Lint
from opendesk_deployer.render.stages.overrides import Overrides
from opendesk_deployer.render.stages.redact import Redact
from opendesk_deployer.render.stages.runtime_patches import RuntimePatches

log = logs.get("render.chain")

WHOLE_STAGE_FIXES = {
    "dedup": "fix-resource-dedup",
    "eso": "fix-secrets-to-eso",
    "orphan-sidecars-guard": "fix-inventory-guard-orphan-sidecars",
}


def default_stages(
    ctx: RenderContext,
    enabled: set[str] | None = None,
    *,
    catalog: Catalog | None = None,
    enforce_required: bool = True,
    instance_file: Path | None = None,
) -> list[Stage]:
    """The chain for `ctx`. `enabled`: the whole-stage fixes the catalog enables for this
    openDesk version (`patches.enabled_stages`); None: all of them. `catalog`: the runtime
    patches (default: the repository's catalog). `enforce_required=False` lets a render of stub
    charts pass without the documents required patches are written for. `instance_file`: for
    the file and line of an override that matches nothing."""
    on = set(WHOLE_STAGE_FIXES) if enabled is None else enabled
    stages: list[Stage] = [
        HaproxyRewriteTarget(),
        RuntimePatches(catalog, enforce_required=enforce_required),
        JitPlugin(),
        Overrides(instance_file),
    ]
    if "dedup" in on:
        stages.append(Dedup())
    stages += [Lint(), Inventory()]
    if "eso" in on:
        stages.append(SecretsToEso())  # does nothing without secretsManager
    stages += [
        Redact(),
        Guards(orphan_sidecars="orphan-sidecars-guard" in on, check_required=enforce_required),
    ]
    return stages


def unrepaired_stages() -> list[Stage]:
    """No repairs: only the upstream post-renderer's work (which a plain helmfile render does
    too) and the inventory. For comparing with plain `helmfile template` output only: without
    the repairs openDesk's charts fail lint (and server-side apply), so lint is off too."""
    return [HaproxyRewriteTarget(), Inventory()]


def catalog_stages(
    ctx: RenderContext,
    *,
    catalog: Catalog | None = None,
    enforce_required: bool = True,
    instance_file: Path | None = None,
) -> list[Stage]:
    """`default_stages` with the whole-stage fixes the catalog enables for ctx's version."""
    catalog = catalog if catalog is not None else load_catalog()
    return default_stages(
        ctx,
        enabled_stages(catalog, ctx.opendesk_version),
        catalog=catalog,
        enforce_required=enforce_required,
        instance_file=instance_file,
    )


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the post-processing. Rendered documents are
    trees (no reference cycles, freed by reference counting), but with millions of them alive
    every full collection walks them all: a measurable part of load + chain + dump time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class ChainResult:
    documents: list[Document]
    changes: list[Change] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def run(docs: list[Document], ctx: RenderContext, stages: list[Stage] | None = None) -> ChainResult:
    result = ChainResult(sorted(docs, key=Document.sort_key))
    for stage in stages if stages is not None else catalog_stages(ctx):
        started = time.perf_counter()
        out = stage.run(result.documents, ctx)
        result.documents = sorted(out.documents, key=Document.sort_key)
        result.changes.extend(out.changes)
        result.seconds[stage.name] = time.perf_counter() - started
        log.info(
            "stage.done", stage=stage.name, changes=len(out.changes), documents=len(out.documents)
        )
    return result
