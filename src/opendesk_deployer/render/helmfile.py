"""Run `helmfile template` over the prepared openDesk tree (through the runner)."""

from __future__ import annotations

import os
from pathlib import Path

from opendesk_deployer.runner import Runner

OUTPUT_DIR_TEMPLATE = "{{ .OutputDir }}/{{ .Release.Name }}"


def template(
    root: Path,
    environment: str,
    namespace: str,
    out: Path,
    runner: Runner,
    *,
    master_password: str,
    concurrency: int | None = None,
    timeout: float = 1800,
) -> None:
    """Render every release of the tree into `<out>/<release>/`."""
    helm = runner.resolve("helm")
    env = {
        "MASTER_PASSWORD": master_password,
        # helm state of this render only: no dependence on the user's repositories or plugins
        "HELM_CACHE_HOME": str(Path.home() / ".cache" / "opendesk-deployer" / "helm-cache"),
        "HELM_CONFIG_HOME": str(out.parent / "helm-config"),
        "HELM_DATA_HOME": str(out.parent / "helm-data"),
        # helmfile caches pulled charts by repository *name*, chart and version, not by
        # registry host: a shared cache would let a chart from one mirror stand in for another's.
        "HELMFILE_CACHE_HOME": str(out.parent / "helmfile-cache"),
        # no registry login from the operator's environment
        "OD_PRIVATE_REGISTRY_USERNAME": "",
        "OD_PRIVATE_REGISTRY_PASSWORD": "",
        "PATH": f"{helm.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    args = [
        "--file",
        str(root / "helmfile.yaml.gotmpl"),
        "--environment",
        environment,
        "--namespace",
        namespace,
        "--helm-binary",
        str(helm),
        "--no-color",
        "template",
        "--output-dir",
        str(out),
        "--output-dir-template",
        OUTPUT_DIR_TEMPLATE,
        "--concurrency",
        str(concurrency or max(2, os.cpu_count() or 2)),
    ]
    runner.run("helmfile", args, cwd=root, env=env, timeout=timeout)
