"""Where the pod spec and the containers of a workload document are.

Operations that say `containers:` or `podSpec: true` take their paths relative to each
selected container or to the pod spec, so one patch covers Deployments, StatefulSets, Jobs and
CronJobs alike without spelling out `spec.template.spec` / `spec.jobTemplate.spec.template.spec`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from opendesk_deployer.patches.paths import Trail

# Kinds that carry a pod template (the `@workload` group of a match's `kind`).
WORKLOAD_KINDS = frozenset(
    {
        "Pod",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "ReplicationController",
        "Job",
        "CronJob",
    }
)
KIND_GROUPS = {"@workload": WORKLOAD_KINDS}

_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_DEFAULT_POD_SPEC_PATH = ("spec", "template", "spec")

# Container list selectors of an operation's `containers:` field.
CONTAINER_LISTS = {
    "containers": ("containers",),
    "initContainers": ("initContainers",),
    "ephemeralContainers": ("ephemeralContainers",),
    "all": ("initContainers", "containers", "ephemeralContainers"),
}


def pod_spec(body: dict[str, Any], kind: str) -> tuple[dict[str, Any], Trail] | None:
    """The pod spec of a workload and its trail; None for documents without one. Kinds not
    listed (custom resources such as Argo Rollouts) are looked up at `spec.template.spec`."""
    node: Any = body
    path = _POD_SPEC_PATHS.get(kind, _DEFAULT_POD_SPEC_PATH)
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return (node, path) if isinstance(node, dict) else None


def containers(
    body: dict[str, Any], kind: str, lists: tuple[str, ...]
) -> Iterator[tuple[dict[str, Any], Trail]]:
    """Each container of the selected lists (in `lists` order) with its trail."""
    found = pod_spec(body, kind)
    if found is None:
        return
    spec, trail = found
    for list_name in lists:
        items = spec.get(list_name)
        if not isinstance(items, list):
            continue
        for n, container in enumerate(items):
            if isinstance(container, dict):
                yield container, (*trail, list_name, n)
