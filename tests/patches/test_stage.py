"""The runtime-patches stage: version and chart scoping, required patches, provenance,
parameters, and errors that name the patch, release, document and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from opendesk_deployer.render import chain
from opendesk_deployer.render.stage import Change, StageError
from opendesk_deployer.render.stages.runtime_patches import RuntimePatches

from .documents import catalog_from, context, doc, run, workload

TTL_PATCH = """\
patches:
  - id: fix-old-ttl
    description: strip the TTL
    appliesTo: {{opendesk: "{range}"}}
    match: {{kind: Job}}
    operations:
      - {{op: remove, path: spec.ttlSecondsAfterFinished}}
"""


def job(release: str = "rel", chart: str | None = "chart-1.0.0", name: str = "j") -> object:
    return doc(
        {"kind": "Job", "metadata": {"name": name}, "spec": {"ttlSecondsAfterFinished": 5}},
        release=release,
        chart=chart,
    )


@pytest.mark.parametrize(
    ("version", "applied"),
    [("1.13.0", True), ("1.13.1", True), ("1.14.0", False), ("1.14.1", False), ("1.12.9", False)],
)
def test_a_patch_for_below_1_14_leaves_1_14_alone(
    tmp_path: Path, version: str, applied: bool
) -> None:
    catalog = catalog_from(tmp_path, TTL_PATCH.format(range=">=1.13.0, <1.14.0"))
    [out], ctx, changes = run(catalog, [job()], version=version)
    assert ("ttlSecondsAfterFinished" not in out.body["spec"]) is applied
    assert bool(changes) is applied
    assert ctx.facts["runtime_patches"]["patches"]["fix-old-ttl"]["applies"] is applied


CHART_PATCH = """\
patches:
  - id: fix-ox-legacy
    description: legacy OX only
    appliesTo:
      opendesk: ">=1.13.0"
      chart: {name: appsuite-public-sector, version: "<2.28.0"}
    required: true
    match: {kind: Job}
    operations:
      - {op: remove, path: spec.ttlSecondsAfterFinished}
"""


def test_chart_scope_picks_releases_by_chart_name_and_version(tmp_path: Path) -> None:
    catalog = catalog_from(tmp_path, CHART_PATCH)
    docs = [
        job("ox-old", "appsuite-public-sector-2.27.1"),
        job("ox-new", "appsuite-public-sector-2.28.18"),
        job("other", "nubus-1.18.1"),
        job("unlabelled", None),
    ]
    out, ctx, changes = run(catalog, docs)
    assert [c.release for c in changes] == ["ox-old"]
    assert ["ttlSecondsAfterFinished" in d.body["spec"] for d in out] == [False, True, True, True]
    assert ctx.facts["charts"]["ox-new"] == {
        "name": "appsuite-public-sector",
        "version": "2.28.18",
    }
    assert "unlabelled" not in ctx.facts["charts"]
    assert ctx.chart_versions["ox-old"] == "2.27.1"


def test_a_known_chart_version_in_the_context_wins_over_the_label(tmp_path: Path) -> None:
    catalog = catalog_from(tmp_path, CHART_PATCH)
    ctx = context()
    ctx.chart_versions["ox"] = "2.27.0"
    result = RuntimePatches(catalog).run([job("ox", "appsuite-public-sector-2.28.18")], ctx)
    assert [c.release for c in result.changes] == ["ox"]


def test_a_chart_scoped_patch_without_its_chart_is_not_required(tmp_path: Path) -> None:
    catalog = catalog_from(tmp_path, CHART_PATCH)
    _, ctx, changes = run(catalog, [job("ox", "appsuite-public-sector-2.28.18")])
    assert changes == []
    assert ctx.facts["runtime_patches"]["patches"]["fix-ox-legacy"]["applies"] is False


def test_a_required_patch_that_matches_nothing_fails_naming_it(tmp_path: Path) -> None:
    catalog = catalog_from(tmp_path, CHART_PATCH)
    configmap = doc(
        {"kind": "ConfigMap", "metadata": {"name": "c"}},
        release="ox",
        chart="appsuite-public-sector-2.27.1",
    )
    with pytest.raises(StageError) as exc:
        run(catalog, [configmap])
    assert exc.value.stage == "runtime-patches"
    [problem] = exc.value.problems
    assert "required patch fix-ox-legacy" in problem
    assert f"{tmp_path / '001-test.yaml'}:2" in problem
    assert "openDesk 1.13.1" in problem and "releases ox" in problem
    assert "matched no document" in problem
    # unless the stage is told not to (renders of stub charts)
    _, _, changes = run(catalog, [configmap], enforce_required=False)
    assert changes == []


def test_a_required_patch_outside_its_version_range_is_not_fatal(tmp_path: Path) -> None:
    text = TTL_PATCH.format(range="<1.14.0").replace("    match:", "    required: true\n    match:")
    catalog = catalog_from(tmp_path, text)
    with pytest.raises(StageError, match="required patch fix-old-ttl"):
        run(catalog, [], version="1.13.1")
    assert run(catalog, [], version="1.14.0")[2] == []


def test_changes_carry_provenance_and_history(tmp_path: Path) -> None:
    catalog = catalog_from(
        tmp_path,
        """\
patches:
  - id: fix-casing
    description: rename subpath
    match: {kind: "@workload"}
    operations:
      - {op: rename, containers: all, path: "volumeMounts[*].subpath", to: subPath}
""",
    )
    d = workload(
        "StatefulSet",
        "nc",
        containers=[{"name": "php", "volumeMounts": [{"name": "v", "subpath": "x"}]}],
        release="opendesk-nextcloud",
        chart="opendesk-nextcloud-4.9.1",
    )
    _, _, changes = run(catalog, [d])
    assert changes == [
        Change(
            stage="runtime-patches",
            release="opendesk-nextcloud",
            document="StatefulSet/nc (opendesk-nextcloud/opendesk-nextcloud/templates/x0.yaml#0)",
            field="spec.template.spec.containers[0].volumeMounts[0].subPath",
            action="rename",
            why="fix-casing: rename subpath",
        )
    ]
    assert d.history == [
        (
            "runtime-patches",
            "spec.template.spec.containers[0].volumeMounts[0].subPath",
            "rename (fix-casing)",
        )
    ]


def test_an_operation_that_cannot_apply_fails_naming_patch_document_and_field(
    tmp_path: Path,
) -> None:
    catalog = catalog_from(
        tmp_path,
        """\
patches:
  - id: fix-casing
    description: rename subpath
    match: {kind: Deployment}
    operations:
      - op: rename
        containers: all
        path: "volumeMounts[*].subpath"
        to: subPath
""",
    )
    d = workload(
        containers=[{"name": "c", "volumeMounts": [{"name": "v", "subpath": "x", "subPath": "y"}]}]
    )
    with pytest.raises(StageError) as exc:
        run(catalog, [d])
    [problem] = exc.value.problems
    where = f"{tmp_path / '001-test.yaml'}:6"
    assert problem.startswith(f"patch fix-casing ({where}), release rel, Deployment/app")
    assert "spec.template.spec.containers[0].volumeMounts[0].subpath: cannot rename" in problem


PARAM_PATCH = """\
patches:
  - id: fix-param
    description: env from a secret
    parameters: {secret: default-secret}
    match: {kind: Job}
    operations:
      - op: append
        containers: all
        path: env
        key: name
        value: {name: P, valueFrom: {secretKeyRef: {name: {$param: secret}, key: k}}}
"""


def env_secret(d: object) -> str:
    body = d.body  # type: ignore[attr-defined]
    return str(body["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]["name"])  # fmt: skip


def test_parameters_default_constructor_and_context(tmp_path: Path) -> None:
    catalog = catalog_from(tmp_path, PARAM_PATCH)
    [out], _, _ = run(catalog, [workload("Job")])
    assert env_secret(out) == "default-secret"
    [out], _, _ = run(catalog, [workload("Job")], parameters={"fix-param": {"secret": "mine"}})
    assert env_secret(out) == "mine"
    ctx = context()
    ctx.facts["patch_parameters"] = {"fix-param": {"secret": "from-ctx"}}
    [out] = RuntimePatches(catalog).run([workload("Job")], ctx).documents
    assert env_secret(out) == "from-ctx"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"fix-nope": {"secret": "x"}}, "parameters for unknown patch 'fix-nope'"),
        ({"fix-param": {"secrt": "x"}}, "patch fix-param has no parameter 'secrt'"),
    ],
)
def test_unknown_parameters_fail(
    tmp_path: Path, given: dict[str, dict[str, str]], message: str
) -> None:
    catalog = catalog_from(tmp_path, PARAM_PATCH)
    with pytest.raises(StageError, match=message):
        run(catalog, [workload("Job")], parameters=given)


def test_patches_apply_in_catalog_order_over_documents_in_order(tmp_path: Path) -> None:
    first = tmp_path / "001-a.yaml"
    second = tmp_path / "002-b.yaml"
    first.write_text(
        "patches:\n  - id: a\n    description: a\n    match: {kind: ConfigMap}\n"
        "    operations: [{op: set, path: data.x, value: '1'}]\n"
    )
    second.write_text(
        "patches:\n  - id: b\n    description: b\n    match: {kind: '*'}\n"
        "    operations: [{op: replace, path: data.x, pattern: '1', replacement: '2'}]\n"
    )
    from opendesk_deployer.patches import load_catalog

    catalog = load_catalog(tmp_path)
    docs = [
        doc({"kind": "ConfigMap", "metadata": {"name": n}, "data": {}}, index=i)
        for i, n in enumerate(["m", "n"])
    ]
    out, _, changes = run(catalog, docs)
    assert [(c.why[0], c.document.split(" ")[0]) for c in changes] == [
        ("a", "ConfigMap/m"),
        ("a", "ConfigMap/n"),
        ("b", "ConfigMap/m"),
        ("b", "ConfigMap/n"),
    ]
    assert [d.body["data"]["x"] for d in out] == ["2", "2"]


def test_runs_in_the_chain_and_the_default_catalog_loads_lazily() -> None:
    stage = RuntimePatches()
    assert stage.name == "runtime-patches"
    result = chain.run([], context(), stages=[stage])
    assert result.documents == [] and "runtime-patches" in result.seconds
    assert len(stage.catalog) == 22  # the seed's 21 and fix-ums-stack-data-hook-configmaps
