"""The pinned toolchain: the real built binaries pass doctor; version policy rejects bad ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from opendesk_deployer import doctor, toolchain


def test_pins_cover_the_render_tools() -> None:
    p = toolchain.pins()
    assert p["HELM_VERSION"].startswith("v3.")
    assert toolchain.parse_version(p["HELMFILE_VERSION"]) >= (1, 0, 0)  # type: ignore[operator]
    assert toolchain.parse_version(p["YQ_VERSION"]) >= (4, 52, 4)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ((3, 17, 2), "older than the minimum v3.17.3"),
        ((3, 18, 0), "known-broken"),
        ((3, 20, 1), "known-broken"),
        ((4, 0, 0), "not below v4.0.0"),
        ((3, 22, 0), None),
    ],
)
def test_helm_version_policy(version: toolchain.Version, reason: str | None) -> None:
    problem = toolchain.tool("helm").check(version)
    assert (problem is None) if reason is None else (reason in (problem or ""))


def test_doctor_reports_pinned_real_binaries() -> None:
    findings = {f.tool: f for f in doctor.run()}
    for name in ("helm", "helmfile", "yq"):
        f = findings[name]
        assert f.problem is None, f.problem
        assert f.version == toolchain.tool(name).pinned
        assert f.path and Path(f.path).is_file()


def _fake(tmp_path: Path, name: str, output: str) -> Path:
    """A stand-in binary that only prints a version, to exercise doctor's policy."""
    p = tmp_path / name
    p.write_text(f"#!/bin/sh\necho '{output}'\n")
    p.chmod(0o755)
    return p


def test_doctor_rejects_unsupported_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENDESK_BIN_HELM", str(_fake(tmp_path, "helm", "v3.18.0+g1234")))
    f = doctor.check("helm")
    assert f.version == "v3.18.0"
    assert f.problem == "helm v3.18.0 is a known-broken version"


def test_doctor_cli_exits_nonzero_with_one_line_reason(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "OPENDESK_CACHE": str(tmp_path), "HOME": str(tmp_path)}
    cli = str(Path(sys.executable).parent / "opendesk-deployer")
    result = subprocess.run([cli, "doctor"], capture_output=True, text=True, env=env)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("doctor: helm ")]
    assert lines == [
        f"doctor: helm {toolchain.tool('helm').pinned} is not built "
        f"(expected {tmp_path}/bin/helm-{toolchain.tool('helm').pinned}/helm); run: tools/install helm"
    ]
    assert "Traceback" not in result.stderr
