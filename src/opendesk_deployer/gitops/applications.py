"""Argo CD Applications: one per release, plus the app-of-apps root that syncs them by wave."""

from __future__ import annotations

from typing import Any

from opendesk_deployer.config.model import Instance

API_VERSION = "argoproj.io/v1alpha1"
ARGOCD_NAMESPACE = "argocd"
FINALIZER = "resources-finalizer.argocd.argoproj.io"
WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
LABEL_PREFIX = "opendesk-deployer.io"
SYNC_OPTIONS = [
    "ServerSideApply=true",
    "CreateNamespace=true",
    "RespectIgnoreDifferences=true",
    "SkipDryRunOnMissingResource=true",
    "PruneLast=true",
]
RETRY = {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}}


def application_name(instance: Instance, release: str) -> str:
    return f"{instance.instance_id}-{release}"


def _labels(instance: Instance, release: str | None = None) -> dict[str, str]:
    labels = {
        f"{LABEL_PREFIX}/customer": instance.customer_id,
        f"{LABEL_PREFIX}/project": instance.project_id,
        f"{LABEL_PREFIX}/instance": instance.instance_id,
    }
    if release:
        labels[f"{LABEL_PREFIX}/release"] = release
    return labels


def repo_url(instance: Instance, resolved_repository: str) -> str:
    return instance.git.argocd_repo_url or resolved_repository


def release_application(instance: Instance, release: str, wave: int, repo: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": {
            "name": application_name(instance, release),
            "namespace": ARGOCD_NAMESPACE,
            "finalizers": [FINALIZER],
            "annotations": {WAVE_ANNOTATION: str(wave)},
            "labels": _labels(instance, release),
        },
        "spec": {
            "project": "default",
            "source": {
                "repoURL": repo,
                "targetRevision": instance.git.branch,
                "path": f"{instance.git_path}releases/{release}",
                "directory": {"recurse": True},
            },
            "destination": {
                "server": "https://kubernetes.default.svc",
                "namespace": instance.namespace,
            },
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": list(SYNC_OPTIONS),
                "retry": RETRY,
            },
        },
    }


def app_of_apps(instance: Instance, repo: str) -> dict[str, Any]:
    """The root Application: syncs `applications/`, whose children carry the sync waves."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": {
            "name": f"{instance.instance_id}-root",
            "namespace": ARGOCD_NAMESPACE,
            "finalizers": [FINALIZER],
            "labels": _labels(instance),
        },
        "spec": {
            "project": "default",
            "source": {
                "repoURL": repo,
                "targetRevision": instance.git.branch,
                "path": f"{instance.git_path}applications",
                "directory": {"recurse": False},
            },
            "destination": {
                "server": "https://kubernetes.default.svc",
                "namespace": ARGOCD_NAMESPACE,
            },
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["ServerSideApply=true"],
                "retry": RETRY,
            },
        },
    }
