"""The master password source on embedded defaults: generated once, 0600, stable, overridable,
never printed."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from conftest import EXAMPLES
from opendesk_deployer import logs, redaction
from opendesk_deployer.config import load_instance, master_password


@pytest.fixture
def instance():  # type: ignore[no-untyped-def]
    return load_instance(EXAMPLES / "demo-instance.yaml").instance


def test_generated_once_kept_0600_and_stable(instance) -> None:  # type: ignore[no-untyped-def]
    first = master_password.resolve(instance).get_secret_value()
    second = master_password.resolve(instance).get_secret_value()
    assert first == second and len(first) >= 32
    f = Path(os.environ["OPENDESK_STATE_DIR"]) / "instances" / "demo" / "demo-1" / "master-password"
    assert f.read_text().strip() == first
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert stat.S_IMODE(f.parent.stat().st_mode) & 0o077 == 0


def test_environment_overrides_and_is_redacted(instance, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPENDESK_MASTER_PASSWORD", "canary-override-51f2e8")
    assert master_password.resolve(instance).get_secret_value() == "canary-override-51f2e8"
    assert redaction.redact("pw=canary-override-51f2e8") == "pw=<redacted>"
    stream = io.StringIO()
    logs.configure("DEBUG", stream=stream)
    logs.get("test").info("derived", value="canary-override-51f2e8")
    assert "canary-override-51f2e8" not in stream.getvalue() and "<redacted>" in stream.getvalue()
    assert "canary-override-51f2e8" not in repr(master_password.resolve(instance))


def test_world_readable_file_is_refused(instance) -> None:  # type: ignore[no-untyped-def]
    master_password.resolve(instance)
    f = Path(os.environ["OPENDESK_STATE_DIR"]) / "instances" / "demo" / "demo-1" / "master-password"
    f.chmod(0o644)
    with pytest.raises(master_password.MasterPasswordError, match="readable by others"):
        master_password.resolve(instance)


def test_secrets_manager_source_needs_the_provider(instance) -> None:  # type: ignore[no-untyped-def]
    from opendesk_deployer.config.model import SecretRef, SecretsManager

    sm = SecretsManager(
        instance_id="sm-1", api_url="https://sm.invalid", read_only_username="ro",
        username=SecretRef(env="SM_USER"), password=SecretRef(env="SM_PASSWORD"),
    )  # fmt: skip
    with pytest.raises(master_password.MasterPasswordError, match="set OPENDESK_MASTER_PASSWORD"):
        master_password.resolve(instance.model_copy(update={"secrets_manager": sm}))
