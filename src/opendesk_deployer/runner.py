"""The one way the deployer runs an external binary (helm, helmfile, git, kubectl, ...).

Modelled on helmfile's pkg/helmexec: a narrow interface, the command logged with secrets
redacted, stderr captured, and a typed error carrying the command, exit code and stderr tail.
Tests replace the `Runner` (or, better, run the real binary), never `subprocess` itself.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from opendesk_deployer import logs, redaction, toolchain

log = logs.get("runner")

STDERR_TAIL = 4000


class CommandError(Exception):
    """Base of every failure to run an external binary."""


class ToolMissingError(CommandError):
    """The binary is not installed or outside its supported version range."""


@dataclass
class CommandFailedError(CommandError):
    """The binary ran and exited non-zero (or timed out: exit_code is None)."""

    tool: str
    argv: list[str]  # redacted
    exit_code: int | None
    stderr: str  # redacted tail

    def __str__(self) -> str:
        what = "timed out" if self.exit_code is None else f"exited {self.exit_code}"
        cmd = " ".join(self.argv)
        tail = self.stderr.strip()
        return f"{self.tool} {what}: {cmd}" + (f"\n{tail}" if tail else "")


@dataclass
class Completed:
    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str
    seconds: float


def _redacted(argv: Sequence[str]) -> list[str]:
    return [redaction.redact(a) for a in argv]


@dataclass
class Runner:
    """Runs tools found by `toolchain.find`. `env` is added to every command's environment."""

    env: Mapping[str, str] = field(default_factory=dict)

    def resolve(self, tool: str) -> Path:
        try:
            return toolchain.find(tool)
        except toolchain.ToolchainError as exc:
            raise ToolMissingError(str(exc)) from None

    def run(
        self,
        tool: str,
        args: Sequence[str],
        *,
        cwd: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        timeout: float | None = None,
        check: bool = True,
    ) -> Completed:
        """Run `tool args...` to completion; raise CommandFailedError on a non-zero exit
        when `check` is set. Output is text; stderr is kept whole in the result."""
        binary = self.resolve(tool)
        argv = [str(binary), *args]
        shown = _redacted([tool, *args])
        full_env = {**os.environ, **self.env, **(env or {})}
        started = time.monotonic()
        log.debug("exec", tool=tool, argv=shown, cwd=str(cwd) if cwd else None)
        try:
            proc = subprocess.run(
                argv,
                cwd=cwd,
                env=full_env,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
            raise CommandFailedError(
                tool, shown, None, redaction.redact(err[-STDERR_TAIL:])
            ) from None
        seconds = time.monotonic() - started
        log.info("exec.done", tool=tool, argv=shown, exit_code=proc.returncode, seconds=seconds)
        if check and proc.returncode != 0:
            raise CommandFailedError(
                tool, shown, proc.returncode, redaction.redact(proc.stderr[-STDERR_TAIL:])
            )
        return Completed(argv, proc.returncode, proc.stdout, proc.stderr, seconds)

    def start(
        self,
        tool: str,
        args: Sequence[str],
        *,
        log_file: Path,
        cwd: Path | str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a long-running `tool` in the background, output appended to `log_file`, in
        its own session so that stopping it never signals the deployer."""
        binary = self.resolve(tool)
        full_env = {**os.environ, **self.env, **(env or {})}
        log.info("exec.start", tool=tool, argv=_redacted([tool, *args]), log=str(log_file))
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as out:
            return subprocess.Popen(
                [str(binary), *args],
                cwd=cwd,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
