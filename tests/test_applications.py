"""Argo CD Applications are built right and validated against the real CRD schema."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from conftest import EXAMPLES, SHARED
from opendesk_deployer.config import load_instance
from opendesk_deployer.gitops import applications, crd_schema

CRDS = SHARED / "crds"


@pytest.fixture
def instance():  # type: ignore[no-untyped-def]
    return load_instance(EXAMPLES / "demo-instance.yaml").instance


def test_release_application_shape_and_valid(instance) -> None:  # type: ignore[no-untyped-def]
    app = applications.release_application(instance, "ums", 2, "http://127.0.0.1:1/demo.git")
    assert app["metadata"]["name"] == "demo-1-ums"
    assert app["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
    assert app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "2"
    assert app["spec"]["source"]["path"] == "instances/demo-1/releases/ums"
    assert app["spec"]["destination"]["namespace"] == "opendesk-demo"
    assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]
    assert crd_schema.validate(app, "ums", CRDS) == []


def test_app_of_apps_points_at_applications(instance) -> None:  # type: ignore[no-untyped-def]
    root = applications.app_of_apps(instance, "http://127.0.0.1:1/demo.git")
    assert root["spec"]["source"]["path"] == "instances/demo-1/applications"
    assert crd_schema.validate(root, "root", CRDS) == []


def test_crd_validation_rejects_what_the_api_server_would(instance) -> None:  # type: ignore[no-untyped-def]
    good = applications.release_application(instance, "ums", 2, "http://127.0.0.1:1/demo.git")
    bad = copy.deepcopy(good)
    del bad["spec"]["destination"]
    bad["spec"]["syncPolicy"]["retry"]["limit"] = "five"
    bad["metadata"]["name"] = "Bad_Name"
    problems = crd_schema.validate(bad, "applications/ums.yaml", CRDS)
    text = "\n".join(problems)
    assert "applications/ums.yaml: spec: 'destination' is a required property" in text
    assert "spec.syncPolicy.retry.limit: 'five' is not of type 'integer'" in text
    assert "metadata.name: 'Bad_Name' is not a valid name" in text


def test_unknown_kind_and_missing_crd_folder(tmp_path: Path) -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Nope", "metadata": {"name": "x"}}
    assert crd_schema.validate(obj, "x", CRDS) == ["x: no CRD serves example.com/v1 Nope"]
    with pytest.raises(crd_schema.SchemaError, match="does not exist"):
        crd_schema.validate(obj, "x", tmp_path / "none")


def test_external_secret_schema_is_served() -> None:
    es = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "db", "namespace": "ns"},
        "spec": {
            "secretStoreRef": {"name": "stackit-sm", "kind": "SecretStore"},
            "target": {"name": "db"},
            "data": [
                {"secretKey": "password", "remoteRef": {"key": "ns/db", "property": "password"}}
            ],
        },
    }
    assert crd_schema.validate(es, "es", CRDS) == []
    es["spec"]["data"][0]["remoteRef"] = {"property": "password"}
    assert any("'key' is a required property" in p for p in crd_schema.validate(es, "es", CRDS))
