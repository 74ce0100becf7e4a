"""kwok's own default stages, read at run time from the kwok module source in the Go module cache
(`tools/install kwok` puts it there; the rig does not carry a copy): `kustomize/stage/node/fast`,
`node/heartbeat-with-lease`, `pod/fast` and `volume/fast` of sigs.k8s.io/kwok at the pinned version.

kwokctl writes the node and pod ones into the controller's config only when the Stage CRD is off; the
rig turns the Stage CRD on (so stages can be added at run time), so it applies them itself. The
volume ones are kwok's provisioner stand-in (see `manifests.py`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from opendesk_deployer import toolchain

MODULE = "sigs.k8s.io/kwok"
FILES = {
    "node-initialize": "node/fast/node-initialize.yaml",
    "node-heartbeat-with-lease": "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod-ready": "pod/fast/pod-ready.yaml",
    "pod-complete": "pod/fast/pod-complete.yaml",
    "pod-delete": "pod/fast/pod-delete.yaml",
    "pvc-provision": "volume/fast/pvc-provision.yaml",
    "pv-bind": "volume/fast/pv-bind.yaml",
    "pvc-delete": "volume/fast/pvc-delete.yaml",
    "pv-delete": "volume/fast/pv-delete.yaml",
}


class KwokSourceError(Exception):
    pass


def module_dir(version: str | None = None) -> Path:
    """kwok's module source in the toolchain's Go module cache."""
    try:
        return toolchain.module_source(MODULE, version or toolchain.pins()["KWOK_VERSION"])
    except toolchain.ToolchainError as exc:
        raise KwokSourceError(str(exc)) from None


@cache
def stage_yaml(name: str) -> str:
    """The upstream YAML of stage `name` (a key of FILES)."""
    path = module_dir() / "kustomize" / "stage" / FILES[name]
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KwokSourceError(f"kwok stage {name}: cannot read {path}: {exc}") from None
