"""`opendesk-deployer doctor`: each external tool's path, version and whether it is supported."""

from __future__ import annotations

from dataclasses import dataclass

from opendesk_deployer import toolchain
from opendesk_deployer.runner import CommandError, Runner

# The tools the deployer itself needs (the cluster rig's tools are checked by `dev cluster`).
REQUIRED = ("helm", "helmfile", "yq", "git")


@dataclass(frozen=True)
class Finding:
    tool: str
    path: str | None
    version: str | None
    problem: str | None


def check(tool_name: str, runner: Runner | None = None) -> Finding:
    runner = runner or Runner()
    t = toolchain.tool(tool_name)
    try:
        path = runner.resolve(tool_name)
        result = runner.run(tool_name, list(t.version_args), timeout=30)
    except CommandError as exc:
        return Finding(tool_name, None, None, str(exc).splitlines()[0])
    text = (result.stdout + result.stderr).strip()
    version = toolchain.parse_version(text)
    if version is None:
        return Finding(tool_name, str(path), None, f"cannot read a version from {text[:80]!r}")
    shown = "v{}.{}.{}".format(*version)
    problem = t.check(version)
    if problem is None and t.pinned and toolchain.parse_version(t.pinned) != version:
        problem = f"{tool_name} {shown} is not the pinned {t.pinned}"
    return Finding(tool_name, str(path), shown, problem)


def run(tools: tuple[str, ...] = REQUIRED, runner: Runner | None = None) -> list[Finding]:
    return [check(t, runner) for t in tools]
