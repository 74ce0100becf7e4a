"""The local Kubernetes rig: a real kube-apiserver, etcd, controller manager and scheduler with
kwok nodes (kwokctl `--runtime binary`, the pinned local binaries, nothing downloaded), the
project's CRDs, kwok stages, a git server and Argo CD (`argocd.py`), on 127.0.0.1 and free ports
(one exception: the Argo CD controller's metrics listener, see `argocd.py`).

Everything lives under one state directory (default `<state dir>/rig`):

    rig.json          what `up` started (git server pid and port, CRD names, kubeconfig)
    kwok/             KWOK_WORKDIR: kwok.yaml (kwokctl config), clusters/<name>/ (pki, etcd
                      data, kubeconfig.yaml, pids/, logs/ of each component)
    git/              the git server's bare repositories
    exec/             working directory of `kubectl exec` (ClusterExec runs commands on the host)
    pod-logs/         the file every container's log shows (ClusterLogs)
    argocd/           Argo CD's and its redis' working directory (see argocd.py)
    logs/             build.log, git-server.log, argocd-*.log
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from opendesk_deployer import toolchain
from opendesk_deployer.config.master_password import state_dir as base_state_dir
from opendesk_deployer.rig import argocd, kube, manifests, procs
from opendesk_deployer.runner import CommandError, Runner

BIND = "127.0.0.1"
DEFAULT_NAME = "opendesk-rig"
GIT_MODULE = "opendesk_deployer.rig.gitserver"
# binaries the rig runs, in the order they are checked
BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
    "kwokctl",
    "git",
    "argocd",
    "redis-server",
)
# kwokctl component name -> URL scheme of its port
COMPONENT_SCHEMES = {
    "etcd": "http",
    "kube-apiserver": "https",
    "kube-controller-manager": "https",
    "kube-scheduler": "https",
    "kwok-controller": "https",
}
POD_LOG_TEXT = "simulated container (kwok): this log is a host file served by ClusterLogs"
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")

Progress = Callable[[str], None]


class RigError(Exception):
    """The rig could not be brought up (or a binary could not be built)."""


def default_state_dir() -> Path:
    return base_state_dir() / "rig"


def default_crds_dir() -> Path:
    """`$OPENDESK_CRDS_DIR`, else `$OPENDESK_SHARED/crds`, else `<repo>/../shared/crds`."""
    if os.environ.get("OPENDESK_CRDS_DIR"):
        return Path(os.environ["OPENDESK_CRDS_DIR"])
    shared = os.environ.get("OPENDESK_SHARED")
    return (Path(shared) if shared else toolchain.REPO_ROOT.parent / "shared") / "crds"


@dataclass
class Component:
    name: str
    state: str  # running | stopped | ready | established | ...
    address: str = "-"
    pid: int | None = None
    detail: str = ""

    def line(self) -> str:
        pid = f"pid {self.pid}" if self.pid else ""
        return "  ".join(
            p
            for p in (f"{self.name:<29}", f"{self.state:<11}", self.address, pid, self.detail)
            if p
        ).rstrip()


@dataclass
class RigStatus:
    state_dir: Path
    kubeconfig: Path | None
    components: list[Component] = field(default_factory=list)
    healthy: bool = False

    def lines(self) -> list[str]:
        if self.kubeconfig is None:
            return [f"rig: not running (state dir {self.state_dir})"]
        return [f"kubeconfig: {self.kubeconfig}", *(c.line() for c in self.components)]

    def pids(self) -> list[int]:
        return [c.pid for c in self.components if c.pid]


class Rig:
    """One local cluster rig, identified by its state directory."""

    def __init__(
        self,
        state_dir: Path | None = None,
        *,
        crds_dir: Path | None = None,
        name: str = DEFAULT_NAME,
        nodes: int = 2,
        runner: Runner | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.root = (state_dir or default_state_dir()).absolute()
        self.crds_dir = (crds_dir or default_crds_dir()).absolute()
        self.name = name
        self.nodes = nodes
        self.runner = runner or Runner()
        self.progress: Progress = progress or (lambda _msg: None)

    # -- paths -------------------------------------------------------------------------------

    @property
    def kwok_workdir(self) -> Path:
        return self.root / "kwok"

    @property
    def cluster_dir(self) -> Path:
        return self.kwok_workdir / "clusters" / self.name

    @property
    def kubeconfig(self) -> Path:
        return self.cluster_dir / "kubeconfig.yaml"

    @property
    def state_file(self) -> Path:
        return self.root / "rig.json"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def git_root(self) -> Path:
        return self.root / "git"

    @property
    def exec_dir(self) -> Path:
        return self.root / "exec"

    @property
    def pod_log(self) -> Path:
        return self.root / "pod-logs" / "container.log"

    @property
    def argocd(self) -> argocd.ArgoCD:
        return argocd.ArgoCD(self.root, self.kubeconfig, runner=self.runner, progress=self.progress)

    def loopback_exceptions(self) -> list[tuple[int, int]]:
        """(pid, port) of the rig's listeners that are not on 127.0.0.1 (documented ones)."""
        return self.argocd.loopback_exceptions(self._read_state().get("argocd") or {})

    def git_url(self, repo: str) -> str:
        """HTTP URL of bare repository `repo` (e.g. "demo.git") on the rig's git server."""
        state = self._read_state()
        return f"http://{BIND}:{state['git']['port']}/{repo}"

    # -- binaries ----------------------------------------------------------------------------

    def binary(self, name: str) -> Path:
        return self.runner.resolve(name)

    def missing_groups(self) -> list[str]:
        """tools/install groups whose binaries are not built yet."""
        groups: list[str] = []
        for b in BINARIES:
            try:
                toolchain.find(b)
            except toolchain.ToolchainError as exc:
                tool = toolchain.TOOLS.get(b)
                env_override = "OPENDESK_BIN_" + b.upper().replace("-", "_")
                if tool is None or tool.pin_key is None or os.environ.get(env_override):
                    raise RigError(str(exc)) from None
                if tool.group not in groups:
                    groups.append(tool.group)
        return groups

    def ensure_binaries(self) -> None:
        """Build (tools/install) what is missing, streaming its progress."""
        groups = self.missing_groups()
        if not groups:
            return
        log_file = self.logs_dir / "build.log"
        install = toolchain.REPO_ROOT / "tools" / "install"
        self.progress(
            f"rig: building {' '.join(groups)} from the Go module proxy (a cold build of kube "
            f"takes tens of minutes; full log: {log_file})"
        )
        offset = log_file.stat().st_size if log_file.exists() else 0
        proc = self.runner.start("bash", [str(install), *groups], log_file=log_file)
        while True:
            code = proc.poll()
            offset = self._tail(log_file, offset)
            if code is not None:
                break
            time.sleep(2)
        if code != 0:
            raise RigError(f"tools/install {' '.join(groups)} exited {code}; see {log_file}")
        still = self.missing_groups()
        if still:
            raise RigError(f"tools/install did not produce {' '.join(still)}; see {log_file}")

    def _tail(self, path: Path, offset: int) -> int:
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read()
        for line in data.decode(errors="replace").splitlines():
            if line.strip():
                self.progress(f"  {line}")
        return offset + len(data)

    # -- kwokctl -----------------------------------------------------------------------------

    def _kwok_env(self) -> dict[str, str]:
        kubectl = self.binary("kubectl")
        return {
            "KWOK_WORKDIR": str(self.kwok_workdir),
            "KWOK_KUBE_VERSION": toolchain.pins()["KUBERNETES_VERSION"],
            "KWOK_RUNTIME": "binary",
            "KWOK_KUBECTL_BINARY": str(kubectl),
            # kubectl's discovery cache in the state dir, not in ~/.kube/cache
            "KUBECACHEDIR": str(self.root / "kube-cache"),
            # kwokctl runs `kubectl` from PATH: ours first, never a system one
            "PATH": f"{kubectl.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def _kwokctl(self, *args: str, timeout: float = 300, check: bool = True) -> str:
        result = self.runner.run(
            "kwokctl",
            ["--name", self.name, *args],
            env=self._kwok_env(),
            timeout=timeout,
            check=check,
        )
        return result.stdout

    def _create_cluster(self) -> None:
        self.kwok_workdir.mkdir(parents=True, exist_ok=True)
        # kwokctl reads $KWOK_WORKDIR/kwok.yaml by default: every kwokctl call of this rig
        # gets the loopback bind address (there is no flag for it)
        (self.kwok_workdir / "kwok.yaml").write_text(manifests.kwokctl_configuration(BIND))
        b = self.binary
        self._kwokctl(
            "create",
            "cluster",
            "--runtime=binary",
            f"--etcd-binary={b('etcd')}",
            f"--kube-apiserver-binary={b('kube-apiserver')}",
            f"--kube-controller-manager-binary={b('kube-controller-manager')}",
            f"--kube-scheduler-binary={b('kube-scheduler')}",
            f"--kwok-controller-binary={b('kwok')}",
            f"--enable-crds={','.join(manifests.KWOK_CRDS)}",
            "--kubeconfig=",  # do not touch ~/.kube/config
            "--timeout=5m",
        )

    def _kwok_components(self) -> list[dict[str, Any]]:
        """The components kwokctl saved for this cluster (name, binary, ports)."""
        saved = self.cluster_dir / "kwok.yaml"
        if not saved.exists():
            return []
        for doc in yaml.safe_load_all(saved.read_text()):
            if doc and doc.get("kind") == "KwokctlConfiguration":
                comps: list[dict[str, Any]] = doc.get("components") or []
                return comps
        return []

    def _kwok_pids(self) -> dict[str, int]:
        pids: dict[str, int] = {}
        for comp in self._kwok_components():
            binary = Path(comp.get("binary") or comp["name"])
            pid_file = self.cluster_dir / "pids" / f"{binary.stem}.pid"
            with contextlib.suppress(OSError, ValueError):
                pids[comp["name"]] = int(pid_file.read_text().strip())
        return pids

    # -- git server --------------------------------------------------------------------------

    def _start_git_server(self) -> tuple[int, int]:
        port_file = self.root / "git-server.port"
        port_file.unlink(missing_ok=True)
        self.git_root.mkdir(parents=True, exist_ok=True)
        proc = procs.spawn_python(
            GIT_MODULE,
            ["--root", str(self.git_root), "--host", BIND, "--port-file", str(port_file)],
            log_file=self.logs_dir / "git-server.log",
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RigError(
                    f"git server exited {proc.returncode}; see {self.logs_dir / 'git-server.log'}"
                )
            if port_file.exists():
                port = int(port_file.read_text())
                if _http_ok(f"http://{BIND}:{port}/healthz"):
                    return proc.pid, port
            time.sleep(0.1)
        procs.stop(proc.pid)
        raise RigError("git server did not answer within 20 s")

    # -- up / down / status ------------------------------------------------------------------

    def up(self, *, timeout: float = 300, keep_on_failure: bool = False) -> RigStatus:
        """Bring the rig up (or confirm it is up) and return its status. Raises RigError."""
        self.progress("rig: checking binaries")
        self.ensure_binaries()
        current = self.status()
        if current.healthy:
            self.progress("rig: already up")
            return current
        if self.state_file.exists() or self.cluster_dir.exists():
            self.progress("rig: cleaning up a previous, incomplete rig")
            self.down()
        if not self.crds_dir.is_dir():
            raise RigError(f"CRD directory {self.crds_dir} does not exist (--crds-dir)")
        try:
            return self._up(timeout)
        except Exception as exc:
            if not keep_on_failure:
                self.progress("rig: up failed; stopping what was started (logs are kept)")
                self.down()
            if isinstance(exc, RigError):
                raise
            if isinstance(exc, _ENVIRONMENT_ERRORS):
                what = kube.api_error_message(exc) if isinstance(exc, ApiException) else str(exc)
                logs = f"(logs: {self.logs_dir}; the components' in {self.logs_dir / 'cluster'})"
                raise RigError(f"{what}\n{logs}") from exc
            raise

    def _up(self, timeout: float) -> RigStatus:
        deadline = time.monotonic() + timeout

        def left() -> float:
            return max(5.0, deadline - time.monotonic())

        for d in (self.root, self.logs_dir, self.exec_dir, self.pod_log.parent):
            d.mkdir(parents=True, exist_ok=True)
        # kwok serves the file as the kubelet would: in the CRI log format
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.pod_log.write_text(f"{stamp} stdout F {POD_LOG_TEXT}\n")
        state: dict[str, Any] = {"name": self.name, "kubeconfig": str(self.kubeconfig)}
        self.progress("rig: starting the git server")
        git_pid, git_port = self._start_git_server()
        state["git"] = {"pid": git_pid, "port": git_port, "root": str(self.git_root)}
        self._write_state(state)

        self.progress("rig: creating the cluster (kwokctl --runtime binary)")
        self._create_cluster()
        api = kube.api_client(self.kubeconfig)
        version = client.VersionApi(api).get_code(_request_timeout=10).git_version
        self.progress(f"rig: API server answers, {version}")

        ext = client.ApiextensionsV1Api(api)
        self._wait_crds(ext, manifests.KWOK_CRD_NAMES, left())
        dyn = kube.dynamic(api, self.root / "discovery.json")

        crds = self._crd_documents()
        self.progress(f"rig: applying {len(crds)} CRDs from {self.crds_dir} (server-side apply)")
        for crd in crds:
            kube.apply(dyn, crd)
        names = [c["metadata"]["name"] for c in crds]
        state["crds"] = names
        self._write_state(state)
        self._wait_crds(ext, names, left())

        self.progress("rig: applying kwok stages, ClusterExec, ClusterLogs, StorageClass")
        dyn.resources.invalidate_cache()
        for obj in [
            *manifests.stages(),
            manifests.storage_class(),
            manifests.cluster_exec(self.exec_dir),
            manifests.cluster_logs(self.pod_log),
        ]:
            kube.apply(dyn, obj)

        self.progress(f"rig: adding {self.nodes} kwok nodes")
        self._kwokctl("scale", "node", f"--replicas={self.nodes}", timeout=left())
        core = client.CoreV1Api(api)
        kube.wait_for(
            core.list_node,
            lambda nodes: (
                sum(kube.condition(n, "Ready") == "True" for n in nodes.values()) >= self.nodes
            ),
            timeout=left(),
            what=f"{self.nodes} Ready nodes",
        )

        def record(argo: dict[str, Any]) -> None:
            state["argocd"] = argo
            self._write_state(state)

        try:
            self.argocd.start(dyn, self.git_url(argocd.GITOPS_REPO), left(), record)
        except argocd.ArgoCDError as exc:
            raise RigError(str(exc)) from None
        status = self.status()
        if not status.healthy:
            bad = [c.line() for c in status.components if c.state not in _GOOD]
            raise RigError("rig is not healthy after up:\n" + "\n".join(bad))
        self.progress("rig: up")
        return status

    def _crd_documents(self) -> list[dict[str, Any]]:
        files = sorted(p for p in self.crds_dir.rglob("*") if p.suffix in (".yaml", ".yml"))
        docs = [
            d for d in kube.load_documents(files) if d.get("kind") == "CustomResourceDefinition"
        ]
        if not docs:
            raise RigError(f"no CustomResourceDefinition in {self.crds_dir}")
        return docs

    def _wait_crds(self, ext: Any, names: tuple[str, ...] | list[str], timeout: float) -> None:
        wanted = set(names)

        def established(objs: dict[str, dict[str, Any]]) -> bool:
            return all(kube.condition(objs.get(n, {}), "Established") == "True" for n in wanted)

        def missing(objs: dict[str, dict[str, Any]]) -> str:
            return ", ".join(
                sorted(
                    n for n in wanted if kube.condition(objs.get(n, {}), "Established") != "True"
                )
            )

        kube.wait_for(
            ext.list_custom_resource_definition,
            established,
            timeout=timeout,
            what="CRDs to be established",
            missing=missing,
        )

    def status(self) -> RigStatus:
        state = self._read_state()
        if not state and not self.cluster_dir.exists():
            return RigStatus(self.root, None)
        st = RigStatus(self.root, self.kubeconfig)
        pids = self._kwok_pids()
        for comp in self._kwok_components():
            name = comp["name"]
            pid = pids.get(name)
            ports = [p.get("port") for p in comp.get("ports") or [] if p.get("port")]
            scheme = COMPONENT_SCHEMES.get(name, "tcp")
            address = f"{scheme}://{BIND}:{ports[0]}" if ports else "-"
            running = pid is not None and procs.alive(pid)
            st.components.append(Component(name, "running" if running else "stopped", address, pid))
        git = state.get("git") or {}
        if git:
            url = f"http://{BIND}:{git['port']}/"
            ok = procs.alive(git["pid"]) and _http_ok(url + "healthz")
            st.components.append(
                Component(
                    "git-server",
                    "running" if ok else "stopped",
                    url,
                    git["pid"],
                    f"repos {git['root']}",
                )
            )
        else:
            st.components.append(Component("git-server", "stopped"))
        for p in self.argocd.status(state.get("argocd") or {}):
            st.components.append(Component(p.name, p.state, p.address, p.pid, p.detail))
        api_ok = False
        if self.kubeconfig.exists() and any(
            c.name == "kube-apiserver" and c.state == "running" for c in st.components
        ):
            api_ok = self._api_status(st, state)
        names = {c.name: c.state for c in st.components}
        st.healthy = (
            api_ok
            and all(names.get(n) == "running" for n in (*CONTROL_PLANE, "kwok-controller"))
            and names.get("git-server") == "running"
            and all(names.get(n) == "running" for n in argocd.COMPONENTS)
            and all(c.state in _GOOD for c in st.components)
        )
        return st

    def _api_status(self, st: RigStatus, state: dict[str, Any]) -> bool:
        try:
            api = kube.api_client(self.kubeconfig)
            version = client.VersionApi(api).get_code(_request_timeout=5).git_version
            for c in st.components:
                if c.name == "kube-apiserver":
                    c.detail = version
            nodes = kube.list_items(client.CoreV1Api(api).list_node, _request_timeout=5)
            ready = sum(kube.condition(n, "Ready") == "True" for n in nodes)
            st.components.append(
                Component(
                    "nodes",
                    "ready" if ready >= self.nodes else "not-ready",
                    f"{ready}/{len(nodes)} Ready",
                    detail=" ".join(n["metadata"]["name"] for n in nodes),
                )
            )
            wanted = state.get("crds") or []
            crds = kube.list_items(
                client.ApiextensionsV1Api(api).list_custom_resource_definition,
                _request_timeout=10,
            )
            est = {
                c["metadata"]["name"] for c in crds if kube.condition(c, "Established") == "True"
            }
            ok = [n for n in wanted if n in est]
            st.components.append(
                Component(
                    "crds",
                    "established" if wanted and len(ok) == len(wanted) else "missing",
                    f"{len(ok)}/{len(wanted)} Established",
                    detail=f"from {state.get('crds_dir', self.crds_dir)}",
                )
            )
            return True
        except Exception as exc:  # the API not answering is a state, not an error
            st.components.append(Component("api", "unreachable", detail=type(exc).__name__))
            return False

    def down(self) -> list[str]:
        """Stop everything `up` started; safe to run again. Returns what was stopped."""
        stopped: list[str] = []
        state = self._read_state()
        kwok_pids = {n: pid for n, pid in self._kwok_pids().items() if procs.alive(pid)}
        # Argo CD first, while the API server still answers
        stopped.extend(self.argocd.stop(state.get("argocd") or {}))
        if self.cluster_dir.exists():
            # kwokctl deletes the cluster folder with the component logs: keep a copy
            with contextlib.suppress(OSError):
                shutil.copytree(
                    self.cluster_dir / "logs", self.logs_dir / "cluster", dirs_exist_ok=True
                )
            try:
                self._kwokctl("delete", "cluster", timeout=120, check=False)
            except CommandError as exc:
                self.progress(f"rig: kwokctl delete cluster: {exc}")
        for name, pid in kwok_pids.items():
            procs.stop(pid)  # kwokctl stopped it already, unless it failed to
            stopped.append(f"{name} (pid {pid})")
        git = state.get("git") or {}
        if git and procs.alive(git["pid"]) and GIT_MODULE in procs.cmdline(git["pid"]):
            procs.stop(git["pid"])
            stopped.append(f"git-server (pid {git['pid']})")
        # safety net: a rig binary whose command line names this rig's state dir was started
        # by this rig (say, by an earlier `up` whose state file is gone)
        for pid in procs.processes_referencing(str(self.root) + os.sep):
            argv = procs.cmdline(pid)
            if argv and (Path(argv[0]).name in _RIG_EXECUTABLES or GIT_MODULE in argv):
                procs.stop(pid)
                stopped.append(f"{Path(argv[0]).name} (pid {pid})")
        for path in (
            self.kwok_workdir,
            self.argocd.dir,
            self.git_root,
            self.exec_dir,
            self.pod_log.parent,
            self.root / "kube-cache",
        ):
            shutil.rmtree(path, ignore_errors=True)
        for f in (self.state_file, self.root / "git-server.port", self.root / "discovery.json"):
            f.unlink(missing_ok=True)
        return stopped

    # -- state file --------------------------------------------------------------------------

    def _read_state(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.state_file.read_text())
            return data
        except (OSError, ValueError):
            return {}

    def _write_state(self, state: dict[str, Any]) -> None:
        state["crds_dir"] = str(self.crds_dir)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_file)


_GOOD = ("running", "ready", "established")
# failures of the environment (a tool, the API, the network), reported as RigError with the logs
_ENVIRONMENT_ERRORS = (
    CommandError,
    kube.WaitTimeoutError,
    kube.ApplyError,
    ApiException,
    urllib3.exceptions.HTTPError,
    OSError,
)
# process names of the components kwokctl runs (it links each binary as <cluster>/bin/<component>)
_RIG_EXECUTABLES = {
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok-controller",
    "kwok",
}


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 (loopback http only)
            return bool(r.status == 200)
    except OSError:
        return False
