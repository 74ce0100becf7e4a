"""Stage overrides: the instance's own corrections, applied after the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from opendesk_deployer.config import ConfigError, load_instance
from opendesk_deployer.render.stage import RenderContext, StageError
from opendesk_deployer.render.stages.overrides import Overrides
from stages.helpers import BASE, container, ctx, doc, merge, workload

OVERRIDES = [
    {
        "release": "ums",
        "kind": "StatefulSet",
        "name": "ums-keycloak",
        "set": {
            "spec.replicas": 3,
            'metadata.annotations["argocd.argoproj.io/sync-wave"]': "5",
            "spec.template.spec.containers[name=keycloak].resources.limits.memory": "4Gi",
        },
        "remove": ["spec.template.spec.containers[name=keycloak].env[name=DEBUG]"],
        "why": "ticket 4711: bigger Keycloak",
    }
]


def keycloak_doc():  # type: ignore[no-untyped-def]
    env = [{"name": "DEBUG", "value": "1"}, {"name": "KC_DB", "value": "postgres"}]
    return doc("ums", workload("ums-keycloak", [container("keycloak", env=env)], "StatefulSet"))


def test_set_and_remove_with_provenance() -> None:
    d = keycloak_doc()
    result = Overrides().run([d], ctx(overrides=OVERRIDES))
    assert d.body["spec"]["replicas"] == 3
    assert d.body["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "5"
    c = d.body["spec"]["template"]["spec"]["containers"][0]
    assert c["resources"] == {"limits": {"memory": "4Gi"}}
    assert c["env"] == [{"name": "KC_DB", "value": "postgres"}]
    assert {(ch.field, ch.action) for ch in result.changes} == {
        ("spec.replicas", "set"),
        ('metadata.annotations["argocd.argoproj.io/sync-wave"]', "set"),
        ("spec.template.spec.containers[0].resources.limits.memory", "set"),
        ("spec.template.spec.containers[0].env[0]", "remove"),
    }
    assert all(ch.why == "override: ticket 4711: bigger Keycloak" for ch in result.changes)


def test_release_scope() -> None:
    d = doc("other", keycloak_doc().body)
    with pytest.raises(StageError, match="matches no rendered document"):
        Overrides().run([d], ctx(overrides=OVERRIDES))


def write_instance(tmp_path: Path, overrides: list[dict]) -> Path:  # type: ignore[type-arg]
    f = tmp_path / "instance.yaml"
    f.write_text(yaml.safe_dump(merge(BASE, {"overrides": overrides}), sort_keys=False))
    return f


def context_of(f: Path) -> RenderContext:
    inst = load_instance(f, require_runtime_state=False).instance
    return RenderContext(inst, inst.opendesk.version, inst.namespace)


def test_override_matching_nothing_names_file_and_line(tmp_path: Path) -> None:
    wrong = [{**OVERRIDES[0], "name": "ums-keycloak-typo"}]
    f = write_instance(tmp_path, wrong)
    line = next(
        n for n, text in enumerate(f.read_text().splitlines(), 1) if text.startswith("overrides:")
    )
    with pytest.raises(StageError) as err:
        Overrides(f).run([keycloak_doc()], context_of(f))
    msg = str(err.value)
    assert f"{f}:{line + 1}: overrides[0]: matches no rendered document" in msg
    assert "StatefulSet/ums-keycloak-typo in release ums" in msg


def test_remove_of_missing_path_names_its_line(tmp_path: Path) -> None:
    wrong = [
        {**OVERRIDES[0], "remove": ["spec.template.spec.containers[name=keycloak].env[name=NOPE]"]}
    ]
    f = write_instance(tmp_path, wrong)
    lines = f.read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if "env[name=NOPE]" in text)
    with pytest.raises(
        StageError, match=rf"{f}:{line}: overrides\[0\]\.remove\[0\]: .*does not exist"
    ):
        Overrides(f).run([keycloak_doc()], context_of(f))


def test_bad_path_syntax_is_a_config_error_with_line(tmp_path: Path) -> None:
    f = write_instance(tmp_path, [{**OVERRIDES[0], "set": {"spec..replicas": 1}}])
    with pytest.raises(ConfigError) as err:
        load_instance(f, require_runtime_state=False)
    [problem] = err.value.problems
    assert problem.line is not None and "spec..replicas" in problem.field
    assert "expected a key" in problem.message


def test_override_needs_set_or_remove_and_why(tmp_path: Path) -> None:
    f = write_instance(tmp_path, [{"kind": "Deployment", "name": "x"}])
    with pytest.raises(ConfigError) as err:
        load_instance(f, require_runtime_state=False)
    assert {p.field for p in err.value.problems} >= {"overrides[0].why"}
