"""kwok's own default stages, read at run time from the kwok module source in the Go module cache
(`tools/install kwok` puts it there; the rig does not carry a copy): `kustomize/stage/node/fast`,
`node/heartbeat-with-lease`, `pod/fast` and `volume/fast` of sigs.k8s.io/kwok at the pinned version.

kwokctl writes the node and pod ones into the controller's config only when the Stage CRD is off; the
rig turns the Stage CRD on (so stages can be added at run time), so it applies them itself. The
volume ones are kwok's provisioner stand-in (see `manifests.py`).
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

from opendesk_deployer import toolchain
from opendesk_deployer.runner import CommandError, Runner

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
    """The kwok module source, downloaded into the toolchain's Go module cache when missing."""
    version = version or toolchain.pins()["KWOK_VERSION"]
    gomodcache = toolchain.cache_dir() / "go" / "mod"
    path = gomodcache / f"{MODULE}@{version}"
    if path.is_dir():
        return path
    env = {"GOMODCACHE": str(gomodcache), "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    try:
        out = Runner().run(
            "go", ["mod", "download", "-json", f"{MODULE}@{version}"], env=env, cwd=os.sep
        )
    except CommandError as exc:
        raise KwokSourceError(
            f"kwok {version} module source is not in {gomodcache} and could not be downloaded: {exc}"
        ) from None
    return Path(json.loads(out.stdout)["Dir"])


@cache
def stage_yaml(name: str) -> str:
    """The upstream YAML of stage `name` (a key of FILES)."""
    path = module_dir() / "kustomize" / "stage" / FILES[name]
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KwokSourceError(f"kwok stage {name}: cannot read {path}: {exc}") from None
