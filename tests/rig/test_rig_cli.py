"""`opendesk-deployer dev cluster up|status|down` as a user runs it, on a second rig of its own:
the output format, and that `down` (twice) leaves no process and no listening port behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from opendesk_deployer.rig import procs

pytestmark = [pytest.mark.rig, pytest.mark.slow]

CLI = str(Path(sys.executable).parent / "opendesk-deployer")
COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok-controller",
    "git-server",
    "argocd-redis",
    "argocd-repo-server",
    "argocd-application-controller",
    "nodes",
    "crds",
)


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "dev", "cluster", *args], capture_output=True, text=True, timeout=timeout
    )


def test_up_status_down_lifecycle(rig_disabled_guard: None, tmp_path: Path) -> None:
    state = tmp_path / "rig-cli"
    opt = ["--state-dir", str(state), "--name", "cli-rig"]
    up = cli("up", *opt)
    try:
        assert up.returncode == 0, up.stderr
        lines = up.stdout.splitlines()
        kubeconfig = [ln for ln in lines if ln.startswith("kubeconfig: ")]
        assert len(kubeconfig) == 1, up.stdout
        path = Path(kubeconfig[0].removeprefix("kubeconfig: "))
        assert path.is_absolute() and path.is_file()

        status = cli("status", *opt, timeout=60)
        assert status.returncode == 0, status.stdout + status.stderr
        slines = status.stdout.splitlines()
        assert slines[0] == kubeconfig[0]
        states = {ln.split()[0]: ln.split()[1] for ln in slines[1:]}
        assert set(COMPONENTS) <= set(states), slines
        assert all(states[c] in ("running", "ready", "established") for c in COMPONENTS), slines
        pids = [int(ln.split("pid ")[1].split()[0]) for ln in slines if " pid " in ln]
        assert len(pids) == 9, slines
        ports = {port for _pid, _addr, port in procs.listeners_of(pids)}
        assert ports, "no listening sockets found for the rig's processes"
    finally:
        down = cli("down", *opt, timeout=180)
    assert down.returncode == 0, down.stderr
    assert "stopped kube-apiserver" in down.stdout

    assert [p for p in pids if procs.alive(p)] == []
    listening = {port for _addr, port in procs.listening().values()}
    assert not ports & listening, f"ports still listening after down: {ports & listening}"
    assert procs.processes_referencing(str(state) + "/") == []

    again = cli("down", *opt, timeout=60)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "rig: nothing was running"
    after = cli("status", *opt, timeout=60)
    assert after.returncode == 1
    assert after.stdout.startswith("rig: not running")
