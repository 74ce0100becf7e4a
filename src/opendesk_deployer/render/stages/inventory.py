"""Stage inventory: a per-release list of kinds and names, written into render-meta.yaml."""

from __future__ import annotations

from opendesk_deployer.render.document import Document
from opendesk_deployer.render.stage import RenderContext, StageResult


class Inventory:
    name = "inventory"

    def run(self, docs: list[Document], ctx: RenderContext) -> StageResult:
        inventory: dict[str, list[str]] = {}
        for d in docs:
            inventory.setdefault(d.release, []).append(f"{d.kind}/{d.name}")
        ctx.facts["inventory"] = {r: sorted(items) for r, items in sorted(inventory.items())}
        return StageResult(docs)
