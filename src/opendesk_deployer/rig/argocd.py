"""Argo CD on the rig: the application controller and the repo server of the pinned `argocd` build
(one binary; `ARGOCD_BINARY_NAME` picks the component), run out of cluster as Argo CD's own
Procfile runs them (`ARGOCD_FAKE_IN_CLUSTER=true`, KUBECONFIG = the rig's), with Debian's
`redis-server` as their cache.

Everything binds 127.0.0.1 on a free port, except the controller's metrics listener: Argo CD
v3.2 hard-codes `0.0.0.0:<--metrics-port>` (controller/appcontroller.go), so it listens on every
interface (IPv4 and IPv6); the rig gives it a free port and lists it in `loopback_exceptions`.

The in-cluster parts an install manifest would bring are created by `ArgoCD.start` through the
API: the `argocd` namespace, `argocd-cm` (with Argo CD's documented health check for
Applications, so that app-of-apps waves wait for child health, and a short
`timeout.reconciliation`), `argocd-secret`, `argocd-rbac-cm`, the `default` AppProject (which
argocd-server would create; it does not run here) and a repository Secret for the rig's git
server. The environment variables the upstream StatefulSet maps from `argocd-cm` are set the same
way from the values written there.

Files (under the rig's state dir): `argocd/` (redis.conf, TLS/SSH/GnuPG data paths, HOME and
TMPDIR of the components, the working directory of all three processes) and
`logs/argocd-*.log`.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes.dynamic import DynamicClient

from opendesk_deployer import toolchain
from opendesk_deployer.rig import kube, procs
from opendesk_deployer.rig.ports import free_port
from opendesk_deployer.runner import Runner

BIND = "127.0.0.1"
NAMESPACE = "argocd"
# the rig's GitOps repository on its git server; the repository Secret points at it
GITOPS_REPO = "gitops.git"
REPOSITORY_SECRET = "rig-gitops-repo"  # noqa: S105 (the Secret object's name)
# how often the controller re-reads git (argocd-cm timeout.reconciliation; upstream default 120s)
RECONCILIATION_TIMEOUT = "10s"
MODULE = "github.com/argoproj/argo-cd/v3"

REDIS = "argocd-redis"
REPO_SERVER = "argocd-repo-server"
CONTROLLER = "argocd-application-controller"
COMPONENTS = (REDIS, REPO_SERVER, CONTROLLER)
_EXECUTABLES = ("argocd", "redis-server")

# Argo CD docs, operator-manual/health.md, "Argocd App": the health assessment of Applications
# was removed in 1.8; app-of-apps with sync waves needs it back in argocd-cm.
APPLICATION_HEALTH_LUA = """\
hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil then
  if obj.status.health ~= nil then
    hs.status = obj.status.health.status
    if obj.status.health.message ~= nil then
      hs.message = obj.status.health.message
    end
  end
end
return hs
"""
ARGOCD_CM_DATA = {
    "timeout.reconciliation": RECONCILIATION_TIMEOUT,
    "timeout.reconciliation.jitter": "0s",
    "resource.customizations.health.argoproj.io_Application": APPLICATION_HEALTH_LUA,
}
# environment the upstream controller StatefulSet / repo-server Deployment take from argocd-cm
_ENV_FROM_ARGOCD_CM = {
    "ARGOCD_RECONCILIATION_TIMEOUT": "timeout.reconciliation",
    "ARGOCD_RECONCILIATION_JITTER": "timeout.reconciliation.jitter",
}

Progress = Callable[[str], None]


class ArgoCDError(Exception):
    """Argo CD (or its redis) did not start; the message names the log."""


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    state: str  # running | stopped
    address: str
    pid: int | None
    detail: str = ""


def module_dir(version: str | None = None) -> Path:
    """Argo CD's module source in the toolchain's Go module cache."""
    try:
        return toolchain.module_source(MODULE, version or toolchain.pins()["ARGOCD_VERSION"])
    except toolchain.ToolchainError as exc:
        raise ArgoCDError(str(exc)) from None


def _labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "argocd"}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def config_objects(git_url: str) -> list[dict[str, Any]]:
    """What an Argo CD install puts into the cluster besides the workloads and CRDs."""
    ns = {"namespace": NAMESPACE}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "argocd-cm", **ns, "labels": _labels("argocd-cm")},
            "data": dict(ARGOCD_CM_DATA),
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": "argocd-secret", **ns, "labels": _labels("argocd-secret")},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "argocd-rbac-cm", **ns, "labels": _labels("argocd-rbac-cm")},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": REPOSITORY_SECRET,
                **ns,
                "labels": {"argocd.argoproj.io/secret-type": "repository"},
            },
            # anonymous HTTP on loopback: no credentials
            "data": {"type": _b64("git"), "url": _b64(git_url), "name": _b64("rig-gitops")},
        },
        {
            # argocd-server creates this on start (server.initializeDefaultProject)
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": "default", **ns},
            "spec": {
                "sourceRepos": ["*"],
                "destinations": [{"server": "*", "namespace": "*"}],
                "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
            },
        },
    ]


class ArgoCD:
    """Argo CD's controller, repo server and redis of one rig (state dir `root`)."""

    def __init__(
        self,
        root: Path,
        kubeconfig: Path,
        *,
        runner: Runner | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.root = root
        self.kubeconfig = kubeconfig
        self.runner = runner or Runner()
        self.progress: Progress = progress or (lambda _msg: None)
        self.started: dict[str, Any] = {}
        self._record: Callable[[dict[str, Any]], None] = lambda _state: None

    @property
    def dir(self) -> Path:
        return self.root / "argocd"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def log_file(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    # -- start -------------------------------------------------------------------------------

    def start(
        self,
        dyn: DynamicClient,
        git_url: str,
        timeout: float,
        record: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Create the config objects, start redis, the repo server and the controller, wait
        until each answers. Returns what to keep in rig.json; `record` is called with it after
        each process starts (so that a failed start can be stopped)."""
        deadline = time.monotonic() + timeout
        self.progress(f"rig: Argo CD config in namespace {NAMESPACE} (repository {git_url})")
        for obj in config_objects(git_url):
            kube.apply(dyn, obj)
        for d in ("tls", "ssh", "gpg/keys", "gpg/source", "plugins", "home", "tmp"):
            (self.dir / d).mkdir(parents=True, exist_ok=True)
        state: dict[str, Any] = {"version": toolchain.pins()["ARGOCD_VERSION"]}
        self.started = state
        self._record = record or (lambda _state: None)
        state[REDIS] = self._start_redis(deadline)
        redis = f"{BIND}:{state[REDIS]['port']}"
        state[REPO_SERVER] = self._start_repo_server(redis, deadline)
        repo = f"{BIND}:{state[REPO_SERVER]['port']}"
        state[CONTROLLER] = self._start_controller(redis, repo, deadline)
        return state

    def _env(self, component: str) -> dict[str, str]:
        env = {
            "ARGOCD_BINARY_NAME": component,
            "ARGOCD_FAKE_IN_CLUSTER": "true",
            "KUBECONFIG": str(self.kubeconfig),
            "ARGOCD_TLS_DATA_PATH": str(self.dir / "tls"),
            "ARGOCD_SSH_DATA_PATH": str(self.dir / "ssh"),
            "ARGOCD_GNUPGHOME": str(self.dir / "gpg" / "keys"),
            "ARGOCD_GPG_DATA_PATH": str(self.dir / "gpg" / "source"),
            "ARGOCD_GPG_ENABLED": "false",
            "ARGOCD_PLUGINSOCKFILEPATH": str(self.dir / "plugins"),
            # nothing of the user's (~/.gitconfig, ~/.kube, helm's config) leaks in or out
            "HOME": str(self.dir / "home"),
            "TMPDIR": str(self.dir / "tmp"),
        }
        for var, key in _ENV_FROM_ARGOCD_CM.items():
            env[var] = ARGOCD_CM_DATA[key]
        return env

    def _start_redis(self, deadline: float) -> dict[str, Any]:
        def launch() -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
            port = free_port(BIND)
            conf = self.dir / "redis.conf"
            conf.write_text(
                "# the rig's redis for Argo CD: loopback only, no persistence\n"
                f"bind {BIND}\nport {port}\nprotected-mode yes\n"
                'save ""\nappendonly no\n'
                # redis chdirs here; nothing is written (no persistence)
                f"dir {self.dir}\n"
                'logfile ""\ndaemonize no\n'
                # keep the config path in the command line (redis rewrites its title otherwise)
                "set-proc-title no\n"
            )
            proc = self.runner.start(
                "redis-server", [str(conf)], log_file=self.log_file(REDIS), cwd=self.dir
            )
            return proc, {"pid": proc.pid, "port": port}

        return self._launch(REDIS, launch, lambda s: _redis_ping(s["port"]), deadline)

    def _start_repo_server(self, redis: str, deadline: float) -> dict[str, Any]:
        def launch() -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
            port, metrics = free_port(BIND), free_port(BIND)
            args = [
                f"--address={BIND}",
                f"--port={port}",
                f"--metrics-address={BIND}",
                f"--metrics-port={metrics}",
                f"--redis={redis}",
                "--loglevel=info",
            ]
            proc = self._start_argocd(REPO_SERVER, args)
            return proc, {"pid": proc.pid, "port": port, "metrics_port": metrics}

        return self._launch(
            REPO_SERVER,
            launch,
            lambda s: _http_ok(f"http://{BIND}:{s['metrics_port']}/healthz?full=true"),
            deadline,
        )

    def _start_controller(self, redis: str, repo: str, deadline: float) -> dict[str, Any]:
        def launch() -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
            metrics = free_port(BIND)  # bound on 0.0.0.0 by the controller: no flag for the address
            args = [
                f"--kubeconfig={self.kubeconfig}",
                f"--namespace={NAMESPACE}",
                f"--redis={redis}",
                f"--repo-server={repo}",
                f"--metrics-port={metrics}",
                "--loglevel=info",
            ]
            proc = self._start_argocd(CONTROLLER, args)
            return proc, {"pid": proc.pid, "metrics_port": metrics}

        return self._launch(
            CONTROLLER,
            launch,
            lambda s: _http_ok(f"http://{BIND}:{s['metrics_port']}/healthz"),
            deadline,
        )

    def _start_argocd(self, component: str, args: list[str]) -> subprocess.Popen[bytes]:
        return self.runner.start(
            "argocd",
            args,
            log_file=self.log_file(component),
            cwd=self.dir,
            env=self._env(component),
        )

    def _launch(
        self,
        name: str,
        launch: Callable[[], tuple[subprocess.Popen[bytes], dict[str, Any]]],
        ready: Callable[[dict[str, Any]], bool],
        deadline: float,
    ) -> dict[str, Any]:
        """Start `name`, wait until `ready`; a start that fails (a port taken between picking
        and binding, say) is tried again with new ports, three times at most."""
        log = self.log_file(name)
        for attempt in range(1, 4):
            self.progress(f"rig: starting {name}")
            proc, st = launch()
            self.started[name] = st
            self._record(self.started)
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                if ready(st):
                    return st
                time.sleep(0.2)
            else:
                procs.stop(proc.pid)
                raise ArgoCDError(f"{name} did not become ready in time; see {log}")
            self.progress(f"rig: {name} exited {proc.returncode} (attempt {attempt}); see {log}")
        raise ArgoCDError(f"{name} exited {proc.returncode} three times; see {log}")

    # -- status / stop -----------------------------------------------------------------------

    def status(self, state: dict[str, Any]) -> list[ProcessStatus]:
        """Each component's state, address and pid (from rig.json's `argocd` entry)."""
        version = state.get("version", "")
        out: list[ProcessStatus] = []
        redis = state.get(REDIS) or {}
        if redis:
            ok = self._ours(redis["pid"]) and _redis_ping(redis["port"])
            out.append(
                ProcessStatus(
                    REDIS,
                    "running" if ok else "stopped",
                    f"redis://{BIND}:{redis['port']}",
                    redis["pid"],
                )
            )
        repo = state.get(REPO_SERVER) or {}
        if repo:
            ok = self._ours(repo["pid"]) and _http_ok(
                f"http://{BIND}:{repo['metrics_port']}/healthz?full=true"
            )
            out.append(
                ProcessStatus(
                    REPO_SERVER,
                    "running" if ok else "stopped",
                    f"grpc+tls://{BIND}:{repo['port']}",
                    repo["pid"],
                    f"{version}  metrics http://{BIND}:{repo['metrics_port']}",
                )
            )
        ctrl = state.get(CONTROLLER) or {}
        if ctrl:
            ok = self._ours(ctrl["pid"]) and _http_ok(
                f"http://{BIND}:{ctrl['metrics_port']}/healthz"
            )
            out.append(
                ProcessStatus(
                    CONTROLLER,
                    "running" if ok else "stopped",
                    f"http://0.0.0.0:{ctrl['metrics_port']}",
                    ctrl["pid"],
                    f"{version}  metrics on all interfaces (hard-coded); namespace {NAMESPACE}",
                )
            )
        have = {p.name for p in out}
        out.extend(ProcessStatus(n, "stopped", "-", None) for n in COMPONENTS if n not in have)
        return out

    def loopback_exceptions(self, state: dict[str, Any]) -> list[tuple[int, int]]:
        """(pid, port) of the listeners that are not on 127.0.0.1: the controller's metrics."""
        ctrl = state.get(CONTROLLER) or {}
        return [(ctrl["pid"], ctrl["metrics_port"])] if ctrl else []

    def stop(self, state: dict[str, Any]) -> list[str]:
        """Stop the controller, the repo server and redis (in that order), plus any Argo CD or
        redis process still working in this rig's `argocd/` folder. Returns what was stopped."""
        stopped: list[str] = []
        for name in (CONTROLLER, REPO_SERVER, REDIS):
            pid = (state.get(name) or {}).get("pid")
            if pid and self._ours(pid) and procs.stop(pid):
                stopped.append(f"{name} (pid {pid})")
        for pid in self.leftover_pids():
            argv = procs.cmdline(pid)
            what = Path(argv[0]).name if argv else "process"
            if procs.stop(pid):
                stopped.append(f"{what} (pid {pid}, left over in {self.dir})")
        return stopped

    def leftover_pids(self) -> list[int]:
        """This user's argocd / redis-server processes working in this rig's `argocd/` folder
        (every process `start` launches runs there), even if the folder is gone already."""
        found: list[int] = []
        me = os.getuid()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            with contextlib.suppress(OSError):
                if entry.stat().st_uid != me or not self._works_here(pid):
                    continue
                exe = (entry / "exe").readlink().name.removesuffix(" (deleted)")
                if exe in _EXECUTABLES and procs.alive(pid):
                    found.append(pid)
        return found

    def _ours(self, pid: int) -> bool:
        """`pid` runs and is one of the processes `start` launched (not a recycled pid)."""
        return procs.alive(pid) and self._works_here(pid)

    def _works_here(self, pid: int) -> bool:
        """The working directory of `pid` is (inside) this rig's `argocd/` folder."""
        try:
            cwd = str(Path(f"/proc/{pid}/cwd").readlink()).removesuffix(" (deleted)")
        except OSError:
            return False
        return any(
            cwd == here or cwd.startswith(here + os.sep)
            for here in {str(self.dir.absolute()), str(self.dir.resolve())}
        )


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection((BIND, port), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:  # noqa: S310 (loopback http only)
            return bool(r.status == 200)
    except OSError:
        return False
