"""A throw-away OCI registry on 127.0.0.1 (Debian's `docker-registry`, distribution v2.8).

`OciRegistry` starts `docker-registry serve CONFIG` with its own config file in a temp dir
(filesystem storage in that dir, `http.addr 127.0.0.1:<free port>`, no auth, no TLS, log level
warn), waits until `GET /v2/` answers and stops it with terminate, wait, kill. It never reads
/etc/docker/registry/config.yml and never binds port 5000.

The session fixture `stub_registry` starts one registry and pushes a stub chart for every entry
of openDesk v1.13.1's `charts.yaml.gotmpl` into it (see `stub_charts.py`). Tests use it by
importing it into their module or into `tests/conftest.py`:

    from support.oci_registry import stub_registry  # noqa: F401
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pytest

from opendesk_deployer import toolchain
from opendesk_deployer.runner import Runner
from support import stub_charts

PACKAGE = "docker-registry"
SYSTEM_PORT = 5000  # the port of the Debian service's own config; never used here
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class RegistryError(RuntimeError):
    """The registry binary is missing or the registry did not come up."""


def registry_binary() -> Path:
    """Path of the `docker-registry` binary: `OPENDESK_BIN_DOCKER_REGISTRY`, else the file
    `dpkg -L docker-registry` lists under a `bin/` directory."""
    override = os.environ.get("OPENDESK_BIN_DOCKER_REGISTRY")
    if override:
        return Path(override)
    done = Runner().run("dpkg", ["-L", PACKAGE], check=False)
    if done.exit_code != 0:
        raise RegistryError(
            f"package {PACKAGE} is not installed (add it to tools/apt-packages.txt and run "
            f"tools/apt-install): {done.stderr.strip()}"
        )
    for line in done.stdout.splitlines():
        p = Path(line.strip())
        if p.parent.name == "bin" and p.name == PACKAGE and os.access(p, os.X_OK):
            return p
    raise RegistryError(f"dpkg -L {PACKAGE} lists no executable bin/{PACKAGE}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (never 5000)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port != SYSTEM_PORT:
            return port


def _v2_status(host: str, timeout: float = 2.0) -> int | None:
    """HTTP status of `GET http://host/v2/`, None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://{host}/v2/", timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


def stop_system_service() -> bool:
    """Stop and disable the Debian `docker-registry` service if apt started it (it listens on
    :5000 with /etc/docker/registry/config.yml). Handles systemd and sysvinit (no systemd
    running, e.g. in containers, where policy-rc.d normally keeps it from starting at all).
    Returns True when it was running."""
    runner = Runner()
    if Path("/run/systemd/system").is_dir() and shutil.which("systemctl"):
        active = runner.run("systemctl", ["is-active", "--quiet", PACKAGE], check=False)
        if active.exit_code != 0:
            return False
        runner.run("systemctl", ["stop", PACKAGE], check=False)
        runner.run("systemctl", ["disable", PACKAGE], check=False)
        return True
    script = Path("/etc/init.d") / PACKAGE
    if not script.exists():
        return False
    status = subprocess.run([str(script), "status"], capture_output=True, text=True, check=False)
    if status.returncode != 0:  # LSB: 3 = not running
        return False
    subprocess.run([str(script), "stop"], capture_output=True, text=True, check=False)
    if shutil.which("update-rc.d"):
        runner.run("update-rc.d", [PACKAGE, "disable"], check=False)
    return True


CONFIG_TEMPLATE = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
  fields:
    service: opendesk-test-registry
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:{port}
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
"""


@dataclass
class OciRegistry:
    """A `docker-registry` subprocess on 127.0.0.1. Use as a context manager or call
    `start()`/`stop()`. `workdir` (default: a new temp dir, removed on stop) holds
    `config.yml`, `storage/` and `registry.log`."""

    workdir: Path | None = None
    binary: Path | None = None
    port: int = 0
    _proc: subprocess.Popen[bytes] | None = None
    _own_workdir: bool = False

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"oci://{self.host}"

    @property
    def log_file(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "registry.log"

    def start(self, attempts: int = 3) -> OciRegistry:
        if self._proc is not None:
            return self
        binary = self.binary or registry_binary()
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="oci-registry-"))
            self._own_workdir = True
        storage = self.workdir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "config.yml"
        # The registry lets REGISTRY_* variables override its config file: drop them.
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        last = ""
        for _ in range(attempts):
            self.port = free_port()
            config.write_text(CONFIG_TEMPLATE.format(root=storage, port=self.port))
            with self.log_file.open("ab") as out:
                proc = subprocess.Popen(
                    [str(binary), "serve", str(config)],
                    cwd=self.workdir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            if self._wait_ready(proc):
                self._proc = proc
                return self
            _terminate(proc)
            last = self.log_file.read_text(errors="replace")[-2000:]
        raise RegistryError(f"docker-registry did not answer /v2/ on {self.host}:\n{last}")

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False  # exited: port taken or bad config
            if _v2_status(self.host, timeout=1.0) == 200:
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self._proc is not None:
            _terminate(self._proc)
            self._proc = None
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
            self._own_workdir = False

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def v2_status(self) -> int | None:
        return _v2_status(self.host)

    def __enter__(self) -> OciRegistry:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, wait, then SIGKILL: only this process, never by name."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)


@dataclass
class StubRegistry:
    """What the `stub_registry` fixture yields: the running registry and the charts in it."""

    registry: OciRegistry
    charts: list[stub_charts.ChartRef]
    charts_file: Path
    tree: Path

    @property
    def host(self) -> str:
        return self.registry.host

    @property
    def url(self) -> str:
        return self.registry.url


@pytest.fixture(scope="session")
def stub_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubRegistry]:
    """One registry per session with a stub chart pushed for every chart of the real openDesk
    v1.13.1 tree. Fails (does not skip) when docker-registry or helm is missing: `make setup`
    installs both, so a skip would only hide a broken setup."""
    tree = stub_charts.opendesk_tree()
    if not tree.is_dir():
        pytest.fail(
            f"openDesk tree not found at {tree} (set OPENDESK_SHARED to the shared/ folder)"
        )
    try:
        binary = registry_binary()
        toolchain.find("helm")
    except (RegistryError, toolchain.ToolchainError) as exc:
        pytest.fail(str(exc))
    stop_system_service()
    charts_file = tree / stub_charts.CHARTS_FILE
    charts = stub_charts.load_charts(charts_file)
    with OciRegistry(workdir=tmp_path_factory.mktemp("oci-registry"), binary=binary) as reg:
        stub_charts.push_stubs(reg, charts, charts_file)
        yield StubRegistry(reg, charts, charts_file, tree)
