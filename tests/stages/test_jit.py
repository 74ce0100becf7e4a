"""Stage jit: the Keycloak JIT user-sync plugin goes into ums-keycloak when userSync is on."""

from __future__ import annotations

import copy

import pytest

from opendesk_deployer.render.stage import StageError
from opendesk_deployer.render.stages.jit import INIT_CONTAINER, PROVIDERS_DIR, VOLUME, JitPlugin
from stages.helpers import container, ctx, doc, workload

SYNC = {
    "externalIdp": {
        "enabled": True,
        "userSync": True,
        "jitPlugin": {"image": "nubus/keycloak-jit-sync:2.1.0", "pullSecret": "jit-pull"},
    },
    "registries": {"imageRegistry": "registry.acme.example/mirror"},
}


def keycloak() -> dict:  # type: ignore[type-arg]
    return workload("ums-keycloak", [container("keycloak")], kind="StatefulSet")


def test_plugin_injected_into_keycloak() -> None:
    d = doc("ums", keycloak())
    result = JitPlugin().run([d], ctx(**SYNC))
    ps = d.body["spec"]["template"]["spec"]
    [init] = ps["initContainers"]
    assert init["name"] == INIT_CONTAINER
    assert init["image"] == "registry.acme.example/mirror/nubus/keycloak-jit-sync:2.1.0"
    assert init["volumeMounts"] == [{"name": VOLUME, "mountPath": PROVIDERS_DIR}]
    assert {"name": VOLUME, "emptyDir": {}} in ps["volumes"]
    assert {"name": VOLUME, "mountPath": PROVIDERS_DIR} in ps["containers"][0]["volumeMounts"]
    assert ps["imagePullSecrets"] == [{"name": "jit-pull"}]
    assert {c.action for c in result.changes} == {"add"}
    assert all(c.release == "ums" and "userSync" in c.why for c in result.changes)


def test_idempotent() -> None:
    d = doc("ums", keycloak())
    JitPlugin().run([d], ctx(**SYNC))
    once = copy.deepcopy(d.body)
    again = JitPlugin().run([d], ctx(**SYNC))
    assert d.body == once and again.changes == []


def test_without_user_sync_nothing_happens() -> None:
    d = doc("ums", keycloak())
    before = copy.deepcopy(d.body)
    assert JitPlugin().run([d], ctx()).changes == []
    assert d.body == before


def test_image_without_registry() -> None:
    d = doc("ums", keycloak())
    extra = copy.deepcopy(SYNC)
    del extra["registries"]
    JitPlugin().run([d], ctx(**extra))
    assert d.body["spec"]["template"]["spec"]["initContainers"][0]["image"] == (
        "nubus/keycloak-jit-sync:2.1.0"
    )


def test_missing_keycloak_workload_fails_naming_it() -> None:
    other = doc("ums", workload("ums-portal-server", [container()]))
    with pytest.raises(StageError, match="StatefulSet ums-keycloak"):
        JitPlugin().run([other], ctx(**SYNC))
