"""`appliesTo`: which openDesk versions and which charts (name, version range) a patch is for.

    appliesTo:
      opendesk: ">=1.13.0, <1.14.0"          # PEP 440 specifier set (packaging.SpecifierSet)
      chart:                                 # one mapping or a list (any of them)
        name: appsuite-public-sector
        version: "<2.28.0"                   # optional

Every given condition must hold. Without `appliesTo` a patch applies to every version and every
release. Versions are compared as PEP 440 versions (`1.2.3-rc.1` reads as `1.2.3rc1`, a leading
`v` is ignored) and pre-releases count as inside a range. A chart-scoped patch applies only to
releases whose chart is known (see `charts.chart_versions`) and has that name (and a version in
the range, when one is given).
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from opendesk_deployer.patches.charts import Chart
from opendesk_deployer.patches.spec import Spec


def parse_version(text: str) -> Version | None:
    try:
        return Version(text.strip().removeprefix("v").replace("_", "+"))
    except InvalidVersion:
        return None


@dataclass(frozen=True)
class Range:
    text: str
    specifiers: SpecifierSet

    def contains(self, version: str) -> bool:
        parsed = parse_version(version)
        return parsed is not None and self.specifiers.contains(parsed, prereleases=True)


@dataclass(frozen=True)
class ChartScope:
    name: str
    versions: Range | None = None

    def accepts(self, chart: Chart | None) -> bool:
        if chart is None or chart.name != self.name:
            return False
        return self.versions is None or self.versions.contains(chart.version)

    def __str__(self) -> str:
        return f"{self.name} {self.versions.text}" if self.versions else self.name


@dataclass(frozen=True)
class AppliesTo:
    opendesk: Range | None = None
    charts: tuple[ChartScope, ...] = ()

    def opendesk_accepts(self, version: str) -> bool:
        return self.opendesk is None or self.opendesk.contains(version)

    def release_accepts(self, chart: Chart | None) -> bool:
        return not self.charts or any(scope.accepts(chart) for scope in self.charts)

    def __str__(self) -> str:
        parts = []
        if self.opendesk:
            parts.append(f"openDesk {self.opendesk.text}")
        if self.charts:
            parts.append("chart " + " or ".join(str(c) for c in self.charts))
        return "; ".join(parts) or "always"


def parse_range(spec: Spec) -> Range:
    text = spec.string()
    try:
        specifiers = SpecifierSet(text)
    except InvalidSpecifier:
        raise spec.problem(f"{text!r} is not a version range such as '>=1.13.0, <1.14.0'") from None
    if not len(specifiers):
        raise spec.problem("a version range needs at least one condition")
    return Range(text, specifiers)


def parse_applies_to(spec: Spec, *, charts_allowed: bool = True) -> AppliesTo:
    fields = spec.mapping({"opendesk", "chart"} if charts_allowed else {"opendesk"})
    if not fields:
        raise spec.problem("must name 'opendesk' and/or 'chart' (leave appliesTo out for always)")
    opendesk = parse_range(spec.child("opendesk")) if "opendesk" in fields else None
    charts: list[ChartScope] = []
    if "chart" in fields:
        for item in spec.child("chart").items():
            chart = item.mapping({"name", "version"}, {"name"})
            name = item.child("name").string()
            versions = parse_range(item.child("version")) if "version" in chart else None
            charts.append(ChartScope(name, versions))
    return AppliesTo(opendesk, tuple(charts))
