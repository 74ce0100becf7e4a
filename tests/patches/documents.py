"""Small builders for rendered documents and a render context, shared by the patch tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from opendesk_deployer.patches import Catalog, load_files
from opendesk_deployer.render.document import Document
from opendesk_deployer.render.stage import RenderContext
from opendesk_deployer.render.stages.runtime_patches import RuntimePatches

NAMESPACE = "opendesk-test"


def labels(chart: str | None, release: str) -> dict[str, str]:
    out = {"app.kubernetes.io/instance": release}
    if chart:
        out["helm.sh/chart"] = chart
    return out


def doc(
    body: dict[str, Any] | str,
    *,
    release: str = "rel",
    chart: str | None = "chart-1.0.0",
    file: str | None = None,
    index: int = 0,
) -> Document:
    """A document of `release`; `body` as a mapping or YAML text. Unless the body has its own,
    metadata.labels gets `helm.sh/chart: <chart>` and the file is `<chart name>/templates/…`."""
    data = yaml.safe_load(body) if isinstance(body, str) else body
    md = data.setdefault("metadata", {})
    if chart and "labels" not in md:
        md["labels"] = labels(chart, release)
    chart_dir = chart.rsplit("-", 1)[0] if chart else "chart"
    return Document(release, file or f"{chart_dir}/templates/x{index}.yaml", index, data)


def workload(
    kind: str = "Deployment",
    name: str = "app",
    containers: list[dict[str, Any]] | None = None,
    init_containers: list[dict[str, Any]] | None = None,
    **kwargs: Any,
) -> Document:
    pod: dict[str, Any] = {"containers": containers or [{"name": "main", "image": "x"}]}
    if init_containers is not None:
        pod["initContainers"] = init_containers
    if kind == "Pod":
        body: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "spec": pod}
    elif kind == "CronJob":
        body = {
            "apiVersion": "batch/v1",
            "kind": kind,
            "spec": {"jobTemplate": {"spec": {"template": {"spec": pod}}}},
        }
    else:
        group = "batch/v1" if kind == "Job" else "apps/v1"
        body = {"apiVersion": group, "kind": kind, "spec": {"template": {"spec": pod}}}
    body["metadata"] = {"name": name}
    return doc(body, **kwargs)


def context(version: str = "1.13.1") -> RenderContext:
    return RenderContext(None, version, NAMESPACE)  # type: ignore[arg-type]


def catalog_from(tmp: Path, text: str, name: str = "001-test.yaml") -> Catalog:
    f = tmp / name
    f.write_text(text)
    return load_files([f])


def run(
    catalog: Catalog, docs: list[Document], version: str = "1.13.1", **kwargs: Any
) -> tuple[list[Document], RenderContext, Any]:
    ctx = context(version)
    result = RuntimePatches(catalog, **kwargs).run(docs, ctx)
    return result.documents, ctx, result.changes
