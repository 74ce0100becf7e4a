"""Which chart (name and version) each release was rendered from.

helmfile's `--output-dir` output does not carry Chart.yaml, but charts label what they render
with `helm.sh/chart: <name>-<version>` (`+` written as `_`). Helmfile writes a release's files
below `<release>/<chart>/templates/…` and its subcharts' below `<release>/<chart>/charts/<sub>/…`,
so the first directory of a document's file names the release's own chart: the label whose
name is that chart gives the version, and subchart labels do not confuse it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from opendesk_deployer.render.document import Document

CHART_LABEL = "helm.sh/chart"
# `<name>-<version>`: the version is the last `-X.Y.Z…` (Helm chart versions are SemVer 2).
_LABEL = re.compile(r"^(?P<name>.+)-(?P<version>v?\d+\.\d+\.\d+(?:[-_+][0-9A-Za-z.\-_+]*)?)$")


class Chart(NamedTuple):
    name: str
    version: str


def parse_chart_label(label: str) -> Chart | None:
    """`opendesk-keycloak-bootstrap-2.7.1` → Chart('opendesk-keycloak-bootstrap', '2.7.1')."""
    m = _LABEL.match(label.strip())
    if not m:
        return None
    return Chart(m["name"], m["version"].replace("_", "+"))


def _top_chart(doc: Document) -> str | None:
    """The release's own chart from the file path (`<chart>/templates/x.yaml`), if visible."""
    parts = doc.file.split("/", 2)
    return parts[0] if len(parts) == 3 and parts[1] in ("templates", "charts") else None


def chart_versions(docs: Iterable[Document]) -> dict[str, Chart]:
    """Release → (chart name, version), for every release whose chart can be told.

    Per release: labels of documents whose name equals the release's own chart (first directory
    of the file) win; without such a directory (a post-renderer's single file) the release's
    labels must agree on one chart. A release without a usable label is left out: chart-scoped
    patches do not apply to it.
    """
    tops: dict[str, set[str]] = {}
    labels: dict[str, dict[Chart, int]] = {}
    parsed: dict[str, Chart | None] = {}  # label text -> chart, parsed once
    for doc in docs:
        top = _top_chart(doc)
        if top is not None:
            tops.setdefault(doc.release, set()).add(top)
        md = doc.body.get("metadata")
        doc_labels = md.get("labels") if isinstance(md, dict) else None
        label = doc_labels.get(CHART_LABEL) if isinstance(doc_labels, dict) else None
        if not isinstance(label, str):
            continue
        if label not in parsed:
            parsed[label] = parse_chart_label(label)
        chart = parsed[label]
        if chart is not None:
            counts = labels.setdefault(doc.release, {})
            counts[chart] = counts.get(chart, 0) + 1
    result: dict[str, Chart] = {}
    for release, counts in labels.items():
        names = tops.get(release, set())
        own = [c for c in counts if c.name in names] if len(names) == 1 else []
        candidates = own or (list(counts) if not names else [])
        if len(candidates) == 1:
            result[release] = candidates[0]
    return result
