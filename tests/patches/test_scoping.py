"""Which documents and releases a patch reaches: matchers, appliesTo ranges, chart versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from opendesk_deployer.config.errors import Problem
from opendesk_deployer.config.source import Located
from opendesk_deployer.patches import Chart, chart_versions, parse_chart_label
from opendesk_deployer.patches.matcher import Match, compile_match
from opendesk_deployer.patches.spec import InvalidEntryError, Spec
from opendesk_deployer.patches.versions import AppliesTo, parse_applies_to

from .documents import NAMESPACE, doc


def spec(text: str) -> tuple[Spec, list[Problem]]:
    problems: list[Problem] = []
    return Spec(Located(Path("t.yaml"), yaml.safe_load(text), {}), (), problems), problems


def match(text: str) -> Match:
    s, problems = spec(text)
    try:
        return compile_match(s)
    except InvalidEntryError:
        raise AssertionError(problems) from None


def applies(text: str) -> AppliesTo:
    s, problems = spec(text)
    try:
        return parse_applies_to(s)
    except InvalidEntryError:
        raise AssertionError(problems) from None


def job(name: str = "j", release: str = "rel", **md: Any) -> Any:
    return doc({"kind": "Job", "metadata": {"name": name, **md}}, release=release)


@pytest.mark.parametrize(
    ("criteria", "name", "expected"),
    [
        ("name: ums-keycloak", "ums-keycloak", True),
        ("name: ums-keycloak", "ums-keycloak-0", False),
        ("name: {glob: '*-keycloak'}", "ums-keycloak", True),
        ("name: {glob: '*-keycloak'}", "keycloak", False),
        ("name: {regex: 'ums-(keycloak|portal)'}", "ums-portal", True),
        ("name: {regex: 'ums'}", "ums-portal", False),  # whole value
        ("name: [a, {glob: 'b*'}]", "bee", True),
        ("name: {exact: ''}", "x", False),
    ],
)
def test_name_criteria(criteria: str, name: str, expected: bool) -> None:
    assert match(f"{{kind: Job, {criteria}}}").matches(job(name), NAMESPACE) is expected


def test_kind_release_namespace_labels_annotations() -> None:
    m = match(
        """
        kind: [Job, CronJob]
        release: {glob: 'opendesk-*'}
        namespace: opendesk-test
        labels: {tier: {exists: true}}
        annotations: {helm.sh/hook: {glob: 'post-*'}, argocd.argoproj.io/hook: {exists: false}}
        """
    )
    good = job(
        release="opendesk-x",
        labels={"tier": "a"},
        annotations={"helm.sh/hook": "post-install"},
    )
    assert m.matches(good, NAMESPACE)
    assert m.kinds == {"Job", "CronJob"}
    assert not m.matches(good, "elsewhere")  # no metadata.namespace: the render's
    good.body["metadata"]["namespace"] = "elsewhere"
    assert not m.matches(good, NAMESPACE)
    good.body["metadata"]["namespace"] = NAMESPACE
    good.body["metadata"]["annotations"]["argocd.argoproj.io/hook"] = "Sync"
    assert not m.matches(good, NAMESPACE)
    assert not m.matches(job(release="other", labels={"tier": "a"}), NAMESPACE)


def test_match_list_is_any_and_kind_groups() -> None:
    m = match("[{kind: ConfigMap, name: a}, {kind: '@workload'}]")
    assert m.kinds is not None and {"ConfigMap", "Deployment", "CronJob", "Pod"} <= m.kinds
    assert match("{kind: '*'}").kinds is None
    cm = doc({"kind": "ConfigMap", "metadata": {"name": "a"}})
    assert m.matches(cm, NAMESPACE)
    cm.body["metadata"]["name"] = "b"
    assert not m.matches(cm, NAMESPACE)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{name: x}", "required field 'kind'"),
        ("{kind: Job, nam: x}", "unknown field 'nam'"),
        ("{kind: '@workloads'}", "unknown kind group"),
        ("{kind: Job, name: {regex: '('}}", "invalid regular expression"),
        ("{kind: Job, name: {glob: a, regex: b}}", "exactly one of"),
        ("{kind: Job, name: {exists: true}}", "unknown field 'exists'"),
        ("{kind: Job, labels: {}}", "non-empty mapping"),
    ],
)
def test_bad_matchers(text: str, message: str) -> None:
    s, problems = spec(text)
    with pytest.raises(InvalidEntryError):
        compile_match(s)
    assert message in problems[0].message


# ------------------------------------------------------------------ appliesTo


def test_opendesk_range_excludes_the_upper_bound() -> None:
    a = applies("{opendesk: '>=1.13.0, <1.14.0'}")
    assert a.opendesk_accepts("1.13.0") and a.opendesk_accepts("1.13.1")
    assert not a.opendesk_accepts("1.14.0")
    assert not a.opendesk_accepts("1.12.9")
    assert a.opendesk_accepts("v1.13.2")
    assert not a.opendesk_accepts("not-a-version")
    assert AppliesTo().opendesk_accepts("0.1.0")


def test_chart_scope_by_name_and_version() -> None:
    a = applies(
        "{chart: [{name: appsuite-public-sector, version: '<2.28.0'}, {name: ox-connector}]}"
    )
    assert a.release_accepts(Chart("appsuite-public-sector", "2.27.3"))
    assert a.release_accepts(Chart("appsuite-public-sector", "2.27.4-rc.1"))  # pre-releases count
    # PEP 440: `<V` excludes V's own pre-releases (2.28.0-rc.1 already has 2.28's change)
    assert not a.release_accepts(Chart("appsuite-public-sector", "2.28.0-rc.1"))
    assert not a.release_accepts(Chart("appsuite-public-sector", "2.28.18"))
    assert a.release_accepts(Chart("ox-connector", "9.9.9"))
    assert not a.release_accepts(Chart("nubus", "1.0.0"))
    assert not a.release_accepts(None)  # unknown chart: a chart-scoped patch does not apply
    assert AppliesTo().release_accepts(None)
    assert str(a) == "chart appsuite-public-sector <2.28.0 or ox-connector"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{opendesk: '1.13'}", "is not a version range"),
        ("{opendesk: ''}", "must not be empty"),
        ("{chart: {version: '<1'}}", "required field 'name'"),
        ("{}", "must name 'opendesk' and/or 'chart'"),
        ("{openDesk: '>=1'}", "unknown field 'openDesk'"),
    ],
)
def test_bad_applies_to(text: str, message: str) -> None:
    s, problems = spec(text)
    with pytest.raises(InvalidEntryError):
        parse_applies_to(s)
    assert message in problems[0].message


# ------------------------------------------------------------------ chart versions


@pytest.mark.parametrize(
    ("label", "chart"),
    [
        ("opendesk-keycloak-bootstrap-2.7.1", Chart("opendesk-keycloak-bootstrap", "2.7.1")),
        ("nubus-1.18.1", Chart("nubus", "1.18.1")),
        ("redis-7-thing-1.0.0", Chart("redis-7-thing", "1.0.0")),
        ("foo-1.0.0-rc.1", Chart("foo", "1.0.0-rc.1")),
        ("foo-1.0.0_build.5", Chart("foo", "1.0.0+build.5")),
        ("no-version", None),
        ("foo-1.0", None),
    ],
)
def test_parse_chart_label(label: str, chart: Chart | None) -> None:
    assert parse_chart_label(label) == chart


def test_chart_versions_per_release() -> None:
    docs = [
        # umbrella chart: its own templates and a subchart's, labelled differently
        doc({"kind": "A", "metadata": {}}, release="ums", chart="nubus-1.18.1"),
        doc(
            {"kind": "B", "metadata": {}},
            release="ums",
            chart="keycloak-26.0.0",
            file="nubus/charts/keycloak/templates/sts.yaml",
        ),
        # subchart labels only: the release's own chart cannot be told
        doc(
            {"kind": "B", "metadata": {}},
            release="umbrella",
            chart="sub-1.0.0",
            file="umbrella/charts/sub/templates/x.yaml",
        ),
        # a post-renderer's single file, one label
        doc(
            {"kind": "C", "metadata": {}},
            release="open-xchange",
            chart="appsuite-public-sector-2.28.18",
            file="templates/open-xchange.yaml",
        ),
        # no label at all
        doc({"kind": "D", "metadata": {"labels": None}}, release="bare", chart=None),
    ]
    assert chart_versions(docs) == {
        "ums": Chart("nubus", "1.18.1"),
        "open-xchange": Chart("appsuite-public-sector", "2.28.18"),
    }
