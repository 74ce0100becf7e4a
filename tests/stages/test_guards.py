"""Stage guards: namespace markers, SCIM token, orphan Synapse sidecars, required patches."""

from __future__ import annotations

import pytest

from opendesk_deployer.render.stage import StageError
from opendesk_deployer.render.stages.guards import Guards, is_synapse_sidecar
from stages.helpers import NAMESPACE, configmap, container, ctx, doc, secret, workload


def test_missing_namespace_is_set_and_cluster_scoped_cleared() -> None:
    cm = doc("r", configmap("a", {"k": "v"}))
    role = doc(
        "r",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "x", "namespace": NAMESPACE},
        },
    )
    result = Guards().run([cm, role], ctx())
    assert cm.body["metadata"]["namespace"] == NAMESPACE
    assert "namespace" not in role.body["metadata"]
    assert {(c.document.split(" ")[0], c.action) for c in result.changes} == {
        ("ConfigMap/a", "set"),
        ("ClusterRole/x", "remove"),
    }


def test_other_namespace_fails() -> None:
    body = configmap("a", {"k": "v"})
    body["metadata"]["namespace"] = "argocd"
    with pytest.raises(StageError, match=r"ConfigMap/a .*metadata\.namespace: 'argocd' is not"):
        Guards().run([doc("r", body)], ctx())


@pytest.mark.parametrize("name", ["scim-token", "acme-scim-token", "nubus-scim-bearer-token"])
def test_scim_token_secret_only_with_scim(name: str) -> None:
    d = doc("ums", secret(name, {"token": "t"}))
    with pytest.raises(
        StageError, match=r"SCIM token Secret is rendered but scim\.enabled is false"
    ):
        Guards().run([d], ctx())
    Guards().run([doc("ums", secret(name, {"token": "t"}))], ctx(scim={"enabled": True}))


def test_scim_guard_sees_external_secrets() -> None:
    es = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "x"},
        "spec": {"target": {"name": "scim-token"}},
    }
    with pytest.raises(StageError, match="SCIM token ExternalSecret"):
        Guards().run([doc("ums", es)], ctx())


def test_not_a_scim_token() -> None:
    Guards().run([doc("ums", secret("scim-config", {"a": "b"}))], ctx())


def test_orphan_synapse_sidecars_fail_naming_them() -> None:
    uvs = doc("opendesk-matrix-user-verification-service", workload("uvs", [container()]))
    admin = doc("opendesk-synapse-admin", workload("admin", [container()]))
    with pytest.raises(StageError) as err:
        Guards().run([uvs, admin], ctx())
    msg = str(err.value)
    assert "opendesk-matrix-user-verification-service, opendesk-synapse-admin" in msg
    assert "without the homeserver release opendesk-synapse" in msg
    synapse = doc("opendesk-synapse", workload("synapse", [container()]))
    Guards().run([uvs, admin, synapse], ctx())
    Guards(orphan_sidecars=False).run([uvs], ctx())  # the catalog can turn it off


def test_sidecar_names() -> None:
    assert is_synapse_sidecar("opendesk-synapse-web")
    assert is_synapse_sidecar("opendesk-synapse-adminbot-pipe")
    assert not is_synapse_sidecar("opendesk-synapse")
    assert not is_synapse_sidecar("matrix-neoboard-widget")


def test_required_patch_recorded_unmatched_fails() -> None:
    c = ctx()
    c.facts["runtime_patches"] = {
        "patches": {
            "fix-a": {"applies": True, "documents": 0, "required": True},
            "fix-b": {"applies": True, "documents": 0},
            "fix-c": {"applies": False, "documents": 0, "required": True},
        }
    }
    with pytest.raises(StageError, match=r"required patch\(es\) matched no document: fix-a$"):
        Guards().run([], c)
    Guards(check_required=False).run([], c)
    c.facts["runtime_patches"] = {}
    c.facts["required_patches"] = {"fix-x": 0, "fix-y": 2}
    with pytest.raises(StageError, match="fix-x"):
        Guards().run([], c)
