"""Building instances, contexts and documents for stage tests."""

from __future__ import annotations

import copy
from typing import Any

from opendesk_deployer.config.model import Instance
from opendesk_deployer.render.document import Document
from opendesk_deployer.render.stage import RenderContext

NAMESPACE = "opendesk-test"

BASE: dict[str, Any] = {
    "apiVersion": "opendesk-deployer/v1",
    "kind": "Instance",
    "customerId": "acme",
    "projectId": "acme-prod",
    "instanceId": "acme-1",
    "opendesk": {"version": "1.13.1", "source": {"path": "opendesk"}},
    "namespace": NAMESPACE,
    "domains": {"main": "acme.example"},
    "git": {"repository": "gitops.git"},
    "runtimeState": "runtime-state.json",
}

SECRETS_MANAGER: dict[str, Any] = {
    "instanceId": "5c2d7a1e-sm",
    "apiUrl": "https://prod.sm.eu01.stackit.cloud",
    "username": {"env": "SM_USER"},
    "password": {"env": "SM_PASSWORD"},
    "readOnlyUsername": "acme-eso-reader",
}


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def instance(**extra: Any) -> Instance:
    return Instance.model_validate(merge(BASE, extra))


def ctx(**extra: Any) -> RenderContext:
    inst = instance(**extra)
    return RenderContext(inst, inst.opendesk.version, inst.namespace)


def doc(
    release: str, body: dict[str, Any], file: str = "chart/templates/x.yaml", index: int = 0
) -> Document:
    return Document(release, file, index, copy.deepcopy(body))


def container(name: str = "app", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "registry.example/app:1", **fields}


def workload(
    name: str,
    containers: list[dict[str, Any]],
    kind: str = "Deployment",
    init: list[dict[str, Any]] | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": containers, **spec}
    if init:
        pod["initContainers"] = init
    md: dict[str, Any] = {"name": name}
    if annotations:
        md["annotations"] = annotations
    api = "batch/v1" if kind == "Job" else "apps/v1"
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": md,
        "spec": {"template": {"metadata": {"labels": {"app": name}}, "spec": pod}},
    }


def secret(name: str, string_data: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}}
    if string_data is not None:
        body["stringData"] = string_data
    body.update(fields)
    return body


def configmap(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
