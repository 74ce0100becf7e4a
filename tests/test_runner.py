"""The runner wrapper with real binaries (git, sh): typed errors, captured stderr, redaction."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from opendesk_deployer import logs, redaction
from opendesk_deployer.runner import CommandFailedError, Runner, ToolMissingError


def test_runs_real_git_and_returns_output() -> None:
    result = Runner().run("git", ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("git version ")


def test_failure_is_typed_with_exit_code_and_stderr(tmp_path: Path) -> None:
    with pytest.raises(CommandFailedError) as exc:
        Runner().run("git", ["-C", str(tmp_path), "log"])
    err = exc.value
    assert err.tool == "git"
    assert err.exit_code == 128
    assert "not a git repository" in err.stderr
    assert str(err).startswith("git exited 128: git -C ")


def test_secret_in_argv_and_stderr_is_redacted_in_error_and_log(tmp_path: Path) -> None:
    canary = "canary-7f3a9c1e-secret"
    redaction.register(canary)
    stream = io.StringIO()
    logs.configure("DEBUG", stream=stream)
    with pytest.raises(CommandFailedError) as exc:
        # git echoes the bad revision (our canary) on stderr
        Runner().run("git", ["-C", str(tmp_path), "rev-parse", canary], cwd=tmp_path)
    text = str(exc.value) + repr(exc.value.argv)
    assert canary not in text
    assert "<redacted>" in text
    logged = stream.getvalue()
    assert logged, "the runner logs every command"
    assert canary not in logged
    assert any(json.loads(line).get("tool") == "git" for line in logged.splitlines())


def test_timeout_is_a_typed_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sleeper = tmp_path / "sleeper"
    sleeper.write_text("#!/bin/sh\nsleep 5\n")
    sleeper.chmod(0o755)
    monkeypatch.setenv("OPENDESK_BIN_HELM", str(sleeper))
    with pytest.raises(CommandFailedError) as exc:
        Runner().run("helm", [], timeout=0.2)
    assert exc.value.exit_code is None
    assert "timed out" in str(exc.value)


def test_missing_tool_is_typed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENDESK_CACHE", str(tmp_path))
    with pytest.raises(
        ToolMissingError, match=r"helm v3\.\d+\.\d+ is not built .* tools/install helm"
    ):
        Runner().run("helm", ["version"])
