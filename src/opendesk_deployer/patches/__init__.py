"""Runtime patches: the declarative catalog of render-time chart repairs and its small DSL.

- `paths`: the field-path syntax (`spec.template.spec.containers[*].ports[*]`);
- `matcher`: which documents a patch touches;
- `workloads`: where pod specs and containers are, per kind;
- `primitives`: the operations (set, default, remove, rename, dedupe, append, …);
- `versions`: `appliesTo` (openDesk version range, chart name and version range);
- `charts`: each release's chart name and version, from the `helm.sh/chart` labels;
- `catalog`: loading `runtime-patches/rendered-patches/*.yaml` with file-and-line errors.

The stage that applies the catalog is `render/stages/runtime_patches.py`; the reference is
`docs/patches.md`.
"""

from __future__ import annotations

from opendesk_deployer.patches.catalog import (
    DEFAULT_DIR,
    STAGES,
    Catalog,
    Patch,
    enabled_stages,
    load_catalog,
    load_files,
)
from opendesk_deployer.patches.charts import Chart, chart_versions, parse_chart_label
from opendesk_deployer.patches.primitives import PatchError

__all__ = [
    "DEFAULT_DIR",
    "STAGES",
    "Catalog",
    "Chart",
    "Patch",
    "PatchError",
    "chart_versions",
    "enabled_stages",
    "load_catalog",
    "load_files",
    "parse_chart_label",
]
