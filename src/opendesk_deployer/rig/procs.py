"""Local processes of the rig: liveness, stopping by pid, listening sockets (from /proc)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

TCP_LISTEN = "0A"


def alive(pid: int) -> bool:
    """True when `pid` runs (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # state is the field after the parenthesised command name
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def stop(pid: int, *, grace: float = 10.0) -> bool:
    """SIGTERM `pid`, SIGKILL it after `grace` seconds; True when it was running."""
    if not alive(pid):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(pid)
        if not alive(pid):
            return True
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    for _ in range(50):
        _reap(pid)
        if not alive(pid):
            break
        time.sleep(0.1)
    return True


def _reap(pid: int) -> None:
    """Collect `pid` if it is our own child (a Popen we started), so it does not linger as a
    zombie; other processes are reaped by their parent or init."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def processes_referencing(text: str) -> list[int]:
    """Pids of this user's processes whose command line contains `text` (an absolute state-dir
    path: only the rig's own processes name it)."""
    me = os.getuid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid == os.getpid():
            continue
        try:
            if entry.stat().st_uid != me:
                continue
        except OSError:
            continue
        if any(text in arg for arg in cmdline(pid)) and alive(pid):
            found.append(pid)
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _hex_addr(text: str) -> str:
    if len(text) == 8:  # IPv4, little-endian
        return ".".join(str(int(text[i : i + 2], 16)) for i in (6, 4, 2, 0))
    # IPv6: four little-endian 32-bit words
    words = [text[i : i + 8] for i in range(0, 32, 8)]
    raw = "".join("".join(w[j : j + 2] for j in (6, 4, 2, 0)) for w in words)
    groups = [raw[i : i + 4].lstrip("0") or "0" for i in range(0, 32, 4)]
    return "[" + ":".join(groups) + "]"


def listening() -> dict[str, tuple[str, int]]:
    """All listening TCP sockets of the host: socket inode -> (address, port)."""
    result = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] != TCP_LISTEN:
                continue
            addr, port = f[1].split(":")
            result[f[9]] = (_hex_addr(addr), int(port, 16))
    return result


def listeners_of(pids: Sequence[int]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every listening TCP socket the given processes hold."""
    table = listening()
    out = []
    for pid in pids:
        for inode in _socket_inodes(pid):
            if inode in table:
                out.append((pid, *table[inode]))
    return sorted(out)


def spawn_python(
    module: str, args: Sequence[str], *, log_file: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `python -m module args...` of this interpreter in the background, in its own session,
    output appended to `log_file`. (The deployer's own code, not an external binary, so it does
    not go through the Runner.)"""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
