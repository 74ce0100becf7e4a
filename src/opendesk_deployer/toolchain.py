"""The pinned external binaries: where they live and which versions are supported.

`tools/versions.env` pins each tool; `tools/install` builds it from the Go module proxy into
`<cache>/bin/<tool>-<version>/`. This module finds those binaries without PATH changes, so
`.venv/bin/opendesk-deployer` works on its own. `OPENDESK_BIN_<BINARY>` (upper case, dashes as
underscores) points one binary elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSIONS_FILE = REPO_ROOT / "tools" / "versions.env"


class ToolchainError(Exception):
    """A tool is missing or outside its supported range."""


def cache_dir() -> Path:
    return Path(os.environ.get("OPENDESK_CACHE", Path.home() / ".cache" / "opendesk-deployer"))


@cache
def pins() -> dict[str, str]:
    """KEY=VALUE lines of tools/versions.env."""
    result: dict[str, str] = {}
    for raw in VERSIONS_FILE.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if "=" in line:
            key, value = line.split("=", 1)
            result[key.strip()] = value.strip()
    return result


Version = tuple[int, int, int]


def parse_version(text: str) -> Version | None:
    m = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text)
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def _fmt(v: Version) -> str:
    return "v{}.{}.{}".format(*v)


@dataclass(frozen=True)
class Tool:
    """One external binary: the build group (cache dir) it comes from and its version policy."""

    binary: str
    group: str  # tools/install name, also the cache directory prefix
    pin_key: str | None  # key in versions.env; None for system tools such as git
    version_args: tuple[str, ...] = ("--version",)
    minimum: Version | None = None
    below: Version | None = None  # exclusive upper bound
    excluded: tuple[Version, ...] = ()

    @property
    def pinned(self) -> str | None:
        return pins().get(self.pin_key) if self.pin_key else None

    def check(self, version: Version) -> str | None:
        """The reason `version` is unsupported, or None when it is fine."""
        if self.minimum and version < self.minimum:
            return f"{self.binary} {_fmt(version)} is older than the minimum {_fmt(self.minimum)}"
        if self.below and version >= self.below:
            return f"{self.binary} {_fmt(version)} is not below {_fmt(self.below)}"
        if version in self.excluded:
            return f"{self.binary} {_fmt(version)} is a known-broken version"
        return None


TOOLS: dict[str, Tool] = {
    t.binary: t
    for t in [
        # openDesk v1.13/v1.19 requirements: helm >= 3.17.3, < 4, not 3.18.0, not 3.20.1.
        Tool(
            "helm",
            "helm",
            "HELM_VERSION",
            ("version", "--short"),
            minimum=(3, 17, 3),
            below=(4, 0, 0),
            excluded=((3, 18, 0), (3, 20, 1)),
        ),
        Tool("helmfile", "helmfile", "HELMFILE_VERSION", ("--version",), minimum=(1, 0, 0)),
        Tool("yq", "yq", "YQ_VERSION", ("--version",), minimum=(4, 52, 4), below=(5, 0, 0)),
        Tool("git", "git", None, ("--version",), minimum=(2, 30, 0)),
        Tool("etcd", "etcd", "ETCD_VERSION", ("--version",)),
        Tool("kube-apiserver", "kube", "KUBERNETES_VERSION", ("--version",)),
        Tool("kube-controller-manager", "kube", "KUBERNETES_VERSION", ("--version",)),
        Tool("kube-scheduler", "kube", "KUBERNETES_VERSION", ("--version",)),
        Tool("kubectl", "kube", "KUBERNETES_VERSION", ("version", "--client")),
        Tool("kwok", "kwok", "KWOK_VERSION", ("--version",)),
        Tool("kwokctl", "kwok", "KWOK_VERSION", ("--version",)),
        Tool("argocd", "argocd", "ARGOCD_VERSION", ("version", "--client", "--short")),
    ]
}


def tool(binary: str) -> Tool:
    try:
        return TOOLS[binary]
    except KeyError:
        raise ToolchainError(f"unknown tool {binary!r}") from None


def bin_dir(group: str, version: str) -> Path:
    return cache_dir() / "bin" / f"{group}-{version}"


def find(binary: str) -> Path:
    """Absolute path of `binary`: override variable, then the pinned cache, then PATH (system
    tools only). Raises ToolchainError with a one-line reason when it is not there."""
    override = os.environ.get("OPENDESK_BIN_" + binary.upper().replace("-", "_"))
    if override:
        p = Path(override)
        if not os.access(p, os.X_OK):
            raise ToolchainError(f"{binary}: override {p} is not an executable file")
        return p
    t = TOOLS.get(binary)
    if t is not None and t.pinned:
        p = bin_dir(t.group, t.pinned) / binary
        if os.access(p, os.X_OK):
            return p
        raise ToolchainError(
            f"{binary} {t.pinned} is not built (expected {p}); run: tools/install {t.group}"
        )
    found = shutil.which(binary)
    if not found:
        raise ToolchainError(f"{binary} is not installed (not on PATH)")
    return Path(found)


def module_source(module: str, version: str) -> Path:
    """The source of Go module `module@version` in the toolchain's module cache, where
    `tools/install` left it when it built the tool; downloaded (`go mod download`) when missing.
    Upstream data files the rig needs (kwok's stages, Argo CD's CRDs) are read from here at run
    time rather than copied into the project."""
    import json

    from opendesk_deployer.runner import CommandError, Runner

    gomodcache = cache_dir() / "go" / "mod"
    path = gomodcache / f"{module}@{version}"
    if path.is_dir():
        return path
    env = {"GOMODCACHE": str(gomodcache), "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    try:
        out = Runner().run(
            "go", ["mod", "download", "-json", f"{module}@{version}"], env=env, cwd=os.sep
        )
    except CommandError as exc:
        raise ToolchainError(
            f"{module} {version} module source is not in {gomodcache} and could not be downloaded: {exc}"
        ) from None
    return Path(json.loads(out.stdout)["Dir"])
