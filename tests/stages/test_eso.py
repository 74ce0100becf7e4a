"""Stage eso (fix-secrets-to-eso): ExternalSecret + SecretStore shapes, validated against the
External Secrets Operator CRDs in shared/crds."""

from __future__ import annotations

import base64

import pytest

from conftest import SHARED
from opendesk_deployer.gitops import crd_schema
from opendesk_deployer.render.stage import StageError
from opendesk_deployer.render.stages.eso import PAYLOAD, SecretsToEso
from stages.helpers import NAMESPACE, SECRETS_MANAGER, configmap, ctx, doc, secret

CRDS = SHARED / "crds"
BINARY = bytes(range(256))


def sm_ctx():  # type: ignore[no-untyped-def]
    return ctx(secretsManager=SECRETS_MANAGER)


def test_secret_becomes_external_secret_with_payload() -> None:
    s = secret(
        "ums-keycloak-credentials",
        {"admin_password": "s3cret-value-1"},
        type="kubernetes.io/basic-auth",
        data={
            "admin_username": base64.b64encode(b"kcadmin").decode(),
            "keystore.p12": base64.b64encode(BINARY).decode(),
        },
    )
    s["metadata"]["labels"] = {"app.kubernetes.io/name": "keycloak"}
    s["metadata"]["annotations"] = {
        "helm.sh/hook": "pre-install",
        "helm.sh/hook-weight": "-5",
        "argocd.argoproj.io/hook": "Sync",
        "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation",
        "checksum/config": "abc",
    }
    c = sm_ctx()
    result = SecretsToEso().run([doc("ums", s), doc("ums", configmap("cm", {"a": "b"}))], c)
    kinds = sorted(d.kind for d in result.documents)
    assert kinds == ["ConfigMap", "ExternalSecret", "SecretStore"]
    [es] = [d for d in result.documents if d.kind == "ExternalSecret"]
    body = es.body
    assert body["apiVersion"] == "external-secrets.io/v1"
    assert body["metadata"]["name"] == "ums-keycloak-credentials"
    assert body["metadata"]["annotations"] == {
        "checksum/config": "abc",
        "argocd.argoproj.io/sync-wave": "-1",
    }
    spec = body["spec"]
    assert spec["secretStoreRef"] == {"name": "stackit-sm", "kind": "SecretStore"}
    target = spec["target"]
    assert target["name"] == "ums-keycloak-credentials" and target["creationPolicy"] == "Owner"
    assert target["template"]["type"] == "kubernetes.io/basic-auth"
    assert target["template"]["metadata"] == {
        "labels": {"app.kubernetes.io/name": "keycloak"},
        "annotations": {"checksum/config": "abc"},
    }
    key = f"opendesk/{NAMESPACE}/ums-keycloak-credentials"
    assert spec["data"] == [
        {"secretKey": "admin_password", "remoteRef": {"key": key, "property": "admin_password"}},
        {"secretKey": "admin_username", "remoteRef": {"key": key, "property": "admin_username"}},
        {
            "secretKey": "keystore.p12",
            "remoteRef": {"key": key, "property": "keystore.p12", "decodingStrategy": "Base64"},
        },
    ]
    assert c.facts[PAYLOAD] == {
        key: {
            "admin_password": "s3cret-value-1",
            "admin_username": "kcadmin",
            "keystore.p12": base64.b64encode(BINARY).decode(),
        }
    }
    assert "s3cret-value-1" not in repr(result.documents) + repr(result.changes)
    assert crd_schema.validate(body, "ExternalSecret", CRDS) == []
    [change] = [ch for ch in result.changes if ch.action == "convert"]
    assert change.why.startswith("fix-secrets-to-eso") and change.field == "kind"


def test_secret_store_shape() -> None:
    c = sm_ctx()
    c.facts["release_waves"] = {"late": 4, "early": 1}
    docs = [doc("late", secret("a", {"k": "v"})), doc("early", secret("b", {"k": "v"}))]
    result = SecretsToEso().run(docs, c)
    [store] = [d for d in result.documents if d.kind == "SecretStore"]
    assert store.release == "early"
    assert store.body["metadata"] == {
        "name": "stackit-sm",
        "namespace": NAMESPACE,
        "annotations": {"argocd.argoproj.io/sync-wave": "-2"},
    }
    vault = store.body["spec"]["provider"]["vault"]
    assert vault == {
        "server": "https://prod.sm.eu01.stackit.cloud",
        "path": "5c2d7a1e-sm",
        "version": "v2",
        "auth": {
            "userPass": {
                "path": "userpass",
                "username": "acme-eso-reader",
                "secretRef": {"name": "stackit-sm-cred", "key": "password"},
            }
        },
    }
    assert crd_schema.validate(store.body, "SecretStore", CRDS) == []


def test_without_secrets_manager_nothing_changes() -> None:
    d = doc("r", secret("a", {"k": "v"}))
    result = SecretsToEso().run([d], ctx())
    assert result.documents == [d] and result.changes == []


def test_secret_without_values_stays() -> None:
    token = secret("sa-token", type="kubernetes.io/service-account-token")
    result = SecretsToEso().run([doc("r", token)], sm_ctx())
    assert [d.kind for d in result.documents] == ["Secret"]


def test_missing_read_only_user_fails() -> None:
    sm = {k: v for k, v in SECRETS_MANAGER.items() if k != "readOnlyUsername"}
    with pytest.raises(StageError, match="readOnlyUsername"):
        SecretsToEso().run([doc("r", secret("a", {"k": "v"}))], ctx(secretsManager=sm))


def test_invalid_base64_names_the_field() -> None:
    bad = secret("a", data={"k": "%%%"})
    with pytest.raises(StageError, match=r"Secret/a .*data\.k: not valid base64"):
        SecretsToEso().run([doc("r", bad)], sm_ctx())
