"""The stage chain, in the seed's order: runtime patches → JIT → overrides → dedup → lint →
inventory → ESO → redact → guards.

Only stages that exist are in the list; the render-time repairs (patch catalog, JIT, overrides,
dedup, ESO, redact, guards) take their places here as they are built.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from opendesk_deployer import logs
from opendesk_deployer.render.document import Document
from opendesk_deployer.render.stage import Change, RenderContext, Stage
from opendesk_deployer.render.stages.haproxy_rewrite import HaproxyRewriteTarget
from opendesk_deployer.render.stages.inventory import Inventory
from opendesk_deployer.render.stages.lint import Lint

log = logs.get("render.chain")


def default_stages() -> list[Stage]:
    return [
        # runtime patches: the post-renderer replacement sits with the patches
        HaproxyRewriteTarget(),
        Lint(),
        Inventory(),
    ]


@dataclass
class ChainResult:
    documents: list[Document]
    changes: list[Change] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def run(docs: list[Document], ctx: RenderContext, stages: list[Stage] | None = None) -> ChainResult:
    result = ChainResult(sorted(docs, key=Document.sort_key))
    for stage in stages if stages is not None else default_stages():
        started = time.perf_counter()
        out = stage.run(result.documents, ctx)
        result.documents = sorted(out.documents, key=Document.sort_key)
        result.changes.extend(out.changes)
        result.seconds[stage.name] = time.perf_counter() - started
        log.info(
            "stage.done", stage=stage.name, changes=len(out.changes), documents=len(out.documents)
        )
    return result
