"""Stage lint, on documents directly: each problem names release, document and field."""

from __future__ import annotations

from typing import Any

import pytest

from opendesk_deployer.render.stage import StageError
from opendesk_deployer.render.stages.lint import Lint, document_problems
from stages.helpers import configmap, container, ctx, doc, secret, workload


def problems(*bodies: dict[str, Any], release: str = "rel") -> list[str]:
    docs = [doc(release, b, f"chart/templates/t{i}.yaml") for i, b in enumerate(bodies)]
    with pytest.raises(StageError) as err:
        Lint().run(docs, ctx())
    return err.value.problems


def test_clean_documents_pass() -> None:
    ok = workload(
        "web",
        [
            container(
                "web",
                env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                ports=[{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                volumeMounts=[{"name": "cfg", "mountPath": "/etc/cfg", "subPath": "a"}],
                readinessProbe={"httpGet": {"path": "/", "port": 80}, "periodSeconds": 5},
            )
        ],
        volumes=[{"name": "cfg", "configMap": {"name": "web"}}],
    )
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "labels": {"app.kubernetes.io/name": "web"}},
        "spec": {"selector": {"readonly": "x"}, "ports": [{"port": 80, "protocol": "TCP"}]},
    }
    assert Lint().run(
        [doc("r", ok), doc("r", svc), doc("r", configmap("web", {"subpath": "x"}))], ctx()
    )


def test_duplicate_env_names_in_init_container() -> None:
    env = [{"name": "AWS_DEFAULT_REGION", "value": "eu01"}] * 2
    body = workload(
        "ums-portal-server", [container()], init=[container("load-portal-data", env=env)]
    )
    [p] = problems(body, release="ums")
    assert p.startswith(
        "release ums: Deployment/ums-portal-server (ums/chart/templates/t0.yaml#0): "
    )
    assert "spec.template.spec.initContainers[0].env[name=AWS_DEFAULT_REGION]" in p
    assert "duplicate env name 'AWS_DEFAULT_REGION' at indexes [0, 1]" in p


def test_duplicate_ports_and_missing_protocol() -> None:
    ports = [
        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
        {"name": "http2", "containerPort": 8080},
        {"name": "x", "containerPort": 9090, "protocol": ""},
    ]
    found = problems(workload("w", [container(ports=ports)]))
    assert any("containers[0].ports[1].protocol: missing or empty" in p for p in found)
    assert any("containers[0].ports[2].protocol: missing or empty" in p for p in found)
    assert any("containers[0].ports: duplicate containerPort 8080/TCP" in p for p in found)


def test_service_ports() -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "mariadb"},
        "spec": {"ports": [{"name": "mysql", "port": 3306, "protocol": ""}, {"port": 3306}]},
    }
    found = problems(svc)
    assert any(
        "Service/mariadb" in p and "spec.ports[0].protocol: missing or empty" in p for p in found
    )
    assert any("spec.ports[1].protocol: missing or empty" in p for p in found)
    assert any("spec.ports[1].name: missing" in p for p in found)
    assert any("spec.ports: duplicate port 3306/TCP" in p for p in found)


def test_unknown_casing_and_unknown_fields() -> None:
    c = container(
        "php",
        volumeMounts=[{"name": "cfg", "mountPath": "/x", "subpath": "custom.config.php"}],
        ports=[{"containerPort": 8080, "port": 8080, "protocol": "TCP"}],
        livenessProbe={"enabled": True, "tcpSocket": {"port": 8080}},
    )
    found = problems(workload("nc", [c], volumes=[{"name": "cfg", "emptyDir": {}}]))
    assert any(
        "spec.template.spec.containers[0].volumeMounts[0].subpath: unknown field; did you mean 'subPath'?"
        in p
        for p in found
    )
    assert any("containers[0].ports[0]: unknown field(s) port" in p for p in found)
    assert any("containers[0].livenessProbe: unknown field(s) enabled" in p for p in found)


def test_invalid_names_labels_and_values() -> None:
    body = workload("Bad_Name", [container("Main", env=[{"name": "PORT", "value": 8080}])])
    body["metadata"]["labels"] = {"version": "1.0+build", "enabled": True}
    body["metadata"]["annotations"] = {"replicas": 3}
    found = problems(body)
    assert any("metadata.name: 'Bad_Name' is not a valid name" in p for p in found)
    assert any("containers[0].name: 'Main' is not a valid container name" in p for p in found)
    assert any("containers[0].env[0].value: 8080 is a int, not a string" in p for p in found)
    assert any(
        "metadata.labels.version: '1.0+build' is not a valid label value" in p for p in found
    )
    assert any("metadata.labels.enabled: value True is a bool" in p for p in found)
    assert any("metadata.annotations.replicas: value 3 is a int" in p for p in found)


def test_undeclared_volume_but_claim_templates_count() -> None:
    body = workload(
        "db", [container(volumeMounts=[{"name": "data", "mountPath": "/d"}])], "StatefulSet"
    )
    assert any("volume 'data' is not declared" in p for p in problems(body))
    body["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {}}]
    assert Lint().run([doc("r", body)], ctx())


def test_helm_test_hook_argo_never_runs() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "redis-test", "annotations": {"helm.sh/hook": "test"}},
        "spec": {"containers": [container()]},
    }
    [p] = problems(pod, release="redis")
    assert "Pod/redis-test" in p and "metadata.annotations.helm.sh/hook" in p
    assert "Argo CD never runs Helm test hooks" in p


def test_unknown_argo_hook() -> None:
    job = workload(
        "j", [container()], "Job", annotations={"argocd.argoproj.io/hook": "PostInstall"}
    )
    [p] = problems(job)
    assert "metadata.annotations.argocd.argoproj.io/hook: 'PostInstall'" in p


def test_hook_on_configmap_used_by_regular_workload() -> None:
    hook = {
        "argocd.argoproj.io/hook": "Sync",
        "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation",
    }
    cm = configmap("ums-stack-data-ums-ucr", {"k": "v"})
    cm["metadata"]["annotations"] = hook
    ldap = workload(
        "ums-ldap-server-primary",
        [container(volumeMounts=[{"name": "ucr", "mountPath": "/etc/univention"}])],
        "StatefulSet",
        volumes=[{"name": "ucr", "configMap": {"name": "ums-stack-data-ums-ucr"}}],
    )
    [p] = problems(cm, ldap, release="ums")
    assert p.startswith("release ums: ConfigMap/ums-stack-data-ums-ucr")
    assert "StatefulSet/ums-ldap-server-primary" in p and "deletes and re-creates hooks" in p


def test_hook_secret_used_only_by_hook_job_is_fine() -> None:
    hook = {"argocd.argoproj.io/hook": "Sync"}
    s = secret("migrations-env", {"a": "b"})
    s["metadata"]["annotations"] = hook
    job = workload(
        "migrations",
        [container(envFrom=[{"secretRef": {"name": "migrations-env"}}])],
        "Job",
        annotations=hook,
    )
    assert Lint().run([doc("m", s), doc("m", job)], ctx())


def test_document_problems_identity() -> None:
    d = doc("r", {"metadata": {}})
    found = document_problems(d)
    assert any("apiVersion: missing" in p for p in found)
    assert any("kind: missing" in p for p in found)
    assert any("metadata.name: missing" in p for p in found)
