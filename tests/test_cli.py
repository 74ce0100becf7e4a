"""The CLI as a user meets it: real subprocesses of the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import EXAMPLES, REPO

CLI = [str(Path(sys.executable).parent / "opendesk-deployer")]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, cwd=REPO)


def test_config_schema_is_json() -> None:
    result = run("config", "schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["title"] == "Instance"


def test_config_validate_ok_piped_output_not_wrapped() -> None:
    result = run("config", "validate", str(EXAMPLES / "demo-instance.yaml"))
    assert result.returncode == 0, result.stderr
    # piped: each message on one line, the full path unbroken
    assert f"{EXAMPLES / 'demo-instance.yaml'}: valid" in result.stdout.splitlines()[0]


def test_config_validate_error_is_one_clear_message_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (EXAMPLES / "demo-instance.yaml").read_text().replace("kind: Instance", "kind: Instanz")
    )
    result = run("config", "validate", str(bad))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"error: {bad}:" in result.stderr
    assert "kind: Input should be 'Instance'" in result.stderr


def test_usage_error_has_no_traceback() -> None:
    result = run("config", "validate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "Missing argument" in result.stderr
