"""Stages: functions over the document list that also say what they changed (provenance).

The chain runs in the seed's order: runtime patches → JIT → overrides → dedup → lint →
inventory → ESO → redact → guards. A stage either returns the (possibly changed) documents with
its Change records, or raises StageError naming release, document and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from opendesk_deployer.config.model import Instance
from opendesk_deployer.render.document import Document


class StageError(Exception):
    """A render failure found by a stage; the message names release, document and field."""

    def __init__(self, stage: str, problems: list[str]) -> None:
        self.stage = stage
        self.problems = problems
        super().__init__(
            f"{stage}: " + "; ".join(problems)
            if len(problems) == 1
            else f"{stage}: {len(problems)} problems:\n  " + "\n  ".join(problems)
        )


@dataclass(frozen=True)
class Change:
    """One thing a stage did to one document: `why` is the patch id or rule."""

    stage: str
    release: str
    document: str  # Document.ref
    field: str
    action: str  # set, remove, rename, add, merge, convert, drop, ...
    why: str

    def as_dict(self) -> dict[str, str]:
        return {
            "stage": self.stage,
            "release": self.release,
            "document": self.document,
            "field": self.field,
            "action": self.action,
            "why": self.why,
        }


@dataclass
class RenderContext:
    """What stages may read: the instance, the openDesk version, the namespace, and a place
    to leave facts for the output (inventory, secret values for the secrets manager)."""

    instance: Instance
    opendesk_version: str
    namespace: str
    chart_versions: dict[str, str] = field(default_factory=dict)  # release -> chart version
    facts: dict[str, Any] = field(default_factory=dict)
    work_dir: Path | None = None


@dataclass
class StageResult:
    documents: list[Document]
    changes: list[Change] = field(default_factory=list)


class Stage(Protocol):
    name: str

    def run(self, docs: list[Document], ctx: RenderContext) -> StageResult: ...
